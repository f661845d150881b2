"""Settings of the credit-assignment methods (`rl.credit` and `rl.<method>:`), frozen and
validated with one-line errors that name the key. Free of JAX (configs load without it)."""

from __future__ import annotations

import dataclasses
from typing import Optional

METHODS = ("outcome", "vineppo", "grpo_lambda", "oppo", "capo")
TRACES = ("recent", "both")
SCORERS = ("policy", "frozen")
VOTES = ("majority", "intersection", "average")
CRITICS = ("checker",)
ROOT_VALUES = ("sample", "group_mean")


def _check(section: str, ok: bool, name: str, value: object, rule: str) -> None:
    if not ok:
        raise ValueError(f"rl.{section}.{name} must be {rule}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class VinePPOConfig:
    """VinePPO (arXiv 2410.01679): Monte Carlo values of step boundaries.

    Defaults are the public release's MATH configs (McGill-NLP/VinePPO: `num_mc_rollouts = 9`,
    `max_step_for_value_estimation: 20`).

    Attributes:
        k: continuations sampled from each boundary (Monte Carlo rollouts per state).
        max_steps: boundaries estimated per rollout, after its first steps (the release's
            `max_step_for_value_estimation`); later steps take the rollout's own return as
            their value, so only the step after the last estimated boundary carries its
            advantage. None: every boundary.
        root_value: the value of the prompt itself: "sample" (k continuations of the bare
            prompt, one request per problem, as the release does) or "group_mean" (the mean
            reward of the group's G rollouts, which are samples from the same state).
    """

    k: int = 9
    max_steps: Optional[int] = 20
    root_value: str = "sample"

    def __post_init__(self) -> None:
        _check("vineppo", self.k >= 1, "k", self.k, ">= 1")
        _check("vineppo", self.max_steps is None or self.max_steps >= 1, "max_steps",
               self.max_steps, ">= 1 or null")
        _check("vineppo", self.root_value in ROOT_VALUES, "root_value", self.root_value,
               "|".join(ROOT_VALUES))


@dataclasses.dataclass(frozen=True)
class GRPOLambdaConfig:
    """GRPO-λ (arXiv 2510.00194): the importance ratio of a token carries a decayed trace of
    the earlier tokens' log-ratios (see `credit.grpo_lambda`).

    Attributes:
        lam, gamma: the trace decays by gamma * lam per token.
        trace: "recent" ((γλ)^(t-j): the classic trace) or "both" (max((γλ)^(t-j),
            (γλ)^j): the start of the response keeps weight too).
        epsilon: weights never fall below it (0 disables).
        advantage_min: negative advantages are clamped to it (the paper clamps at -0.1:
            large negative advantages on accumulated ratios destabilise training); None
            keeps them.
    """

    lam: float = 0.99
    gamma: float = 1.0
    trace: str = "recent"
    epsilon: float = 0.0
    advantage_min: Optional[float] = -0.1

    def __post_init__(self) -> None:
        _check("grpo_lambda", 0.0 <= self.lam <= 1.0, "lam", self.lam, "in [0, 1]")
        _check("grpo_lambda", 0.0 < self.gamma <= 1.0, "gamma", self.gamma, "in (0, 1]")
        _check("grpo_lambda", self.trace in TRACES, "trace", self.trace, "|".join(TRACES))
        _check("grpo_lambda", 0.0 <= self.epsilon <= 1.0, "epsilon", self.epsilon, "in [0, 1]")
        _check("grpo_lambda", self.advantage_min is None or self.advantage_min <= 0.0,
               "advantage_min", self.advantage_min, "<= 0 or null")

    @property
    def decay(self) -> float:
        return self.gamma * self.lam


@dataclasses.dataclass(frozen=True)
class OPPOConfig:
    """OPPO (arXiv 2605.21851): a running success probability updated token by token with
    the likelihood ratio of an oracle context (problem + reference solution).

    Attributes:
        scorer: which model scores both contexts: "policy" (the current parameters: the
            paper's self-oracle; the plain context's log-probs are the old log-probs the loop
            computes anyway) or "frozen" (a copy of the initial parameters: the
            teacher-oracle, here the policy's starting point).
        prior_pseudocount: the prior success probability is the group's pass rate,
            (correct + a) / (G + 2a); a > 0 keeps all-wrong groups off exactly 0.
    """

    scorer: str = "policy"
    prior_pseudocount: float = 0.0

    def __post_init__(self) -> None:
        _check("oppo", self.scorer in SCORERS, "scorer", self.scorer, "|".join(SCORERS))
        _check("oppo", self.prior_pseudocount >= 0, "prior_pseudocount",
               self.prior_pseudocount, ">= 0")


@dataclasses.dataclass(frozen=True)
class CAPOConfig:
    """CAPO (arXiv 2508.02298): critiques mark wrong steps, whose tokens are penalised.

    Attributes:
        critic: "checker": the task's exact step checker (synthetic problems only; the
            demo model cannot write critiques, as the oracle stands in for InT's
            intervener there).
        critiques: critiques per rollout (the paper's n, voted per step).
        vote: "majority" (a step is wrong when more than half the critiques say so),
            "intersection" (all of them), "average" (the penalty scales with the share).
        outcome_weight: the weight of the outcome advantage (every token).
        process_weight: the penalty on each token of a step judged wrong.
    """

    critic: str = "checker"
    critiques: int = 4
    vote: str = "majority"
    outcome_weight: float = 1.0
    process_weight: float = 0.5

    def __post_init__(self) -> None:
        _check("capo", self.critic in CRITICS, "critic", self.critic, "|".join(CRITICS))
        _check("capo", self.critiques >= 1, "critiques", self.critiques, ">= 1")
        _check("capo", self.vote in VOTES, "vote", self.vote, "|".join(VOTES))
        _check("capo", self.outcome_weight >= 0, "outcome_weight", self.outcome_weight, ">= 0")
        _check("capo", self.process_weight >= 0, "process_weight", self.process_weight, ">= 0")
