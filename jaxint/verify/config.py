"""Settings of the verifier, as a frozen dataclass for the YAML config tree.

Field names match the keyword arguments of ``score_batch``, so a stage can call
``score_batch(pairs, **cfg.batch_kwargs())``. Types stay within what OmegaConf structured
configs accept (int, float, str, bool).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from jaxint.verify import batch, scoring


@dataclasses.dataclass(frozen=True)
class VerifyConfig:
    """How answers are graded.

    Attributes:
        timeout_s: per-answer limit on the math-verify stage, in seconds (the paper's 10 s;
            a timeout counts as wrong).
        num_workers: verification worker processes; 0 picks min(usable CPUs, 16).
        chunk_size: answers in flight per worker.
        max_completion_chars: completions longer than this get "too_long" unread.
        max_answer_chars: box contents longer than this get "too_long".
    """

    timeout_s: float = scoring.DEFAULT_TIMEOUT_S
    num_workers: int = 0
    chunk_size: int = batch.DEFAULT_CHUNK_SIZE
    max_completion_chars: int = scoring.DEFAULT_MAX_COMPLETION_CHARS
    max_answer_chars: int = scoring.DEFAULT_MAX_ANSWER_CHARS

    def __post_init__(self) -> None:
        timeout = self.timeout_s
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not (timeout > 0 and math.isfinite(timeout))
        ):
            raise ValueError(f"VerifyConfig.timeout_s must be a positive number, got {timeout!r}")
        minimums = {
            "num_workers": 0,
            "chunk_size": 1,
            "max_completion_chars": 1,
            "max_answer_chars": 1,
        }
        for name, least in minimums.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"VerifyConfig.{name} must be an int >= {least}, got {value!r}")

    def batch_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``score_batch``."""
        return dataclasses.asdict(self)

    def score_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``score``."""
        return {
            "timeout_s": self.timeout_s,
            "max_completion_chars": self.max_completion_chars,
            "max_answer_chars": self.max_answer_chars,
        }
