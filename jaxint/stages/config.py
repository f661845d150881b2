"""Settings of the stages that have no package of their own (select, generate)."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional


@dataclasses.dataclass(frozen=True)
class PoolSampling:
    """Sampling and sharding of the stages that roll the policy out on the problem pool
    (select, generate); the defaults are the paper's (T=0.7, top-p 0.8, top-k 20, 16K new
    tokens).

    `max_prompt_tokens` bounds the chat-templated problem: a longer one is never sent to
    prefill (a 20K-token problem exhausts device memory there). Sampling fields are validated
    at load, under the stage's own keys (not later as `sampling.*`, after the model loaded).
    """

    max_new_tokens: int = 16384
    temperature: float = 0.7
    top_k: int = 20
    top_p: float = 0.8
    shard_size: int = 64  # problems per resumable shard
    limit: Optional[int] = None
    seed: int = 0
    max_prompt_tokens: int = 8192

    def check(self, section: str, counts: tuple[str, ...]) -> None:
        """Raises ValueError naming `section.field` for a count below 1 or a bad setting."""
        for name in ("max_new_tokens", "shard_size", "max_prompt_tokens", *counts):
            if getattr(self, name) < 1:
                raise ValueError(f"{section}.{name} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"{section}.limit must be >= 1, got {self.limit}")
        check_sampling(section, self.temperature, self.top_k, self.top_p)


@dataclasses.dataclass(frozen=True)
class GenerateConfig(PoolSampling):
    """Rollouts of the policy on the problem pool, to collect failed attempts (paper: 4
    samples per problem). A problem over `max_prompt_tokens` is skipped with its reason in
    generate/rejects.jsonl and the summary."""

    samples_per_problem: int = 4
    max_batch_slots: int = 256
    chunk_steps: int = 64

    def __post_init__(self) -> None:
        self.check("generate", ("samples_per_problem", "max_batch_slots", "chunk_steps"))


@dataclasses.dataclass(frozen=True)
class SelectConfig(PoolSampling):
    """Hard-problem selection (PAPER.md step 1): `samples` attempts per problem, keep those
    with at most `max_correct` correct (paper: 0 of 64). Runs only when `select` is listed in
    `stages`; `generate` (and RL) then read the kept pool. Engine sizing (slots, chunk) is
    generate's. A problem over `max_prompt_tokens` is not sampled and not kept.
    """

    samples: int = 64
    max_correct: int = 0

    def __post_init__(self) -> None:
        self.check("select", ("samples",))
        if not 0 <= self.max_correct <= self.samples:
            raise ValueError(f"select.max_correct must be in 0..select.samples ({self.samples}), "
                             f"got {self.max_correct}")


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
