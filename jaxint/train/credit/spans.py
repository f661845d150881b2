"""Which tokens of a rollout belong to which of its steps.

Steps come from the intervene splitter (blank lines by default), the unit InT intervenes on.
A step owns the tokens from the one holding its first character up to the next step's
(the separator after a step belongs to it, and the first step also owns any leading
whitespace), as VinePPO maps its step advantages to tokens by their first character.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from jaxint.intervene import steps as steps_lib


def char_starts(text: str, steps: Sequence[str]) -> list[int]:
    """Where each step begins in `text` (the first at 0); a step that cannot be found ends the
    list there (the remaining text stays with the step before it)."""
    out, pos = [], 0
    for step in steps:
        at = text.find(step, pos)
        if at < 0:
            break
        out.append(at)
        pos = at + len(step)
    return [0, *out[1:]] if out else [0]


def token_of_char(decode: Callable[[Sequence[int]], str], tokens: Sequence[int], c: int) -> int:
    """The index of the token whose decoded text holds character `c` (the first token whose
    prefix decodes past `c`); len(tokens) when none does. A binary search of prefix decodes."""
    lo, hi = 1, len(tokens) + 1  # smallest j in [1, n] with len(decode(tokens[:j])) > c
    while lo < hi:
        mid = (lo + hi) // 2
        if len(decode(tokens[:mid])) > c:
            hi = mid
        else:
            lo = mid + 1
    return lo - 1


def split(text: str) -> list[str]:
    """The steps of a response: the intervene splitter's blank-line pieces (the numbering of
    `synthetic.split_steps` too)."""
    return steps_lib.BlankLineSplitter().split(text)


def token_starts(decode: Callable[[Sequence[int]], str], tokens: Sequence[int], text: str,
                 steps: Sequence[str] | None = None) -> list[int]:
    """The first token of each step of `text` (the decoded `tokens`; steps default to
    `split(text)`), non-decreasing, the first 0; a response without steps is one step, and a
    step not found in the text ends the list (see `char_starts`)."""
    steps = split(text) if steps is None else steps
    starts = [0] + [token_of_char(decode, tokens, c) for c in char_starts(text, steps)[1:]]
    return [int(s) for s in np.maximum.accumulate(starts)]


def token_steps(num_tokens: int, starts: Sequence[int]) -> np.ndarray:
    """[num_tokens] the step index of each token, from the steps' first tokens."""
    return np.searchsorted(np.asarray(starts), np.arange(num_tokens), side="right") - 1
