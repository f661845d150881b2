"""The records that cross stage boundaries.

`Problem` keeps the stages (generate, verify, intervene, SFT, RL, eval) independent of where a
problem came from: loaders map any source's field names onto it once, and everything
downstream reads the same five fields. `Intervention` is what the intervene stage keeps for a
failed attempt, with its SFT target built once; filter and SFT read it back.

Records serialise to the JSONL keys run directories already hold (`to_json` / `from_json`), so
existing run directories read unchanged; keys a record does not know are kept, not dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# The layout `to_json` writes; `from_json` refuses rows of a later one (a newer jaxint's).
SCHEMA_VERSION = 1


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


@dataclasses.dataclass(frozen=True)
class Intervention:
    """An accepted intervention for one failed attempt, with its SFT target.

    Attributes:
        problem_id, sample_index: The attempt (a rollout of `verify`).
        proposal_index: Which of the intervener's proposals was kept.
        location: 1-based step of `steps` the intervention replaces.
        content: The intervention as proposed.
        steps: The attempt split into steps.
        prefix: The target's first loss segment: steps before `location` and the blank line
            after them ("" for location 1).
        intervention: The target's second segment, `content` formatted as steps.
        num_samples, num_correct: The filter's continuation counts (None before the filter).
        extra: Any other keys of the row, kept so a row reads back as it was written.
    """

    problem_id: str
    sample_index: int
    proposal_index: int
    location: int
    content: str
    steps: tuple[str, ...]
    prefix: str
    intervention: str
    num_samples: int | None = None
    num_correct: int | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    @property
    def target(self) -> str:
        """The SFT response: prefix + intervention (nothing after it, no end of turn)."""
        return self.prefix + self.intervention

    def to_json(self) -> dict[str, Any]:
        """The JSONL row (`intervene/interventions.jsonl`, `filter/kept.jsonl`)."""
        row = {
            "problem_id": self.problem_id, "sample_index": self.sample_index,
            "proposal_index": self.proposal_index, "location": self.location,
            "content": self.content, "num_steps": len(self.steps), "steps": list(self.steps),
            "prefix": self.prefix, "intervention": self.intervention, "target": self.target,
        }
        if self.num_samples is not None:
            row.update(num_samples=self.num_samples, num_correct=self.num_correct)
        return {**row, **{k: v for k, v in self.extra.items() if k not in row}}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Intervention:
        """The record of a row `to_json` wrote.

        Raises:
            ValueError: a key is missing, or the row is of a later schema.
        """
        if int(row.get("schema", SCHEMA_VERSION)) > SCHEMA_VERSION:
            raise ValueError(f"intervention row of schema {row['schema']} (this jaxint reads "
                             f"{SCHEMA_VERSION}): {_show(row)}")
        missing = [k for k in _INTERVENTION_KEYS if k not in row]
        if missing:
            raise ValueError(f"intervention row lacks {missing}: {_show(row)}")
        known = {*_INTERVENTION_KEYS, "proposal_index", "num_steps", "target", "num_samples",
                 "num_correct", "schema"}
        return cls(
            problem_id=str(row["problem_id"]), sample_index=int(row["sample_index"]),
            proposal_index=int(row.get("proposal_index", 0)), location=int(row["location"]),
            content=row["content"], steps=tuple(row["steps"]), prefix=row["prefix"],
            intervention=row["intervention"], num_samples=row.get("num_samples"),
            num_correct=row.get("num_correct"),
            extra={k: v for k, v in row.items() if k not in known},
        )


_INTERVENTION_KEYS = ("problem_id", "sample_index", "location", "content", "steps", "prefix",
                      "intervention")


def _show(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={row[k]!r}" for k in ("problem_id", "sample_index") if k in row)
