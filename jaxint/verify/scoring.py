"""Grades one completion: ``score(completion, gold) -> Verdict``.

The work is split so that ``score_batch`` can do the cheap part in the parent process:
``prepare`` (size caps, last-box extraction, exact fast paths, hedge check, pre-screen; linear
time, no parser) either decides a verdict or returns a ``Pending`` pair for math-verify.

Time limits: in the main thread ``score`` bounds math-verify with a SIGALRM timer
(``timelimit``). From any other thread signals cannot be used, so math-verify runs with its
timeouts off and only the size caps and the pre-screen bound the work; use ``score_batch``
(worker processes killed at the limit) when a hard limit matters.
"""

from __future__ import annotations

import dataclasses

from jaxint.verify import equivalence, extract, normalize, screen, timelimit, verdict

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_COMPLETION_CHARS = 1_000_000
DEFAULT_MAX_ANSWER_CHARS = 1_000

_BOX_REASONS = {
    extract.NO_BOX: verdict.NO_BOX,
    extract.EMPTY: verdict.EMPTY_BOX,
    extract.UNBALANCED: verdict.UNBALANCED,
    extract.TOO_LONG: verdict.TOO_LONG,
    extract.TOO_DEEP: verdict.PATHOLOGICAL,
}


@dataclasses.dataclass(frozen=True)
class Pending:
    """A pair only math-verify can decide.

    Attributes:
        answer: the extracted answer (stripped).
        gold: the gold answer, unwrapped from a box if it came in one.
    """

    answer: str
    gold: str


def prepare(
    completion: str,
    gold: str,
    *,
    max_completion_chars: int = DEFAULT_MAX_COMPLETION_CHARS,
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
) -> verdict.Verdict | Pending:
    """Decides what needs no parser; returns ``Pending`` for the rest.

    Raises:
        TypeError: ``completion`` or ``gold`` is not a string.
        ValueError: ``gold`` is empty (a data error, not a wrong answer).
    """
    gold = clean_gold(completion, gold)
    if len(completion) > max_completion_chars:
        return verdict.make(verdict.TOO_LONG, None)
    box = extract.find_last_box(
        completion, max_chars=max_answer_chars, max_depth=screen.MAX_DEPTH + 1
    )
    if box.answer is None:
        return verdict.make(_BOX_REASONS[box.status], None)
    answer = box.answer
    decided = equivalence.fast(answer, gold)
    if decided is not None:
        return verdict.make(decided, answer)
    if equivalence.hedged(answer, gold):
        return verdict.make(verdict.HEDGED, answer)
    if screen.screen(answer) is not None:
        return verdict.make(verdict.PATHOLOGICAL, answer)
    return Pending(answer=answer, gold=gold)


def clean_gold(completion: object, gold: object) -> str:
    """Checks the types and returns the gold answer, unwrapped from a box if it has one."""
    if not isinstance(completion, str) or not isinstance(gold, str):
        raise TypeError(
            f"completion and gold must be str, got {type(completion).__name__} "
            f"and {type(gold).__name__}"
        )
    boxed = extract.last_boxed(gold) if "\\boxed" in gold or "\\fbox" in gold else None
    cleaned = normalize.strip_math(boxed if boxed is not None else gold)
    if not cleaned:
        raise ValueError(f"gold answer is empty: {gold!r}")
    return cleaned


def judge(pending: Pending, timeout_s: float) -> str:
    """A reason for a pending pair from math-verify, limited in time where signals allow.

    Returns:
        "correct", "wrong", "timeout" (limit reached) or "crash" (the checker raised).
    """
    equivalence.load()  # a first import (seconds on a busy machine) is not the answer's time
    try:
        return timelimit.call(lambda: equivalence.symbolic(pending.answer, pending.gold), timeout_s)
    except timelimit.Expired:
        return verdict.TIMEOUT
    except Exception:  # a checker bug must cost one reward, never the training loop
        return verdict.CRASH


def score(
    completion: str,
    gold: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_completion_chars: int = DEFAULT_MAX_COMPLETION_CHARS,
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
) -> verdict.Verdict:
    """Grades ``completion`` against ``gold`` in this process.

    The answer is the last ``\\boxed{...}`` (also ``\\boxed 5`` and ``\\fbox{...}``),
    compared by exact fast paths, then math-verify. See the module docstring for how the
    time limit works in and outside the main thread.

    Args:
        completion: model output (untrusted).
        gold: the gold short answer (LaTeX allowed; ``$...$`` and ``\\boxed{}`` are removed).
        timeout_s: limit for the math-verify stage, in seconds (main thread only).
        max_completion_chars: longer completions get "too_long" unread.
        max_answer_chars: longer box contents get "too_long".

    Returns:
        A ``Verdict`` with reward 1.0 or 0.0, the extracted answer and a reason.
    """
    check_limits(timeout_s, max_completion_chars, max_answer_chars)
    prepared = prepare(
        completion,
        gold,
        max_completion_chars=max_completion_chars,
        max_answer_chars=max_answer_chars,
    )
    if isinstance(prepared, verdict.Verdict):
        return prepared
    return verdict.make(judge(prepared, timeout_s), prepared.answer)


def check_limits(timeout_s: float, max_completion_chars: int, max_answer_chars: int) -> None:
    """Raises ValueError naming the argument when a limit is not positive."""
    if not timeout_s > 0 or timeout_s == float("inf"):
        raise ValueError(f"timeout_s must be positive and finite, got {timeout_s!r}")
    for name, value in (
        ("max_completion_chars", max_completion_chars),
        ("max_answer_chars", max_answer_chars),
    ):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
