"""Statistics of the intervene and filter stages: how often the intervener is usable, and where.

These answer the reviews' question "what if the intervener picks the wrong step?" with numbers:
parse rate, each rejection reason's count, leak rate, where interventions land (absolute and
relative to the attempt's length), agreement with the true first error when it is known (the
synthetic task), and the filter's pass rate and continuation accuracy.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jaxint.data import records
from jaxint.intervene import interveners, parsing

NO_STEPS = "no_steps"
REASONS = (*parsing.REASONS, *interveners.SKIP_REASONS, NO_STEPS)
# Reasons under which a block was found and its payload parsed.
_PARSED = (None, "empty_content", "template_echo", "location_out_of_range", "answer_leaked")
RELATIVE_BINS = 10


def relative_bin(location: int, num_steps: int) -> int:
    """Bin of ``location / num_steps`` in ``(0, 1]`` cut into 10 equal bins (exact integers)."""
    return min(RELATIVE_BINS - 1, max(0, -(-RELATIVE_BINS * location // num_steps) - 1))


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def proposal_stats(
    rows: Sequence[Mapping[str, Any]], kept: Sequence[records.Intervention]
) -> dict[str, Any]:
    """Statistics over proposal rows and the kept interventions.

    Rates: ``parse_rate`` = proposals with a parsed block / proposals actually sampled
    (skipped attempts excluded); ``accept_rate`` = accepted / all proposals; ``leak_rate`` =
    answer_leaked / (accepted + answer_leaked), i.e. among otherwise valid proposals. The
    location histograms count accepted proposals (before deduplication).
    """
    reasons = collections.Counter(r["rejected"] for r in rows)
    skipped = sum(reasons[r] for r in (*interveners.SKIP_REASONS, NO_STEPS))
    accepted = [r for r in rows if r["rejected"] is None]
    leaked = reasons["answer_leaked"]
    known = [r for r in accepted if r.get("true_location") is not None]
    return {
        "proposals": len(rows),
        "attempts": len({(r["problem_id"], r["sample_index"]) for r in rows}),
        "problems": len({r["problem_id"] for r in rows}),
        "accepted": len(accepted),
        "rejected": {reason: reasons[reason] for reason in REASONS},
        "parse_rate": _ratio(sum(reasons[r] for r in _PARSED), len(rows) - skipped),
        "accept_rate": _ratio(len(accepted), len(rows)),
        "leak_rate": _ratio(leaked, len(accepted) + leaked),
        "location_hist": _location_hist(accepted),
        "relative_location_hist": _relative_hist(accepted),
        "location_match_rate": _ratio(
            sum(r["location"] == r["true_location"] for r in known), len(known)
        ),
        "interventions": len(kept),
        "problems_with_intervention": len({r.problem_id for r in kept}),
    }


def _location_hist(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = collections.Counter(int(r["location"]) for r in rows)
    return {str(k): counts[k] for k in sorted(counts)}


def _relative_hist(rows: Iterable[Mapping[str, Any]]) -> list[int]:
    hist = [0] * RELATIVE_BINS
    for r in rows:
        hist[relative_bin(int(r["location"]), int(r["num_steps"]))] += 1
    return hist


def filter_stats(rows: Sequence[records.Continuation]) -> dict[str, Any]:
    """Pass rate and continuation accuracy over the filter's scored continuations."""
    samples = sum(r.num_samples for r in rows)
    correct = sum(r.num_correct for r in rows)
    kept = [r for r in rows if r.kept]
    return {
        "interventions": len(rows),
        "kept": len(kept),
        "pass_rate": _ratio(len(kept), len(rows)),
        "num_samples": samples,
        "num_correct": correct,
        "mean_accuracy": _ratio(correct, samples),
        "problems": len({r.problem_id for r in rows}),
        "problems_kept": len({r.problem_id for r in kept}),
    }


def flatten(stats: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "h": [2, 3]}`` -> ``{"a/b": 1, "h/0": 2, "h/1": 3}`` for metrics."""
    out: dict[str, Any] = {}
    for key, value in stats.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}/"))
        elif isinstance(value, (list, tuple)):
            out.update(flatten({str(i): v for i, v in enumerate(value)}, f"{name}/"))
        else:
            out[name] = value
    return out
