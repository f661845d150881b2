"""Template echoes: an "intervention" that only repeats the prompt's own wording.

Small models copy the instructions instead of following them; Qwen2.5-Coder-0.5B answered
with the placeholder of the requested block, ``{"content": "the revised intervention step",
"location": 2}``, which is well-formed and would otherwise be accepted. A content is an echo
when nearly all of its words come from the templates' fixed text (the templates with their
``$placeholders`` removed), compared after lowercasing and dropping punctuation:

* contents of four or more words: at least :data:`MIN_COVERED` of their words lie inside a
  run of four consecutive words that also occurs in the fixed text (the substituted values,
  such as a substep count copied from "an integer from 1 to 5", do not save an echo);
* shorter contents: the whole content occurs in the fixed text (two or three words), or is
  one whole line of it (a single word, e.g. "Problem:").

Real corrections share at most a few phrases with the instructions ("the final answer"), far
below that coverage. Everything is linear in the (already size-capped) content.
"""

from __future__ import annotations

import functools
import re
import string

from jaxint.intervene import prompts

NGRAM = 4
MIN_COVERED = 0.8
_WORD_SPLIT = re.compile(r"[\W_]+")


def words(text: str) -> list[str]:
    """Lowercased words of ``text``, punctuation and LaTeX backslashes dropped."""
    return [w for w in _WORD_SPLIT.split(text.lower()) if w]


@functools.lru_cache(maxsize=8)
def _fixed_text(*sources: str) -> tuple[frozenset[tuple[str, ...]], str, frozenset[str]]:
    """(word 4-grams, the fixed text as one padded string, whole lines) of the templates."""
    grams: set[tuple[str, ...]] = set()
    segments: list[str] = []
    lines: set[str] = set()
    for source in sources:
        fixed = string.Template.pattern.sub(_segment_break, source)
        for segment in fixed.split("\0"):
            seg_words = words(segment)
            grams.update(tuple(seg_words[i:i + NGRAM]) for i in range(len(seg_words) - NGRAM + 1))
            segments.append(" ".join(seg_words))
            lines.update(" ".join(words(line)) for line in segment.splitlines())
    lines.discard("")
    return frozenset(grams), " " + " | ".join(segments) + " ", frozenset(lines)


def _segment_break(match: re.Match) -> str:
    return "$" if match.group("escaped") is not None else "\0"  # `$$` is a literal dollar


def is_echo(content: str, templates: prompts.Templates | None = None) -> bool:
    """Whether ``content`` only repeats fixed text of the (default: shipped) templates."""
    templates = templates or _shipped()
    grams, joined, lines = _fixed_text(templates.turn1.template, templates.turn2.template)
    cw = words(content)
    if not cw:
        return False
    if len(cw) < NGRAM:
        phrase = " ".join(cw)
        return phrase in lines or (len(cw) > 1 and f" {phrase} " in joined)
    covered = [False] * len(cw)
    for i in range(len(cw) - NGRAM + 1):
        if tuple(cw[i:i + NGRAM]) in grams:
            covered[i:i + NGRAM] = [True] * NGRAM
    return sum(covered) >= MIN_COVERED * len(cw)


@functools.lru_cache(maxsize=1)
def _shipped() -> prompts.Templates:
    return prompts.load_templates()
