"""Splitting a failed attempt into numbered steps: the unit an intervention replaces.

The paper's "step" is just a blank-line split (PAPER.md step 4). Reviews flagged that as a
weak point, so the splitter is pluggable: anything with ``split(text) -> list[str]`` works,
and three are registered by name for configs:

- ``blank_line`` (default): the paper's split.
- ``max_steps``: blank-line pieces merged into at most N steps, so a 300-piece trace does not
  become a 300-substep prompt.
- ``token_budget``: adjacent blank-line pieces merged while the merged step stays within a
  token budget, so many tiny pieces (one formula per paragraph) become steps of useful size.

Merged steps are re-joined with ``"\\n\\n"``, so every splitter's steps are blank-line joined
runs of the default pieces and ``"\\n\\n".join(steps)`` is the same text for all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

SEPARATOR = "\n\n"
# A run of blank lines (whitespace-only lines count as blank). `[ \t]*\n` cannot overlap
# itself, so the scan is linear.
_BLANK_RUN_RE = re.compile(r"\n(?:[ \t]*\n)+")


class Splitter(Protocol):
    """Turns an attempt's text into its steps (non-empty strings, in order)."""

    def split(self, text: str) -> list[str]:
        """The steps of ``text``; ``[]`` when it has no non-blank content."""
        ...


class BlankLineSplitter:
    """Splits on blank lines; empty pieces are dropped.

    Each piece loses only its surrounding whitespace (it carries no content, and targets
    re-join steps with exactly one blank line); everything inside a piece is kept verbatim.
    The numbering agrees with ``jaxint.data.synthetic.split_steps``.
    """

    def split(self, text: str) -> list[str]:
        pieces = _BLANK_RUN_RE.split(text.replace("\r\n", "\n"))
        return [piece.strip() for piece in pieces if piece.strip()]


class MaxStepsSplitter:
    """Blank-line pieces merged into at most ``max_steps`` steps of near-equal piece counts.

    Args:
        max_steps: Upper bound on the number of steps (>= 1).
        base: The splitter whose pieces are merged (default: blank lines).
    """

    def __init__(self, max_steps: int, base: Splitter | None = None):
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps!r}")
        self.max_steps = max_steps
        self.base = base or BlankLineSplitter()

    def split(self, text: str) -> list[str]:
        pieces = self.base.split(text)
        if len(pieces) <= self.max_steps:
            return pieces
        # Group sizes differ by at most one; the larger groups come first.
        size, extra = divmod(len(pieces), self.max_steps)
        out, start = [], 0
        for group in range(self.max_steps):
            end = start + size + (1 if group < extra else 0)
            out.append(SEPARATOR.join(pieces[start:end]))
            start = end
        return out


class TokenBudgetSplitter:
    """Adjacent pieces merged greedily while the merged step stays within ``step_tokens``.

    A piece longer than the budget on its own stays a step of its own (it is never cut).
    The length of a merged step is the sum of its pieces' lengths (separators not counted).

    Args:
        step_tokens: Budget per merged step (>= 1).
        count: Length of a piece in tokens; default: a tokenizer's count when given, else
            characters / 4 (rounded up), a rough stand-in for BPE tokens.
        tokenizer: A Hugging Face tokenizer used for counting when ``count`` is not given.
        base: The splitter whose pieces are merged (default: blank lines).
    """

    def __init__(
        self,
        step_tokens: int,
        *,
        count: Callable[[str], int] | None = None,
        tokenizer: Any = None,
        base: Splitter | None = None,
    ):
        if step_tokens < 1:
            raise ValueError(f"step_tokens must be >= 1, got {step_tokens!r}")
        self.step_tokens = step_tokens
        self.count = count or _token_counter(tokenizer)
        self.base = base or BlankLineSplitter()

    def split(self, text: str) -> list[str]:
        out: list[str] = []
        group: list[str] = []
        used = 0
        for piece in self.base.split(text):
            n = self.count(piece)
            if group and used + n > self.step_tokens:
                out.append(SEPARATOR.join(group))
                group, used = [], 0
            group.append(piece)
            used += n
        if group:
            out.append(SEPARATOR.join(group))
        return out


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
    if tokenizer is None:
        return lambda piece: -(-len(piece) // 4)
    return lambda piece: len(tokenizer(piece, add_special_tokens=False)["input_ids"])


SPLITTERS = ("blank_line", "max_steps", "token_budget")


def make_splitter(
    name: str, *, max_steps: int = 64, step_tokens: int = 512, tokenizer: Any = None
) -> Splitter:
    """The splitter registered as ``name`` (see :data:`SPLITTERS`), built from config values."""
    if name == "blank_line":
        return BlankLineSplitter()
    if name == "max_steps":
        return MaxStepsSplitter(max_steps)
    if name == "token_budget":
        return TokenBudgetSplitter(step_tokens, tokenizer=tokenizer)
    raise ValueError(f"unknown splitter {name!r}; choose one of {SPLITTERS}")


def render_numbered(steps: Sequence[str], *, first: int = 1) -> str:
    """Steps as labelled substeps, ``"Substep 1: ...\\n\\nSubstep 2: ..."``.

    Args:
        steps: The steps to show.
        first: The number of ``steps[0]`` (a truncated attempt keeps its original numbers).
    """
    return SEPARATOR.join(f"Substep {first + i}: {step}" for i, step in enumerate(steps))
