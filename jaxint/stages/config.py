"""Settings of the stages that have no package of their own (select, generate)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from jaxint.sampling import config as sampling_config


@dataclasses.dataclass(frozen=True)
class PoolSampling:
    """What the stages that roll the policy out on the problem pool (select, generate) share:
    how they sample (`sampling:`, the paper's T=0.7, top-p 0.8, top-k 20, 16K new tokens on a
    256-slot engine) and shard.

    `max_prompt_tokens` bounds the chat-templated problem: a longer one is never sent to
    prefill (a 20K-token problem exhausts device memory there). The stage passes it to its
    engine, with its sample count, so neither is set under `sampling:`.
    """

    shard_size: int = 64  # problems per resumable shard
    limit: Optional[int] = None
    seed: int = 0
    max_prompt_tokens: int = 8192
    sampling: sampling_config.SamplingConfig = dataclasses.field(
        default_factory=sampling_config.paper)

    def check(self, section: str, counts: tuple[str, ...], count_key: str) -> None:
        """Raises ValueError naming `section.field` for a count below 1 or a bad setting."""
        for name in ("shard_size", "max_prompt_tokens", *counts):
            if getattr(self, name) < 1:
                raise ValueError(f"{section}.{name} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"{section}.limit must be >= 1, got {self.limit}")
        sampling_config.check_stage_section(
            section, self.sampling, {"n": count_key, "max_prompt_tokens": "max_prompt_tokens"})


@dataclasses.dataclass(frozen=True)
class GenerateConfig(PoolSampling):
    """Rollouts of the policy on the problem pool, to collect failed attempts (paper: 4
    samples per problem). A problem over `max_prompt_tokens` is skipped with its reason in
    generate/rejects.jsonl and the summary."""

    samples_per_problem: int = 4

    def __post_init__(self) -> None:
        self.check("generate", ("samples_per_problem",), "samples_per_problem")


@dataclasses.dataclass(frozen=True)
class SelectConfig(PoolSampling):
    """Hard-problem selection (PAPER.md step 1): `samples` attempts per problem, keep those
    with at most `max_correct` correct (paper: 0 of 64). Runs only when `select` is listed in
    `stages`; `generate` (and RL) then read the kept pool. A problem over `max_prompt_tokens`
    is not sampled and not kept.
    """

    samples: int = 64
    max_correct: int = 0

    def __post_init__(self) -> None:
        self.check("select", ("samples",), "samples")
        if not 0 <= self.max_correct <= self.samples:
            raise ValueError(f"select.max_correct must be in 0..select.samples ({self.samples}), "
                             f"got {self.max_correct}")
