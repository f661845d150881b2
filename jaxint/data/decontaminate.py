"""Keeping evaluation problems out of training pools.

A pool row is dropped when it is the same problem as an item of a bundled evaluation set
(``bundled.EVAL_FAMILIES``), by any of three tests, cheapest first:

1. ``overlaps``: the row's own ``overlaps`` field names an evaluation item (the hard sets carry
   hand-checked ones, e.g. AIME rows that IMO-AnswerBench relabelled);
2. ``exact``: equal normalised text (NFKC, lower case, no whitespace or ``$``: layout does not
   count, but every symbol does, so ``z^4 - z^2`` and ``z^4 + z^2`` stay apart);
3. ``ngram``: at least ``threshold`` of the word n-grams of the shorter text are shared.

The index of the evaluation sets is built once per n-gram size and cached. N-grams that occur
in many evaluation items (an answer-format instruction every AMO-Bench prompt ends with) say
nothing about identity and are left out, which also bounds the work per row: at most
``_MAX_ROW_NGRAMS`` lookups, each touching at most ``_MAX_POSTING`` items.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from jaxint.data import bundled, records

_WORD = re.compile(r"[^\W_]+")
_LAYOUT = re.compile(r"[\s$]+")
_MAX_POSTING = 8  # an n-gram in more evaluation items than this is boilerplate
_MAX_ROW_NGRAMS = 4096  # a pool row's n-grams looked at (bounds the work on a huge row)
_MIN_SHARED = 2  # one shared n-gram alone is not a copy (unless a text has only one)


@dataclasses.dataclass(frozen=True)
class Match:
    """Why a pool row was dropped.

    Attributes:
        reason: ``"overlaps"``, ``"exact"`` or ``"ngram"``.
        eval_set: The bundled short name of the evaluation set (or the name the row's
            ``overlaps`` field gives).
        eval_id: The evaluation item's id.
        score: For ``"ngram"``, the shared fraction of the shorter text's n-grams.
    """

    reason: str
    eval_set: str
    eval_id: str
    score: float | None = None


@dataclasses.dataclass(frozen=True)
class _Item:
    eval_set: str
    eval_id: str
    num_ngrams: int


@dataclasses.dataclass
class Index:
    """Normalised texts and an inverted n-gram index of the bundled evaluation sets."""

    n: int
    items: list[_Item]
    exact: dict[str, int]  # normalised text -> item
    postings: dict[int, list[int]]  # n-gram hash -> items holding it
    boilerplate: set[int]  # n-grams left out of the index (in too many items)

    def match(self, problem: records.Problem, threshold: float) -> Match | None:
        """The evaluation item ``problem`` copies, or ``None``."""
        named = overlaps_match(problem.meta.get("overlaps"))
        if named is not None:
            return named
        hit = self.exact.get(normal_text(problem.problem))
        if hit is not None:
            item = self.items[hit]
            return Match("exact", item.eval_set, item.eval_id)
        return self._ngram_match(normal_words(problem.problem), threshold)

    def _ngram_match(self, words: list[str], threshold: float) -> Match | None:
        grams = [g for g in ngram_hashes(words, self.n) if g not in self.boilerplate]
        grams = list(dict.fromkeys(grams))[:_MAX_ROW_NGRAMS]
        shared: collections.Counter[int] = collections.Counter()
        for gram in grams:
            shared.update(self.postings.get(gram, ()))
        best: Match | None = None
        for index, count in shared.items():
            item = self.items[index]
            shorter = min(len(grams), item.num_ngrams)
            if count < min(_MIN_SHARED, shorter):
                continue
            score = count / shorter
            if score >= threshold and (best is None or score > best.score):
                best = Match("ngram", item.eval_set, item.eval_id, round(score, 4))
        return best


def normal_text(text: str) -> str:
    """``text`` after NFKC normalisation and lower-casing, without whitespace or ``$``."""
    return _LAYOUT.sub("", unicodedata.normalize("NFKC", text).lower())


def normal_words(text: str) -> list[str]:
    """The lower-cased words and numbers of ``text`` after NFKC normalisation."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def ngram_hashes(words: list[str], n: int) -> list[int]:
    """Hashes of the word n-grams, in order (none for a text shorter than ``n`` words)."""
    return [hash(" ".join(words[i:i + n])) for i in range(len(words) - n + 1)]


def overlaps_match(value: Any) -> Match | None:
    """A row's ``overlaps`` field (``"<file stem> <item id>"``, as the bundled hard sets
    write it) as a match; ``None`` when the field is empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    stem, _, item = value.strip().partition(" ")
    return Match("overlaps", _STEM_TO_NAME.get(stem, stem), item.strip())


_STEM_TO_NAME = {
    bundled.file_name(name).split(".")[0]: name for name in bundled.EVAL_FAMILIES
}


def _eval_sets() -> list[str]:
    """One short name per file: aliases (imo-answerbench = imo-answerbench-v2) load once."""
    seen: dict[str, str] = {}
    for name in sorted(bundled.EVAL_FAMILIES):
        seen.setdefault(bundled.file_name(name), name)
    return sorted(seen.values())


@functools.cache
def build_index(n: int) -> Index:
    """The index of every bundled evaluation set for n-grams of ``n`` words (cached)."""
    from jaxint.data import config as data_config
    from jaxint.data import loaders  # here: loaders imports this module

    def entries() -> Iterator[tuple[str, str, str]]:
        for name in _eval_sets():
            cfg = data_config.DatasetConfig(path=name, decontaminate=False)
            for problem in loaders.load_problems(cfg):
                yield name, problem.id, problem.problem

    return index_of(entries(), n)


def index_of(entries: Iterable[tuple[str, str, str]], n: int) -> Index:
    """An index of ``(eval set, item id, problem text)`` entries for n-grams of ``n`` words."""
    items: list[_Item] = []
    exact: dict[str, int] = {}
    grams_of: list[set[int]] = []
    for name, item_id, text in entries:
        exact.setdefault(normal_text(text), len(items))
        grams_of.append(set(ngram_hashes(normal_words(text), n)))
        items.append(_Item(name, item_id, 0))
    return _finish(n, items, exact, grams_of)


def _finish(n: int, items: list[_Item], exact: dict[str, int],
            grams_of: list[set[int]]) -> Index:
    frequency = collections.Counter(g for grams in grams_of for g in grams)
    boilerplate = {g for g, count in frequency.items() if count > _MAX_POSTING}
    postings: dict[int, list[int]] = collections.defaultdict(list)
    for index, grams in enumerate(grams_of):
        content = grams - boilerplate
        items[index] = dataclasses.replace(items[index], num_ngrams=len(content))
        for gram in content:
            postings[gram].append(index)
    return Index(n, items, exact, dict(postings), boilerplate)


def applies_to(spec: str) -> bool:
    """Whether a source is decontaminated: every source but a bundled evaluation set (an
    evaluation set is never cut down by its own or another benchmark's items)."""
    return bundled.eval_family(spec) is None
