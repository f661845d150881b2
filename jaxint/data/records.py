"""The records that cross stage boundaries.

`Problem` keeps the stages (generate, verify, intervene, SFT, RL, eval) independent of where a
problem came from: loaders map any source's field names onto it once, and everything
downstream reads the same five fields. The walk of one failed rollout:

    generate  -> Rollout       generate/shard-*.jsonl: a sampled completion of a problem
    verify    -> Attempt       verify/shard-*.jsonl: the rollout with the verifier's verdict
    intervene -> Intervention  intervene/interventions.jsonl: the accepted fix of a failed
                               attempt, its SFT target built once (filter/kept.jsonl: those kept)
    filter    -> Continuation  filter/shard-*.jsonl: continuations of a target, scored
    sft       -> SFTExample    (in memory): the text SFT trains on, before tokenising
    select    -> SolveCount    select/shard-*.jsonl, select/pool.jsonl: a problem's solve count
    eval      -> EvalResult    eval/NAME/results-*.jsonl: a problem's samples, scored

Records serialise to the JSONL keys run directories already hold (`to_json` / `from_json`), so
existing run directories read unchanged; keys a record does not know are kept, not dropped.
Each record class has a `SCHEMA` version: rows are written without a ``schema`` key while it
is 1 (the layout every existing file has), and `from_json` refuses a row whose ``schema`` is
later than the class's (a newer jaxint's). A row that lacks a required key is a
`RecordError`; `jaxint.rundir.read_records` adds the file and line to its message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

# The layout `to_json` writes; `from_json` refuses rows of a later one (a newer jaxint's).
SCHEMA_VERSION = 1


class _Record:
    """A row of a run directory file: `to_json`, `from_json` and `SCHEMA`, the version of the
    layout the class writes (rows without a ``schema`` key are version 1)."""

    SCHEMA: ClassVar[int] = 1


@dataclasses.dataclass(frozen=True)
class _Row(_Record):
    """A record that keeps its row's keys it does not know (`extra`), so that a row reads
    back as it was written (a user's own keys, a newer jaxint's additions)."""

    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False, kw_only=True)


@dataclasses.dataclass(frozen=True)
class Problem(_Record):
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


    def to_json(self) -> dict[str, Any]:
        """The JSONL row (the bundled layout; `data/*.jsonl` of the demo)."""
        return self.to_dict()

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Problem:
        """The record of a row in the bundled layout (loaders map other layouts); keys it
        does not know go to `meta`, as the loaders put them.

        Raises:
            RecordError: a required key is missing, or the row is of a later schema.
        """
        _check_row("problem", row, ("id", "problem", "answer"), cls.SCHEMA)
        known = ("id", "problem", "answer", "solution", "source", "meta")
        return cls(id=str(row["id"]), problem=row["problem"], answer=str(row["answer"]),
                   solution=row.get("solution"), source=row.get("source", ""),
                   meta={**(row.get("meta") or {}), **_extra(row, known)})


class RecordError(ValueError):
    """A JSONL row that does not make its record (a key missing, a later schema); read through
    `jaxint.rundir.read_records`, the message names the file and the line."""


@dataclasses.dataclass(frozen=True)
class Rollout(_Row):
    """One sampled completion of a problem (a row of ``generate/shard-*.jsonl``).

    Attributes:
        problem_id, sample_index: Which problem, and which of its samples (0-based).
        completion: The generated text (None when the sampler decoded none).
        num_tokens: Generated tokens (None in a hand-made file that does not say).
        finish_reason: ``stop`` or ``length`` (None in a hand-made file that does not say).
        extra: Any other keys of the row, kept so a row reads back as it was written.
    """

    problem_id: str
    sample_index: int
    completion: str | None
    num_tokens: int | None = None
    finish_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        row = {"problem_id": self.problem_id, "sample_index": self.sample_index,
               "completion": self.completion, "num_tokens": self.num_tokens,
               "finish_reason": self.finish_reason}
        # A hand-made row without the counts reads back without them.
        return _with_extra({k: v for k, v in row.items() if v is not None or k == "completion"},
                           self.extra)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Rollout:
        """Raises: RecordError: a required key is missing, or the row is of a later schema."""
        _check_row("rollout", row, _ROLLOUT_KEYS, cls.SCHEMA)
        tokens = row.get("num_tokens")
        return cls(problem_id=str(row["problem_id"]), sample_index=int(row["sample_index"]),
                   completion=row["completion"],
                   num_tokens=None if tokens is None else int(tokens),
                   finish_reason=row.get("finish_reason"),
                   extra=_extra(row, (*_ROLLOUT_KEYS, "num_tokens", "finish_reason")))


@dataclasses.dataclass(frozen=True)
class Attempt(_Row):
    """A verified rollout (a row of ``verify/shard-*.jsonl``): the rollout's keys, then the
    verifier's reward, extracted answer and reason. The failed ones are what the intervene
    stage splits into steps and proposes fixes for.

    Attributes:
        rollout: The rollout that was scored (its unknown keys included).
        reward: 1.0 correct, 0.0 wrong or unscorable.
        extracted: The answer taken from the completion's last ``\\boxed{}``, if any.
        reason: Why the verdict is what it is (``equivalent``, ``no_box``, ``timeout``, ...).
        extra: Keys of the row after the verdict's, kept as written.
    """

    rollout: Rollout
    reward: float
    extracted: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        row = {**self.rollout.to_json(), "reward": self.reward, "extracted": self.extracted,
               "reason": self.reason}
        return _with_extra(row, self.extra)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Attempt:
        """Raises: RecordError: a required key is missing, or the row is of a later schema."""
        _check_row("attempt", row, (*_ROLLOUT_KEYS, "reward"), cls.SCHEMA)
        keys = list(row)
        # The rollout owns the keys before the verdict's; what follows them stays after them.
        cut = min(keys.index(k) for k in _VERDICT_KEYS if k in row)
        before = {k: row[k] for k in keys[:cut] if k not in _VERDICT_KEYS}
        after = {k: row[k] for k in keys[cut:] if k not in _VERDICT_KEYS}
        return cls(rollout=Rollout.from_json({**before, **{k: row[k] for k in _ROLLOUT_KEYS}}),
                   reward=float(row["reward"]), extracted=row.get("extracted"),
                   reason=row.get("reason"), extra=_extra(after, ("schema",)))

    @property
    def problem_id(self) -> str:
        return self.rollout.problem_id

    @property
    def sample_index(self) -> int:
        return self.rollout.sample_index

    @property
    def completion(self) -> str | None:
        return self.rollout.completion

    @property
    def correct(self) -> bool:
        return self.reward >= 1.0


@dataclasses.dataclass(frozen=True)
class Intervention(_Row):
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
        return _with_extra(row, self.extra)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Intervention:
        """The record of a row `to_json` wrote.

        Raises:
            RecordError: a key is missing, or the row is of a later schema.
        """
        _check_row("intervention", row, _INTERVENTION_KEYS, cls.SCHEMA)
        return cls(
            problem_id=str(row["problem_id"]), sample_index=int(row["sample_index"]),
            proposal_index=int(row.get("proposal_index", 0)), location=int(row["location"]),
            content=row["content"], steps=tuple(row["steps"]), prefix=row["prefix"],
            intervention=row["intervention"], num_samples=row.get("num_samples"),
            num_correct=row.get("num_correct"),
            extra=_extra(row, (*_INTERVENTION_KEYS, "proposal_index", "num_steps", "target",
                               "num_samples", "num_correct")),
        )


class _Rewards(_Row):
    """What a record of scored samples derives from its per-sample ``rewards``."""

    rewards: tuple[int, ...]

    @property
    def num_correct(self) -> int:
        return int(sum(self.rewards))


@dataclasses.dataclass(frozen=True)
class Continuation(_Rewards):
    """The filter's continuations of one intervention's target, scored (a row of
    ``filter/shard-*.jsonl``): how many of the full responses (target + continuation) are
    correct, and whether that keeps the intervention.

    Attributes:
        problem_id, sample_index, location: The intervention (its attempt and step).
        rewards: Per continuation, 1 correct or 0.
        lengths: Per continuation, generated tokens.
        first_correct: The first correct continuation's text, for inspection.
        kept: The intervention passes the filter.
        rejected: ``prompt_too_long`` when the target was never sampled (then ``rewards`` is
            empty), with ``prompt_tokens`` and ``detail``; None otherwise.
        extra: Any other keys of the row, kept so a row reads back as it was written.
    """

    problem_id: str
    sample_index: int
    location: int
    rewards: tuple[int, ...]
    lengths: tuple[int, ...]
    first_correct: str | None
    kept: bool
    rejected: str | None = None
    prompt_tokens: int | None = None
    detail: str | None = None

    @property
    def num_samples(self) -> int:
        return len(self.rewards)

    def to_json(self) -> dict[str, Any]:
        row = {
            "problem_id": self.problem_id, "sample_index": self.sample_index,
            "location": self.location, "num_samples": self.num_samples,
            "num_correct": self.num_correct, "kept": self.kept, "rewards": list(self.rewards),
            "lengths": list(self.lengths), "first_correct": self.first_correct,
        }
        if self.rejected is not None:
            row.update(rejected=self.rejected, prompt_tokens=self.prompt_tokens,
                       detail=self.detail)
        return _with_extra(row, self.extra)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Continuation:
        """Raises: RecordError: a required key is missing, or the row is of a later schema."""
        _check_row("continuation", row, _CONTINUATION_KEYS, cls.SCHEMA)
        return cls(
            problem_id=str(row["problem_id"]), sample_index=int(row["sample_index"]),
            location=int(row["location"]), rewards=tuple(int(r) for r in row["rewards"]),
            lengths=tuple(int(n) for n in row.get("lengths", ())),
            first_correct=row.get("first_correct"), kept=bool(row["kept"]),
            rejected=row.get("rejected"), prompt_tokens=row.get("prompt_tokens"),
            detail=row.get("detail"),
            extra=_extra(row, (*_CONTINUATION_KEYS, "num_samples", "num_correct", "lengths",
                               "first_correct", "rejected", "prompt_tokens", "detail")),
        )


@dataclasses.dataclass(frozen=True)
class SFTExample(_Record):
    """What SFT trains on, as text: the problem as the one user message, the response as
    named loss segments, and whether the end of turn follows (rendered into token ids by
    ``data.chat.render_sft``).

    Attributes:
        problem_id: The problem the example comes from ("" where there is none).
        prompt: The user message: the bare problem, no system prompt (as in rollouts).
        segments: ``(name, text, trained)`` pieces of the response, in order: an
            intervention's ``prefix`` and ``intervention``, or a whole ``solution``.
        add_eos: Train the end of turn after the response (False after an intervention: the
            model must go on from it, never stop there).
    """

    problem_id: str
    prompt: str
    segments: tuple[tuple[str, str, bool], ...]
    add_eos: bool

    @property
    def response(self) -> str:
        return "".join(text for _, text, _ in self.segments)

    def to_json(self) -> dict[str, Any]:
        return {"problem_id": self.problem_id, "prompt": self.prompt,
                "segments": [list(s) for s in self.segments], "add_eos": self.add_eos}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> SFTExample:
        """Raises: RecordError: a required key is missing, or the row is of a later schema."""
        _check_row("sft example", row, ("prompt", "segments", "add_eos"), cls.SCHEMA)
        return cls(problem_id=str(row.get("problem_id", "")), prompt=row["prompt"],
                   segments=tuple((str(n), str(t), bool(w)) for n, t, w in row["segments"]),
                   add_eos=bool(row["add_eos"]))


@dataclasses.dataclass(frozen=True)
class SolveCount(_Row):
    """How often the policy solved one problem in the select stage (a row of
    ``select/shard-*.jsonl`` and, for the kept problems, ``select/pool.jsonl``).

    Attributes:
        problem_id: The problem.
        samples: Attempts scored (0 when skipped).
        num_correct: Of them, correct.
        skipped: ``prompt_too_long`` when the problem was never sampled, with
            ``prompt_tokens``; None otherwise.
        extra: Any other keys of the row, kept so a row reads back as it was written.
    """

    problem_id: str
    samples: int
    num_correct: int
    skipped: str | None = None
    prompt_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        skipped = {"skipped": self.skipped, "prompt_tokens": self.prompt_tokens}
        return _with_extra({"problem_id": self.problem_id, "samples": self.samples,
                            "num_correct": self.num_correct, **(skipped if self.skipped else {})},
                           self.extra)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> SolveCount:
        """Raises: RecordError: a required key is missing, or the row is of a later schema."""
        _check_row("solve count", row, ("problem_id", "samples", "num_correct"), cls.SCHEMA)
        return cls(problem_id=str(row["problem_id"]), samples=int(row["samples"]),
                   num_correct=int(row["num_correct"]), skipped=row.get("skipped") or None,
                   prompt_tokens=row.get("prompt_tokens"),
                   extra=_extra(row, ("problem_id", "samples", "num_correct", "skipped",
                                      "prompt_tokens")))


@dataclasses.dataclass(frozen=True)
class EvalResult(_Rewards):
    """One problem's evaluation (a row of ``eval/NAME/results-*.jsonl``): its n samples,
    each with reward, verifier reason, length and text.

    Attributes:
        problem_id, answer: The problem and its gold answer.
        rewards, reasons, lengths, completions: Per sample, in sample order.
        extra: Any other keys of the row, kept so a row reads back as it was written.
    """

    problem_id: str
    answer: str | None
    rewards: tuple[int, ...]
    reasons: tuple[str, ...] = ()
    lengths: tuple[int, ...] = ()
    completions: tuple[str | None, ...] = ()

    @property
    def n(self) -> int:
        return len(self.rewards)

    def to_json(self) -> dict[str, Any]:
        row = {"problem_id": self.problem_id, "answer": self.answer, "n": self.n,
               "num_correct": self.num_correct, "rewards": list(self.rewards),
               "reasons": list(self.reasons), "lengths": list(self.lengths),
               "completions": list(self.completions)}
        return _with_extra(row, self.extra)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> EvalResult:
        """Raises: RecordError: a required key is missing, or the row is of a later schema."""
        _check_row("eval result", row, ("problem_id", "rewards"), cls.SCHEMA)
        return cls(problem_id=str(row["problem_id"]), answer=row.get("answer"),
                   rewards=tuple(int(r) for r in row["rewards"]),
                   reasons=tuple(row.get("reasons", ())),
                   lengths=tuple(int(n) for n in row.get("lengths", ())),
                   completions=tuple(row.get("completions", ())),
                   extra=_extra(row, ("problem_id", "answer", "n", "num_correct", "rewards",
                                      "reasons", "lengths", "completions")))


_ROLLOUT_KEYS = ("problem_id", "sample_index", "completion")
_VERDICT_KEYS = ("reward", "extracted", "reason")
_INTERVENTION_KEYS = ("problem_id", "sample_index", "location", "content", "steps", "prefix",
                      "intervention")
_CONTINUATION_KEYS = ("problem_id", "sample_index", "location", "rewards", "kept")


def _check_row(kind: str, row: Any, required: tuple[str, ...], schema: int) -> None:
    """Raises RecordError for a row that is not an object, lacks a required key, or was
    written by a later layout than `schema`."""
    if not isinstance(row, Mapping):
        raise RecordError(f"{kind} row is a JSON {type(row).__name__}, not an object")
    if int(row.get("schema", 1)) > schema:
        raise RecordError(f"{kind} row of schema {row['schema']} (this jaxint reads "
                          f"{schema}): {_show(row)}")
    missing = [k for k in required if k not in row]
    if missing:
        raise RecordError(f"{kind} row lacks {missing}: {_show(row)}")


def _extra(row: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in known and k != "schema"}


def _with_extra(row: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, **{k: v for k, v in extra.items() if k not in row}}


def _show(row: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k}={row[k]!r}" for k in ("problem_id", "sample_index") if k in row)
    return shown or f"keys {sorted(row)}"
