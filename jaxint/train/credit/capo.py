"""CAPO (Xie, Shi et al., arXiv 2508.02298): a generative verifier critiques every step of a
rollout in one pass; tokens of the steps it judges wrong are penalised on top of the outcome.

Per token t of a response with verified reward r_v, the paper's token reward is

    R_t = W_whole * r_v - W_process * 1[t lies in a step judged wrong]

with n critiques per response voted per step (majority, intersection or average), and
W_whole > W_process so that a correct answer always beats a wrong one (the paper's "reward
structure that balances both objectives"). Here the outcome term enters as the group
advantage (r_v - group mean, GRPO's baseline, rl.std_normalize applied), so a token's
advantage is

    A_t = outcome_weight * A_outcome - process_weight * wrong(step of t)

where wrong() is 1 (majority / intersection) or the share of critiques (average). Sources:
the abstract and a public third-party implementation that states the formula above; the
paper's exact weights were not readable (our defaults, 1 and 0.5, keep its principle).

Critics: on the demo task (problems of source "synthetic") the task's exact step checker
stands in for the verifier, as the oracle stands in for InT's intervener there: it marks the
attempt's first wrong step (the steps after it rest on a wrong value and are not judged), and
its n critiques agree, so it costs no tokens. Other data needs a model critic, which this
module does not have: `rl.credit=capo` refuses such problems with a one-line error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from jaxint.data import records, synthetic
from jaxint.train import config as train_config
from jaxint.train.credit import spans, types

# (problem, steps, n) -> n critiques, each the set of 0-based indices of steps judged wrong.
Critic = Callable[[records.Problem, Sequence[str], int], list[set[int]]]


def checker_critic(problem: records.Problem, steps: Sequence[str], n: int) -> list[set[int]]:
    """The synthetic task's exact checker as n identical critiques: the first wrong step."""
    check = synthetic.check_steps(problem, steps)
    first = check.first_error
    wrong = {first - 1} if first is not None and 1 <= first <= len(steps) else set()
    return [set(wrong) for _ in range(n)]


def require_checker(problems: Sequence[records.Problem]) -> None:
    """Raises the config error for problems the checker critic cannot judge."""
    for p in problems:
        if p.source != synthetic.SOURCE:
            raise ValueError(f"rl.credit=capo needs a step checker: rl.capo.critic=checker "
                             f"judges only {synthetic.SOURCE} problems, and {p.id!r} is "
                             f"{p.source!r}")


def vote(critiques: Sequence[set[int]], num_steps: int, how: str) -> np.ndarray:
    """[num_steps] how wrong each step is judged: 1/0 (majority: more than half of the
    critiques; intersection: all), or the share of critiques (average)."""
    counts = np.zeros(num_steps)
    for wrong in critiques:
        for i in wrong:
            if 0 <= i < num_steps:
                counts[i] += 1
    n = max(len(critiques), 1)
    if how == "majority":
        return (counts > n / 2).astype(np.float64)
    if how == "intersection":
        return (counts >= n).astype(np.float64)
    if how == "average":
        return counts / n
    raise ValueError(f"rl.capo.vote must be majority|intersection|average, got {how!r}")


def token_advantages(outcome: float, wrong: np.ndarray, starts: Sequence[int], n: int, *,
                     outcome_weight: float, process_weight: float) -> np.ndarray:
    """[n] outcome_weight * outcome - process_weight * wrong[step of the token]."""
    penalty = np.asarray(wrong, np.float64)[spans.token_steps(n, starts)]
    return (outcome_weight * outcome - process_weight * penalty).astype(np.float32)


def assign(scored: types.Scored, passes: types.Passes, cfg: train_config.GRPOConfig,
           critic: Critic = checker_critic) -> types.Credit:
    """Token advantages from n critiques of every rollout, voted per step."""
    ccfg, ro = cfg.capo, scored.rollouts
    if critic is checker_critic:
        require_checker(ro.problems)
    out, wrong_steps, steps_total = [], 0.0, 0
    for (g, s), adv in zip(scored.flat_samples(), scored.outcome.reshape(-1), strict=True):
        text = s.text or ""
        steps = spans.split(text)
        starts = spans.token_starts(passes.decode, s.tokens, text, steps)
        wrong = vote(critic(ro.problems[g], steps[:len(starts)], ccfg.critiques), len(starts),
                     ccfg.vote)
        wrong_steps += float(wrong.sum())
        steps_total += len(starts)
        out.append(token_advantages(float(adv), wrong, starts, len(s.tokens),
                                    outcome_weight=ccfg.outcome_weight,
                                    process_weight=ccfg.process_weight))
    return types.Credit(out, passes.extra_tokens, passes.extra_forward_tokens, {
        "capo_wrong_step_frac": wrong_steps / max(steps_total, 1)})
