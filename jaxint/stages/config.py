"""Settings of the stages that have no package of their own (generate, verify)."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
    """Rollouts of the policy on the problem pool, to collect failed attempts (paper: 4
    samples per problem, T=0.7, top-p 0.8, top-k 20, 16K new tokens).

    `max_prompt_tokens` bounds the chat-templated problem: a longer one is skipped with its
    reason in generate/rejects.jsonl and the summary, never sent to prefill (a 20K-token
    problem exhausts device memory there). Sampling fields are validated here, at load,
    under their own keys (not later as `sampling.*`, after the model has loaded).
    """

    samples_per_problem: int = 4
    max_new_tokens: int = 16384
    temperature: float = 0.7
    top_k: int = 20
    top_p: float = 0.8
    max_batch_slots: int = 256
    chunk_steps: int = 64
    shard_size: int = 64  # problems per resumable shard
    limit: Optional[int] = None
    seed: int = 0
    max_prompt_tokens: int = 8192

    def __post_init__(self) -> None:
        for name in ("samples_per_problem", "max_new_tokens", "max_batch_slots", "chunk_steps",
                     "shard_size", "max_prompt_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"generate.{name} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"generate.limit must be >= 1, got {self.limit}")
        check_sampling("generate", self.temperature, self.top_k, self.top_p)


def check_sampling(section: str, temperature: float, top_k: int, top_p: float) -> None:
    """The sampling fields every stage config carries, checked under the stage's own keys."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)
            and temperature >= 0):
        raise ValueError(f"{section}.temperature must be a finite number >= 0 (0 = greedy), "
                         f"got {temperature!r}")
    if top_k < 0:
        raise ValueError(f"{section}.top_k must be >= 0 (0 = no limit), got {top_k!r}")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"{section}.top_p must be in (0, 1], got {top_p!r}")
