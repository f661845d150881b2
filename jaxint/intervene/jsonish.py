"""Lenient, bounded repairs of the JSON-like payloads that language models write.

Models write ``{"content": "...", "location": 3}`` by hand, inside prose, and get it wrong in
predictable ways: LaTeX backslashes left unescaped (``\\frac``), raw newlines in strings,
single or typographic quotes, bare keys, trailing commas, unescaped quotes inside the content.
Each function here is one linear pass over text the caller has already capped in size; none
evaluates anything.
"""

from __future__ import annotations

import json
import re
from typing import Any

# LaTeX commands that begin with "n": "\neq" in a payload means the command, not newline + "eq".
_N_COMMANDS = frozenset(
    "ne neq nabla neg not notin nu newline nmid nleq ngeq nless ngtr nsubseteq nsupseteq "
    "nparallel nexists ncong nsim nleftarrow nrightarrow nLeftarrow nRightarrow nolimits "
    "noindent nonumber natural nearrow nwarrow nprec nsucc nvdash".split()
)
_HEX = frozenset("0123456789abcdefABCDEF")
_SPECIAL_RE = re.compile(r'[\\"]')
# Opening quote -> the characters that may close it.
_QUOTES = {
    '"': '"', "'": "'", "\u201c": "\u201d\u201c\"", "\u201d": "\u201d\"", "\u2018": "\u2019",
}
_ANY_QUOTE = "\"'\u201c\u201d\u2018\u2019"
_CONTENT_KEY_RE = re.compile(rf"[{_ANY_QUOTE}]content[{_ANY_QUOTE}]\s*:\s*", re.IGNORECASE)
_LOCATION_KEY_RE = re.compile(rf"[{_ANY_QUOTE}]location[{_ANY_QUOTE}]\s*:\s*", re.IGNORECASE)
_WORD_LIMIT = 64


def literal_backslash(text: str, i: int) -> bool:
    """True when the backslash at ``text[i]`` is LaTeX (or junk), not a JSON escape.

    ``\\b \\f \\r \\t`` followed by a letter are LaTeX (``\\beta \\frac \\rho \\theta``);
    ``\\n`` is LaTeX when the letters after the backslash form an n-command (``\\neq``);
    ``\\u`` is an escape only before four hex digits; ``\\" \\\\ \\/`` are escapes; any other
    character after a backslash is not a JSON escape at all.
    """
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt in ('"', "\\", "/"):
        return False
    if nxt == "u":
        return _hex_code(text, i) is None or _lone_surrogate(text, i)
    if nxt in ("b", "f", "r", "t"):
        after = text[i + 2] if i + 2 < len(text) else ""
        return after.isascii() and after.isalpha()
    if nxt == "n":
        return _letters(text, i + 1) in _N_COMMANDS
    return True


def _hex_code(text: str, i: int) -> int | None:
    """The code point of a ``\\uXXXX`` escape at ``text[i]``, or None if it is not one."""
    digits = text[i + 2 : i + 6]
    return int(digits, 16) if len(digits) == 4 and all(c in _HEX for c in digits) else None


def _lone_surrogate(text: str, i: int) -> bool:
    """True for a ``\\uD800``-``\\uDFFF`` escape that is not half of a pair: decoded, it
    would be a lone surrogate, which no writer can encode (a model's payload must not be able
    to crash the intervene stage), so it is kept as literal text instead."""
    code = _hex_code(text, i)
    if code is None or not 0xD800 <= code <= 0xDFFF:
        return False
    if code <= 0xDBFF:  # high half: a low-half escape must follow
        low = _hex_code(text, i + 6) if text[i + 6 : i + 8] == "\\u" else None
        return low is None or not 0xDC00 <= low <= 0xDFFF
    high = _hex_code(text, i - 6) if i >= 6 and text[i - 6 : i - 4] == "\\u" else None
    return high is None or not 0xD800 <= high <= 0xDBFF


def _letters(text: str, start: int) -> str:
    end = start
    while end < len(text) and end - start < _WORD_LIMIT and text[end].isascii() and (
        text[end].isalpha()
    ):
        end += 1
    return text[start:end]


def fix_escapes(text: str, *, escape_quotes: bool = False) -> str:
    """Doubles every literal backslash (see :func:`literal_backslash`); clean JSON is unchanged.

    Args:
        text: JSON-ish text (or, with ``escape_quotes``, the inside of one string).
        escape_quotes: Also escape bare double quotes (for the inside of a string).
    """
    out, pos = [], 0
    for match in _SPECIAL_RE.finditer(text):
        i = match.start()
        if i < pos:  # the second character of an escape pair already copied
            continue
        out.append(text[pos:i])
        if text[i] == '"':
            out.append('\\"' if escape_quotes else '"')
            pos = i + 1
        elif literal_backslash(text, i):
            out.append("\\\\")
            pos = i + 1
        else:
            out.append(text[i : i + 2])
            pos = i + 2
    out.append(text[pos:])
    return "".join(out)


