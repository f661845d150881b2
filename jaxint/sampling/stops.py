"""Stop strings, checked on the host after each decode chunk.

Only a tail window of each sample is decoded per check (the new tokens plus enough earlier
ones to hold a stop string that straddles the chunk boundary), so checking stays linear in
the output length even for 16K-token rollouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class StopMatcher:
    """Finds the first stop string in a growing token sequence."""

    def __init__(self, tokenizer: Any, stop_strings: Sequence[str]):
        self.tokenizer = tokenizer
        self.stop_strings = tuple(stop_strings)
        # A token decodes to at least one character (or is special and skipped), so a stop
        # string spans at most len(s) tokens; the margin covers multi-token characters.
        self.window = max((len(s) for s in self.stop_strings), default=0) + 4

    def _decode(self, tokens: Sequence[int]) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True)

    def _contains(self, tokens: Sequence[int]) -> bool:
        text = self._decode(tokens)
        return any(s in text for s in self.stop_strings)

    def find(self, tokens: Sequence[int], checked: int) -> int | None:
        """Length to cut `tokens` to if a stop string ends in tokens[checked - window:].

        Returns the smallest k such that tokens[:k] contains a stop string (searched within
        the window, so k counts tokens from the start), or None if none is present.
        """
        if not self.stop_strings or len(tokens) <= checked:
            return None
        start = max(0, checked - self.window)
        tail = tokens[start:]
        if not self._contains(tail):
            return None
        lo, hi = 1, len(tail)  # the smallest prefix of tail that contains a stop string
        while lo < hi:
            mid = (lo + hi) // 2
            if self._contains(tail[:mid]):
                hi = mid
            else:
                lo = mid + 1
        return start + lo

    def cut_text(self, text: str) -> tuple[str, str | None]:
        """Text up to and including the first stop string, and which string it was."""
        hits = [(text.find(s), s) for s in self.stop_strings if s in text]
        if not hits:
            return text, None
        pos, s = min(hits, key=lambda h: (h[0], -len(h[1])))
        return text[: pos + len(s)], s
