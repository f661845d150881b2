"""Evaluation settings (frozen, validated); defaults from the InT paper (T=0.7, top-p 0.8,
top-k 20; the paper uses 128 samples per problem at 16K tokens)."""

from __future__ import annotations

import dataclasses
from typing import Optional

# The keys of jaxint.evaluation.suite.SUITES (a test checks it), named here so that a config
# is checked without importing the evaluation code (and JAX).
SUITE_NAMES = ("paper",)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """What to evaluate on and how.

    Attributes:
        dataset: a bundled name (imo-answerbench, math500, aime24, ...) or a file path.
        n: samples per problem; ks: the k of the pass@k columns (each <= n).
        limit: evaluate only the first `limit` problems (smoke runs).
        shard_size: problems per resumable shard.
        suite: a benchmark suite to run instead of `dataset` (`jaxint.evaluation.suite`;
            "paper": IMO-AnswerBench, HMMT Nov 2025, AMO-Bench and Apex Shortlist with the
            InT paper's metrics); `null`: only `dataset`.
    """

    dataset: str = "imo-answerbench"
    n: int = 128
    ks: tuple[int, ...] = (1, 8, 32, 128)
    max_new_tokens: int = 16384
    temperature: float = 0.7
    top_k: int = 20
    top_p: float = 0.8
    max_batch_slots: int = 256
    chunk_steps: int = 64
    limit: Optional[int] = None
    shard_size: int = 16
    seed: int = 0
    verify_timeout_s: float = 10.0
    suite: Optional[str] = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"eval.n must be >= 1, got {self.n}")
        bad = [k for k in self.ks if k < 1 or k > self.n]
        if bad:
            raise ValueError(f"eval.ks must lie in [1, eval.n={self.n}], got {list(self.ks)}")
        if self.shard_size < 1:
            raise ValueError(f"eval.shard_size must be >= 1, got {self.shard_size}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"eval.limit must be >= 1, got {self.limit}")
        for name in ("max_new_tokens", "max_batch_slots", "chunk_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"eval.{name} must be >= 1, got {getattr(self, name)}")
        if self.suite is not None and self.suite not in SUITE_NAMES:
            raise ValueError(f"eval.suite must be one of {list(SUITE_NAMES)} or null, "
                             f"got {self.suite!r}")
        if self.verify_timeout_s <= 0:
            raise ValueError(f"eval.verify_timeout_s must be > 0, got {self.verify_timeout_s}")
        # Checked here, at load, under eval's own keys (not as sampling.* after a model load).
        if not self.temperature >= 0:
            raise ValueError(f"eval.temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"eval.top_k must be >= 0 (0 = no limit), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"eval.top_p must be in (0, 1], got {self.top_p}")
