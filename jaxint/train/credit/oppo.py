"""OPPO (Li, Miao, Lan, Qi, arXiv 2605.21851): a running probability of success, updated at
every token by Bayes' rule with an oracle-conditioned likelihood ratio; its change is the
token's advantage.

Conditioning the policy on an oracle context o (the problem with its reference solution)
stands in for conditioning on eventual success S, so for a response y and V_t = P(S | x,
y_<=t):

    V_t = V_{t-1} * pi(y_t | o, y_<t) / pi(y_t | x, y_<t)      (Bayes, capped at 1)
    A_t = V_t - V_{t-1} = V_{t-1} (r_t - 1) ~ V_{t-1} log r_t

(the abstract's factorisation: the per-token discrimination signal log r_t of on-policy
distillation, modulated by a state weight). Both log-prob vectors come from one extra
teacher-forced pass: the plain context's are the update's old log-probs when the policy
scores (the self-oracle), or a second pass of the frozen initial model (the teacher-oracle).

Where the paper's text was not readable (only its abstract was), we chose: the prior V_{-1}
is the group's pass rate (the GRPO baseline, optionally smoothed by `prior_pseudocount`);
V is capped at 1 after every token (an approximate oracle can push it past 1); and the last
token's advantage is R - V_{T-2}, the verified reward replacing the belief, so a response's
token advantages sum to R - V_{-1}: GRPO's advantage, redistributed over its tokens.
"""

from __future__ import annotations

import numpy as np

from jaxint.train import config as train_config
from jaxint.train.credit import types

ORACLE_CONTEXT = "{problem}\n\nA correct solution, for reference:\n\n{solution}"


def oracle_message(problem: str, solution: str) -> str:
    """The oracle context's user message: the problem, then its reference solution."""
    return ORACLE_CONTEXT.format(problem=problem, solution=solution)


def log_beliefs(log_ratio: np.ndarray, prior: float) -> np.ndarray:
    """[T] log V_t of x_t = min(0, x_{t-1} + l_t), x_{-1} = log prior, in closed form:
    x_t = S_t - max(-log prior, max_{s <= t} S_s) with S the running sum of l."""
    s = np.cumsum(np.asarray(log_ratio, np.float64))
    with np.errstate(divide="ignore"):
        floor = -np.log(prior)
    return s - np.maximum(floor, np.maximum.accumulate(s))


def token_advantages(plain: np.ndarray, oracle: np.ndarray, prior: float,
                     reward: float) -> np.ndarray:
    """[T] A_t = V_t - V_{t-1}, the last one R - V_{T-2}.

    Args:
        plain, oracle: [T] log-probs of the response's tokens after the plain prompt and
            after the oracle context.
        prior: V_{-1}, the success probability before the first token.
        reward: the verified reward R.
    """
    v = np.exp(log_beliefs(np.asarray(oracle) - np.asarray(plain), prior))
    before = np.concatenate([[prior], v[:-1]])
    adv = v - before
    adv[-1] = reward - before[-1]
    return adv.astype(np.float32)


def priors(rewards: np.ndarray, pseudocount: float) -> np.ndarray:
    """[groups] (correct + a) / (G + 2a)."""
    G = rewards.shape[1]
    return (rewards.sum(axis=1) + pseudocount) / (G + 2 * pseudocount)


def assign(scored: types.Scored, passes: types.Passes,
           cfg: train_config.GRPOConfig) -> types.Credit:
    """Token advantages from one teacher-forced pass under the oracle context."""
    ro, ocfg = scored.rollouts, cfg.oppo
    missing = [p.id for p in ro.problems if not p.solution]
    if missing:
        raise ValueError(f"rl.credit=oppo needs reference solutions; problem {missing[0]!r} "
                         f"has none")
    oracle_prompts = [passes.render(oracle_message(p.problem, p.solution)) for p in ro.problems]
    flat = scored.flat_samples()
    completions = [s.tokens for _, s in flat]
    oracle = passes.logprobs([oracle_prompts[g] for g, _ in flat], completions, ocfg.scorer)
    plain = scored.logprobs if ocfg.scorer == "policy" else passes.logprobs(
        [ro.prompts[g] for g, _ in flat], completions, ocfg.scorer)
    prior = priors(ro.rewards, ocfg.prior_pseudocount)
    out = [token_advantages(p, o, float(prior[g]), float(r))
           for (g, _), p, o, r in zip(flat, plain, oracle, ro.rewards.reshape(-1), strict=True)]
    log_ratio = np.concatenate([o - p for o, p in zip(oracle, plain, strict=True)])
    return types.Credit(out, passes.extra_tokens, passes.extra_forward_tokens, {
        "oppo_log_ratio_mean": float(log_ratio.mean()),
        "oppo_prior_mean": float(prior.mean())})
