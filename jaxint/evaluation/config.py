"""Evaluation settings (frozen, validated); defaults from the InT paper (T=0.7, top-p 0.8,
top-k 20; the paper uses 128 samples per problem at 16K tokens)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from jaxint.sampling import config as sampling_config

# The keys of jaxint.evaluation.suite.SUITES (a test checks it), named here so that a config
# is checked without importing the evaluation code (and JAX).
SUITE_NAMES = ("paper",)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """What to evaluate on and how.

    Attributes:
        dataset: a bundled name (imo-answerbench, math500, aime24, ...) or a file path.
        n: samples per problem; ks: the k of the pass@k columns (each <= n).
        sampling: how the samples are drawn (the paper's T 0.7, top-p 0.8, top-k 20 at 16K
            tokens) and the engine's sizing.
        limit: evaluate only the first `limit` problems (smoke runs).
        shard_size: problems per resumable shard.
        suite: a benchmark suite to run instead of `dataset` (`jaxint.evaluation.suite`;
            "paper": IMO-AnswerBench, HMMT Nov 2025, AMO-Bench and Apex Shortlist with the
            InT paper's metrics); `null`: only `dataset`.
    """

    dataset: str = "imo-answerbench"
    n: int = 128
    ks: tuple[int, ...] = (1, 8, 32, 128)
    sampling: sampling_config.SamplingConfig = dataclasses.field(
        default_factory=sampling_config.paper)
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
        if self.suite is not None and self.suite not in SUITE_NAMES:
            raise ValueError(f"eval.suite must be one of {list(SUITE_NAMES)} or null, "
                             f"got {self.suite!r}")
        if self.verify_timeout_s <= 0:
            raise ValueError(f"eval.verify_timeout_s must be > 0, got {self.verify_timeout_s}")
        sampling_config.check_stage_section("eval", self.sampling, {"n": "n"})
