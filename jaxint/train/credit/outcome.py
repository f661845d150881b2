"""Outcome credit (GRPO, the default): every token of a response gets its group advantage,
reward - group mean (`grpo.advantages`, with rl.std_normalize / rl.batch_normalize)."""

from __future__ import annotations

from jaxint.train import config as train_config
from jaxint.train.credit import types


def assign(scored: types.Scored, passes: types.Passes,
           cfg: train_config.GRPOConfig) -> types.Credit:
    """The group advantages themselves, one per sequence; no extra pass."""
    del passes, cfg
    return types.Credit(scored.outcome)
