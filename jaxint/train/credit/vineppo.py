"""VinePPO (Kazemnejad et al., arXiv 2410.01679): Monte Carlo values of step boundaries
instead of a value network, from continuations sampled by the policy itself.

For a rollout of steps 0..S-1 with reward R: V(s_0) is the value of the prompt, V(s_i) of
the state after step i-1, V(s_S) = 0 (terminal). Each estimated value is the mean reward of k
continuations sampled from that state. Step rewards are 0 except the last (R), and

    A_i = r_i + V(s_{i+1}) - V(s_i)         (γ = λ = 1)

so a middle step's advantage is "value after - value before" and the last step's is
R - V(s_{S-1}). Every token of step i gets A_i. Following the public release
(McGill-NLP/VinePPO, `MathEpisodeGeneratorWithMCAdvantages`): only the boundaries after the
first `max_steps` steps are estimated, the values of later states are filled backwards with
the rollout's own return (V(s_i) = r_i + V(s_{i+1})), so the step after the last estimated
boundary carries R - V; identical states (the prompt, shared prefixes) are estimated once;
the prompt's value is sampled too (`root_value: sample`) or, here as an option, is the mean
reward of the group's own rollouts (`group_mean`). Continuations of one state share one
prefill (the engine forks it) and each gets the budget the rollout had left.

Steps are the intervene splitter's (blank lines), the paper's "reasoning steps" for MATH.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxint.train import config as train_config
from jaxint.train.credit import spans, types


def step_advantages(values: Sequence[float | None], reward: float) -> list[float]:
    """Per-step advantages from the state values.

    Args:
        values: V(s_0), ..., V(s_{S-1}) for a rollout of S steps; None where not estimated
            (such a state must come after every estimated one).
        reward: the rollout's reward R (the last step's reward).

    Returns:
        S advantages A_i = r_i + V(s_{i+1}) - V(s_i), with V(s_S) = 0.
    """
    S = len(values)
    step_rewards = [0.0] * (S - 1) + [float(reward)]
    v: list[float | None] = [*values, 0.0]
    for i in range(S - 1, -1, -1):
        if v[i] is not None:
            break
        v[i] = step_rewards[i] + v[i + 1]
    if any(x is None for x in v):
        raise ValueError(f"an unestimated state before an estimated one: {values}")
    return [step_rewards[i] + v[i + 1] - v[i] for i in range(S)]  # type: ignore[operator]


def token_advantages(step_adv: Sequence[float], starts: Sequence[int], n: int) -> np.ndarray:
    """[n] each token gets its step's advantage (`starts`: the steps' first tokens)."""
    return np.asarray(step_adv, np.float32)[spans.token_steps(n, starts)]


def assign(scored: types.Scored, passes: types.Passes,
           cfg: train_config.GRPOConfig) -> types.Credit:
    """Token advantages of every rollout from k continuations per boundary."""
    ro, vcfg = scored.rollouts, cfg.vineppo
    plans, keys, requests = [], {}, []  # per sample: (group, sample, starts, value keys)

    def state(g: int, prefix: np.ndarray) -> tuple[int, ...]:
        key = (g, *prefix.tolist())
        if key not in keys:
            keys[key] = len(requests)
            requests.append((g, prefix))
        return key

    empty = np.zeros(0, np.int32)
    for g, s in scored.flat_samples():
        starts = spans.token_starts(passes.decode, s.tokens, s.text or "")
        limit = len(starts) if vcfg.max_steps is None else min(len(starts), vcfg.max_steps + 1)
        root = state(g, empty) if vcfg.root_value == "sample" else None
        value_keys = [root] + [state(g, s.tokens[:k]) for k in starts[1:limit]]
        plans.append((g, s, starts, value_keys + [None] * (len(starts) - limit)))
    values = _estimate(requests, ro, passes, vcfg.k, cfg.sampling.max_new_tokens)
    group_mean = ro.rewards.mean(axis=1)
    out = []
    for (g, s, starts, value_keys), reward in zip(plans, ro.rewards.reshape(-1), strict=True):
        v = [None if key is None else values[keys[key]] for key in value_keys]
        if v[0] is None:
            v[0] = float(group_mean[g])
        out.append(token_advantages(step_advantages(v, float(reward)), starts, len(s.tokens)))
    return types.Credit(out, passes.extra_tokens, passes.extra_forward_tokens, {
        "vineppo_states": float(len(requests)),
        "vineppo_steps_mean": float(np.mean([len(p[2]) for p in plans])),
        "vineppo_value_mean": float(np.mean(values)) if values else 0.0})


def _estimate(requests: list[tuple[int, np.ndarray]], ro, passes: types.Passes, k: int,
              max_new_tokens: int) -> list[float]:
    """The mean reward of k continuations of each (group, prefix) state."""
    if not requests:
        return []
    prompts = [list(ro.prompts[g]) + prefix.tolist() for g, prefix in requests]
    budgets = [max(1, max_new_tokens - len(prefix)) for _, prefix in requests]
    samples = passes.continue_(prompts, budgets, k)
    pairs = [(passes.decode(np.concatenate([prefix, c.tokens]).tolist()),
              ro.problems[g].answer)
             for (g, prefix), conts in zip(requests, samples, strict=True) for c in conts]
    rewards = np.asarray(passes.rewards(pairs), np.float64).reshape(len(requests), k)
    return [float(x) for x in rewards.mean(axis=1)]