def repair(text: str) -> str:
    """Rewrites JSON-ish text into JSON (best effort; the result may still not parse).

    Handles single and typographic quotes, unescaped quotes inside strings (a quote closes a
    string only when ``,`` ``}`` ``]`` ``:`` or the end follows), LaTeX backslashes, bare keys,
    Python's True/False/None and trailing commas.
    """
    return _Repairer(text).run()


class _Repairer:
    """One left-to-right pass; ``i`` only moves forward, so the work is linear."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.out: list[str] = []

    def run(self) -> str:
        s = self.s
        while self.i < len(s):
            ch = s[self.i]
            if ch in _QUOTES:
                self._string(_QUOTES[ch])
            elif ch == ",":
                if self._next_char(self.i + 1) not in ("}", "]"):
                    self.out.append(",")
                self.i += 1
            elif ch.isalpha() or ch == "_":
                self._word()
            else:
                self.out.append(ch)
                self.i += 1
        return "".join(self.out)

    def _next_char(self, j: int) -> str:
        """The first non-whitespace character at or after ``j`` ("" at the end)."""
        s = self.s
        while j < len(s) and s[j].isspace():
            j += 1
        return s[j] if j < len(s) else ""

    def _string(self, closers: str) -> None:
        s, out = self.s, self.out
        self.i += 1
        out.append('"')
        while self.i < len(s):
            ch = s[self.i]
            if ch == "\\":
                self._escape()
            elif ch in closers and self._next_char(self.i + 1) in ("", ",", "}", "]", ":"):
                self.i += 1
                break
            else:
                out.append('\\"' if ch == '"' else ch)
                self.i += 1
        out.append('"')

    def _escape(self) -> None:
        s, i = self.s, self.i
        if i + 1 < len(s) and s[i + 1] in _QUOTES and s[i + 1] != '"':
            self.out.append(s[i + 1])  # \' is not a JSON escape: a plain apostrophe
            self.i += 2
        elif literal_backslash(s, i):
            self.out.append("\\\\")
            self.i += 1
        else:
            self.out.append(s[i : i + 2])
            self.i += 2

    def _word(self) -> None:
        s, start = self.s, self.i
        end = start
        while end < len(s) and (s[end].isalnum() or s[end] == "_"):
            end += 1
        word = s[start:end]
        self.i = end
        if self._next_char(end) == ":":
            self.out.append(json.dumps(word))
        else:
            self.out.append({"True": "true", "False": "false", "None": "null"}.get(word, word))


def extract_fields(body: str) -> dict[str, Any] | None:
    """``{"content": ..., "location": ...}`` cut out around the keys, for hopeless quoting.

    The content is everything between the ``"content":`` key and the ``"location"`` key that
    follows it (or the last ``}``), minus the surrounding quotes and comma; the location is
    the short text after its key. Returns ``None`` without a quoted ``content`` key, or when
    the content string is opened but never closed: a block cut off mid-string (the reply hit
    its token budget) is unparseable, not an empty or shortened intervention.
    """
    key = _CONTENT_KEY_RE.search(body)
    if key is None:
        return None
    loc_key = None
    for loc_key in _LOCATION_KEY_RE.finditer(body):  # noqa: B007 - the last one
        pass
    if loc_key is not None and loc_key.start() > key.end():
        raw = body[key.end() : loc_key.start()].rstrip().rstrip(",").rstrip()
    else:
        close = body.rfind("}")
        raw = body[key.end() : close if close > key.end() else len(body)].rstrip()
        raw = raw.rstrip(",").rstrip()
    if _unterminated(raw):
        return None
    location = None
    if loc_key is not None:
        value = body[loc_key.end() : loc_key.end() + _WORD_LIMIT]
        location = re.split(r"[,}\n]", value, maxsplit=1)[0].strip().strip(_ANY_QUOTE)
    return {"content": _decode_string(raw), "location": location}


def _unterminated(raw: str) -> bool:
    """An opening quote with no closing one (``"`` alone is an opening quote only)."""
    return raw[:1] in _ANY_QUOTE and (len(raw) < 2 or raw[-1:] not in _ANY_QUOTE)


def _decode_string(raw: str) -> str | None:
    if raw == "null":
        return None
    if raw[:1] in _ANY_QUOTE:
        raw = raw[1:]
    if raw[-1:] in _ANY_QUOTE:
        raw = raw[:-1]
    try:
        return json.loads('"' + fix_escapes(raw, escape_quotes=True) + '"', strict=False)
    except ValueError:
        return raw
