"""Is an extracted answer equivalent to the gold answer?

Two stages. ``fast`` decides the common cases with string and number comparisons only
(no parser, microseconds, safe in any thread or process). ``symbolic`` hands the rest to
math-verify, the only parser used: jaxint never ``eval``s, ``exec``s or ``sympify``s text.
math-verify is imported lazily (it pulls in sympy, ~0.6 s), its logger is silenced (on a
timeout it logs the whole input), and its own alarm-based timeouts are switched off because
they cancel the caller's timer; see ``timelimit``.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from jaxint.verify import normalize, verdict

_LOGGERS = ("math_verify", "latex2sympy2_extended")
_GOLD_CACHE_SIZE = 4096
_math_verify: Any = None


def fast(answer: str, gold: str) -> str | None:
    """Returns "correct" or "wrong" when string/number comparison settles it, else None.

    Args:
        answer: the extracted answer.
        gold: the gold answer.
    """
    mine, theirs = normalize.canonical(answer), normalize.canonical(gold)
    if mine and mine == theirs:
        return verdict.CORRECT
    if _same_text(mine, theirs):
        return verdict.CORRECT
    a, b = normalize.number(mine), normalize.number(theirs)
    if a is None or b is None:
        return None
    if a == b:
        return verdict.CORRECT
    # Integers differ exactly; decimals go to math-verify, which rounds (3.1415927 ~ 3.14159265).
    if normalize.is_integer(mine) and normalize.is_integer(theirs):
        return verdict.WRONG
    return None


def _same_text(mine: str, theirs: str) -> bool:
    """A text answer against the same word, wrapped or not, in any case."""
    a, b = normalize.text_word(mine), normalize.text_word(theirs)
    if a is None and b is None:
        return False
    a = a if a is not None else normalize.bare_word(mine)
    b = b if b is not None else normalize.bare_word(theirs)
    return a is not None and a == b


def hedged(answer: str, gold: str) -> bool:
    """Whether the answer lists alternatives where the gold answer does not.

    math-verify reads ``1 \\lor 2`` as ``2`` and would reward it against gold ``2``; a set
    of candidates (``1 \\text{ or } 2 \\text{ or } 3``) must never count as the answer.
    """
    return normalize.has_disjunction(answer) and not normalize.has_disjunction(gold)


def symbolic(answer: str, gold: str) -> str:
    """Returns "correct" or "wrong" by math-verify: ``verify(parse(gold), parse(answer))``.

    Unbounded in time: run it under ``timelimit.call`` or in a worker process that can be
    killed. Exceptions inside math-verify count as "wrong" (it catches them itself).
    """
    return _compare(load(), answer, gold)


def load() -> Any:
    """Imports math-verify once, silences its loggers and runs one comparison.

    Call it outside any time limit: the import (with sympy) takes about 0.6 s and the first
    comparison in a process about 70 ms more on an idle machine, several times that on a
    busy one, and neither is the fault of the answer being graded.
    """
    global _math_verify
    if _math_verify is None:
        for name in _LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        import math_verify

        _compare(math_verify, "\\frac{1}{2}", "0.5")
        _math_verify = math_verify
    return _math_verify


def _compare(mv: Any, answer: str, gold: str) -> str:
    # A condition on one variable (x < -5) is read as the interval it describes, on both
    # sides, so that it matches an interval written either way.
    answer = normalize.inequality_interval(answer) or answer
    gold = normalize.inequality_interval(gold) or gold
    gold_parsed = _parse_gold(mv, gold)
    answer_parsed = mv.parse(_wrap(answer), parsing_timeout=None)
    if not gold_parsed or not answer_parsed:
        return verdict.WRONG
    ok = mv.verify(list(gold_parsed), answer_parsed, timeout_seconds=None)
    return verdict.CORRECT if ok else verdict.WRONG


@functools.lru_cache(maxsize=_GOLD_CACHE_SIZE)
def _parse_gold(mv: Any, gold: str) -> tuple[Any, ...]:
    # Parsing is most of the cost (the LaTeX grammar is ambiguous: an interval takes ~50 ms)
    # and every rollout of a problem shares its gold answer. sympy objects are immutable.
    return tuple(mv.parse(_wrap(gold), parsing_timeout=None))


def _wrap(answer: str) -> str:
    # math-verify extracts from free text; a box around the bare answer selects all of it.
    return "\\boxed{" + normalize.strip_math(answer) + "}"
