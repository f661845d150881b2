"""The problem record every stage of the pipeline passes around.

One small, immutable record type keeps the stages (generate, verify, intervene, SFT, RL, eval)
independent of where a problem came from: loaders map any source's field names onto it once,
and everything downstream reads the same five fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Problem:
    """A math problem with its gold answer and, where the source has one, a reference solution.

    Attributes:
        id: Stable identifier, unique within a data set. Run directories key rollouts,
            interventions and scores by it, so it must not change between runs.
        problem: The problem text, verbatim; it becomes the single user message of the prompt.
        answer: The short gold answer as a string (numbers from numeric sources are converted),
            compared by the verifier with the last ``\\boxed{}`` of a completion.
        solution: The reference solution the intervener reads, or ``None`` where the source
            has none (evaluation-only sets such as AIME 2025).
        source: The data set name, kept for per-source metrics.
        meta: Free-form extra fields (subject, level, url, synthetic operations, ...). Loaders
            put every unmapped source field here so that nothing in the input is lost.
    """

    id: str
    problem: str
    answer: str
    solution: str | None
    source: str
    # Left out of the hash (a dict is unhashable) but compared, so records stay usable as keys.
    meta: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict with the record's field names (the bundled JSONL layout)."""
        return {
            "id": self.id,
            "problem": self.problem,
            "answer": self.answer,
            "solution": self.solution,
            "source": self.source,
            "meta": dict(self.meta),
        }
