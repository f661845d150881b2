"""The result of grading one completion: a reward, the extracted answer and a reason.

Reasons are short machine-readable strings so that metrics can count them (how many rollouts
had no box, how many timed out, how many hedged between several answers).
"""

from __future__ import annotations

import dataclasses

CORRECT = "correct"
WRONG = "wrong"
NO_BOX = "no_box"
EMPTY_BOX = "empty_box"
UNBALANCED = "unbalanced"
TOO_LONG = "too_long"
PATHOLOGICAL = "pathological"
HEDGED = "hedged"
TIMEOUT = "timeout"
CRASH = "crash"

REASONS = (
    CORRECT,
    WRONG,
    NO_BOX,
    EMPTY_BOX,
    UNBALANCED,
    TOO_LONG,
    PATHOLOGICAL,
    HEDGED,
    TIMEOUT,
    CRASH,
)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """How one completion was graded against its gold answer.

    Attributes:
        reward: 1.0 when the answer is equivalent to the gold answer, else 0.0.
        extracted: the content of the last ``\\boxed{...}`` (stripped), or None when there is
            no usable box (absent, unbalanced, or the completion was too long to look at).
        reason: one of ``REASONS``: "correct"; "wrong"; "no_box"; "empty_box"; "unbalanced"
            (the last box never closes); "too_long" (completion or answer over its cap);
            "pathological" (rejected by the pre-screen, e.g. exponent towers or deep nesting);
            "hedged" (several alternative answers such as ``1 \\text{ or } 2``); "timeout";
            "crash" (the checker raised, or its worker process died).
    """

    reward: float
    extracted: str | None
    reason: str


def make(reason: str, extracted: str | None) -> Verdict:
    """A verdict whose reward follows from its reason (1.0 only for "correct")."""
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {REASONS}, got {reason!r}")
    return Verdict(reward=1.0 if reason == CORRECT else 0.0, extracted=extracted, reason=reason)
