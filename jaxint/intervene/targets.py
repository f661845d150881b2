"""The SFT target built from an accepted intervention (PAPER.md step 7), and deduplication.

Response = substeps ``1..K-1`` joined by blank lines, a blank line, then the intervention with
its single newlines doubled (so the intervention's lines are steps of the same blank-line
format). Nothing follows: the original step K and everything after it are dropped, and no
end-of-sequence token is added, because the model must learn to *continue* from the
intervention, never to stop after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from jaxint.data import records
from jaxint.intervene import steps as steps_lib

_SINGLE_NEWLINE_RE = re.compile(r"(?<!\n)\n(?!\n)")


def format_intervention(content: str) -> str:
    """The intervention as response text: stripped, single newlines doubled."""
    return _SINGLE_NEWLINE_RE.sub("\n\n", content.strip())


def target_parts(steps: Sequence[str], location: int, content: str) -> tuple[str, str]:
    """``(prefix, intervention)`` whose concatenation is :func:`build_target`.

    ``prefix`` is steps ``1..K-1`` joined by blank lines plus the blank line before the
    intervention (empty for K = 1). They are the two loss segments of the SFT example.

    Raises:
        ValueError: ``location`` is outside ``1..len(steps)`` or the content is empty.
    """
    if not 1 <= location <= len(steps):
        raise ValueError(f"location {location} is not in 1..{len(steps)}")
    intervention = format_intervention(content)
    if not intervention:
        raise ValueError("the intervention content is empty")
    before = steps[: location - 1]
    prefix = steps_lib.SEPARATOR.join(before) + steps_lib.SEPARATOR if before else ""
    return prefix, intervention


def build_target(steps: Sequence[str], location: int, content: str) -> str:
    """The SFT response: steps before ``location``, a blank line, then the intervention.

    Args:
        steps: The failed attempt's steps (from the splitter).
        location: 1-based step the intervention replaces.
        content: The intervention text.

    Returns:
        The response text, with nothing after the intervention and no EOS.
    """
    prefix, intervention = target_parts(steps, location, content)
    return prefix + intervention


def sft_messages(
    problem: str, prefix: str, intervention: str
) -> tuple[list[dict[str, str]], list[tuple[str, str, bool]]]:
    """The chat prompt and response segments for ``data.chat.render_example(..., add_eos=False)``.

    Args:
        problem: The bare problem text: the one user message, no system prompt (as in rollouts).
        prefix: The target's prefix (see :func:`target_parts`; may be empty).
        intervention: The formatted intervention.

    Returns:
        ``(messages, [("prefix", prefix, True), ("intervention", intervention, True)])``.
    """
    messages = [{"role": "user", "content": problem}]
    return messages, [("prefix", prefix, True), ("intervention", intervention, True)]


def sft_example(problem: records.Problem, record: records.Intervention) -> records.SFTExample:
    """What SFT trains on for an intervention: the bare problem, then the record's stored
    ``prefix`` and ``intervention`` (both trained, never rebuilt here), no end of turn."""
    _, segments = sft_messages(problem.problem, record.prefix, record.intervention)
    return records.SFTExample(problem.id, problem.problem, tuple(segments), add_eos=False)


def first_accepted(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One accepted proposal per (problem, attempt): the lowest ``proposal_index``.

    Args:
        rows: Proposal records with ``problem_id``, ``sample_index``, ``proposal_index`` and
            ``rejected`` (``None`` when accepted). Duplicate rows are harmless.

    Returns:
        The chosen rows, ordered by (problem_id, sample_index).
    """
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        if row.get("rejected") is not None:
            continue
        key = (str(row["problem_id"]), int(row["sample_index"]))
        if key not in best or row["proposal_index"] < best[key]["proposal_index"]:
            best[key] = row
    return [best[key] for key in sorted(best)]
