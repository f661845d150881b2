"""Settings of the stages that have no package of their own (generate, verify)."""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
    """Rollouts of the policy on the problem pool, to collect failed attempts (paper: 4
    samples per problem, T=0.7, top-p 0.8, top-k 20, 16K new tokens)."""

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

    def __post_init__(self) -> None:
        for name in ("samples_per_problem", "max_new_tokens", "max_batch_slots", "chunk_steps",
                     "shard_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"generate.{name} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"generate.limit must be >= 1, got {self.limit}")
