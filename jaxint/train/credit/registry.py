"""`rl.credit` by name: the method that turns a step's scored rollouts into advantages, and
the check, before any step, that the training problems carry what it needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jaxint import configlib
from jaxint.data import records
from jaxint.train import config as train_config
from jaxint.train.credit import capo, grpo_lambda, oppo, outcome, types, vineppo

Assign = Callable[[types.Scored, types.Passes, train_config.GRPOConfig], types.Credit]
METHODS: dict[str, Assign] = {
    "outcome": outcome.assign,
    "vineppo": vineppo.assign,
    "grpo_lambda": grpo_lambda.assign,
    "oppo": oppo.assign,
    "capo": capo.assign,
}


# Methods whose advantages are one per token ([B, T-1] in the update), not one per sequence.
PER_TOKEN = ("vineppo", "oppo", "capo")


def assign(cfg: train_config.GRPOConfig, scored: types.Scored,
           passes: types.Passes) -> types.Credit:
    """The advantages of `cfg.credit` for this step's rollouts."""
    return METHODS[cfg.credit](scored, passes, cfg)


def check_problems(cfg: train_config.GRPOConfig, problems: Sequence[records.Problem]) -> None:
    """Raises a one-line ConfigError naming rl.credit when a problem lacks what the method
    reads: a reference solution (oppo's oracle context) or a step checker (capo's critic).
    The pipeline calls it before its first stage, the trainer before its first step."""
    if cfg.credit == "capo":
        try:
            capo.require_checker(problems)
        except ValueError as err:
            raise configlib.ConfigError(str(err)) from None
    if cfg.credit == "oppo":
        missing = [p.id for p in problems if not p.solution]
        if missing:
            raise configlib.ConfigError(
                f"rl.credit=oppo needs reference solutions (the oracle context); "
                f"{len(missing)} training problems have none, e.g. {missing[0]!r}")


def needs_frozen(cfg: train_config.GRPOConfig) -> bool:
    """Whether the method scores with a frozen copy of the initial parameters."""
    return cfg.credit == "oppo" and cfg.oppo.scorer == "frozen"
