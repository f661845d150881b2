"""Finds the final answer of a completion: the content of its last ``\\boxed{...}``.

Model output is untrusted, so the scan is linear and bounded: the last box command is found
by a search over a window at the end of the text (grown fourfold while it holds none), and
only that command's argument is scanned, one brace or backslash at a time, stopping after
``max_chars`` characters or when braces nest deeper than ``max_depth``. No regular
expression here can backtrack.
"""

from __future__ import annotations

import collections
import dataclasses
import re

OK = "ok"
NO_BOX = "no_box"
EMPTY = "empty"
UNBALANCED = "unbalanced"
TOO_LONG = "too_long"
TOO_DEEP = "too_deep"

DEFAULT_MAX_CHARS = 1000
DEFAULT_MAX_DEPTH = 10

# A letter right after the name makes it another command (\boxedsymbol, \fboxsep).
_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_WINDOW = 4096
# Characters that matter inside a braced argument; everything else is skipped in C.
_BRACE_EVENT = re.compile(r"[{}\\]")
# Where an unbraced argument (``\boxed 5``) ends: a math delimiter or a line break.
_UNBRACED_END = re.compile(r"\$|\n|\\\]|\\\)")
_TRAILING_PUNCT = ".,;: \t"


@dataclasses.dataclass(frozen=True)
class Box:
    """The last box of a text.

    Attributes:
        answer: the box's argument, stripped; None unless ``status == "ok"``.
        status: "ok", "no_box", "empty", "unbalanced" (never closes), "too_long" (argument
            longer than ``max_chars``) or "too_deep" (braces nested deeper than ``max_depth``).
    """

    answer: str | None
    status: str


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` / ``\\boxed ...`` / ``\\fbox{...}``, or None."""
    return find_last_box(text).answer


def find_last_box(
    text: str, *, max_chars: int = DEFAULT_MAX_CHARS, max_depth: int = DEFAULT_MAX_DEPTH
) -> Box:
    """Locates the last box command in ``text`` and reads its argument.

    Only the last box counts: when it is unbalanced (typically a truncated completion) the
    result is "unbalanced", not an earlier box, because an earlier box is an intermediate
    result the model went on to revise.

    Args:
        text: a completion (any length; the caller caps it).
        max_chars: longest argument read; a longer one gives "too_long".
        max_depth: deepest brace nesting read; deeper gives "too_deep".

    Returns:
        A ``Box``.
    """
    found = _last_command(text)
    if found is None:
        return Box(None, NO_BOX)
    start = _skip_spaces(text, found)
    if start >= len(text):
        return Box(None, EMPTY)
    if text[start] == "{":
        return _braced(text, start + 1, max_chars, max_depth)
    return _unbraced(text, start, max_chars)


def _last_command(text: str) -> int | None:
    """Index just after the name of the last ``\\boxed``/``\\fbox`` command, or None.

    Searches a window at the end of the text, growing it fourfold until a command turns up:
    the usual box near the end costs one small search, a text without one about 1.3 scans.
    """
    size = _WINDOW
    while True:
        start = max(0, len(text) - size)
        last = collections.deque(_COMMAND.finditer(text, start), maxlen=1)  # keeps the last
        if last:
            return last[0].end()
        if start == 0:
            return None
        size *= 4


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _braced(text: str, begin: int, max_chars: int, max_depth: int) -> Box:
    depth = 1
    limit = min(len(text), begin + max_chars + 1)
    pos = begin
    while True:
        event = _BRACE_EVENT.search(text, pos, limit)
        if event is None:
            return Box(None, TOO_LONG if limit < len(text) else UNBALANCED)
        char, pos = event.group(), event.end()
        if char == "\\":
            pos += 1  # an escaped character (\{, \}, \\) never opens or closes a group
        elif char == "{":
            depth += 1
            if depth > max_depth:
                return Box(None, TOO_DEEP)
        else:
            depth -= 1
            if depth == 0:
                return _finish(text[begin : pos - 1])


def _unbraced(text: str, begin: int, max_chars: int) -> Box:
    limit = min(len(text), begin + max_chars + 1)
    stop = _UNBRACED_END.search(text, begin, limit)
    if stop is None and limit < len(text):
        return Box(None, TOO_LONG)
    end = stop.start() if stop is not None else limit
    return _finish(text[begin:end].rstrip(_TRAILING_PUNCT))


def _finish(answer: str) -> Box:
    answer = answer.strip()
    return Box(answer, OK) if answer else Box(None, EMPTY)
