"""Cheap canonical forms of short answers, for the exact fast paths before math-verify.

Two answers with the same canonical form are the same answer, so equality here is a safe
"correct"; only plain integers are also compared for a safe "wrong". Everything else is left
to math-verify. Inputs are already capped in length; all patterns here are linear.
"""

from __future__ import annotations

import decimal
import re

# \left and \right only as whole command names (not \leftarrow, \rightarrow).
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])")
_SPACING = re.compile(r"\\[,;:! ]|\\(?:displaystyle|textstyle|quad|qquad)(?![A-Za-z])|~")
_DEGREES = re.compile(r"\^\{?\\circ\}?|°")
_SPACE = re.compile(r"\s+")
_ALIASES = (
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\dbinom", "\\binom"),
    ("\\tbinom", "\\binom"),
    ("−", "-"),
    ("{,}", ","),
)
_INTEGER = re.compile(r"[-+]?\d+")
_DECIMAL = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)")
_GROUPED = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_TEXT = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mbox)\{([^{}]*)\}")
_WORD = re.compile(r"\(([A-Za-z]+)\)|([A-Za-z]+)")
# One comparison operator (longest spellings first, so "\\leq" is not read as "\\le" + "q").
_COMPARISON = re.compile(
    r"(\\leqslant|\\geqslant|\\leq|\\geq|\\le|\\ge|\\lt|\\gt|<=|>=|≤|≥|<|>)(?![A-Za-z])")
_VARIABLE = re.compile(r"[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?")
_LESS = {"<": False, "\\lt": False, "<=": True, "\\le": True, "\\leq": True, "\\leqslant": True,
         "≤": True}
_MORE = {">": False, "\\gt": False, ">=": True, "\\ge": True, "\\geq": True, "\\geqslant": True,
         "≥": True}
_DISJUNCTION = re.compile(r"\\(?:lor|vee)(?![A-Za-z])|(?<![A-Za-z])[Oo][Rr](?![A-Za-z])")


def strip_math(answer: str) -> str:
    """Removes math-mode delimiters (``$``, ``\\(``, ``\\)``) that answers often carry."""
    answer = answer.strip().replace("$", "")
    if answer.startswith("\\(") and answer.endswith("\\)"):
        answer = answer[2:-2]
    return answer.strip()


def canonical(answer: str) -> str:
    """A layout-free form: no delimiters, sizing or spacing commands, whitespace, degree signs
    or trailing full stop; ``\\dfrac``/``\\tfrac`` spelled ``\\frac``."""
    text = strip_math(answer)
    for old, new in _ALIASES:
        text = text.replace(old, new)
    text = _SIZING.sub("", text)
    text = _SPACING.sub("", text)
    text = _DEGREES.sub("", text)
    text = _SPACE.sub("", text)
    return text.rstrip(".")


def number(canonical_answer: str) -> decimal.Decimal | None:
    """The value of a plain integer or decimal (``025``, ``-3.50``, ``1,000``), else None.

    Commas count as thousands separators only in strict groups of three digits, so ``1,2``
    stays a tuple for math-verify.
    """
    text = canonical_answer
    if _GROUPED.fullmatch(text):
        text = text.replace(",", "")
    if _INTEGER.fullmatch(text) or _DECIMAL.fullmatch(text):
        return decimal.Decimal(text)
    return None


def is_integer(canonical_answer: str) -> bool:
    """Whether the canonical answer is a plain integer (possibly grouped by thousands)."""
    return bool(
        _INTEGER.fullmatch(canonical_answer)
        or (_GROUPED.fullmatch(canonical_answer) and "." not in canonical_answer)
    )


def has_disjunction(answer: str) -> bool:
    """Whether the answer offers alternatives (``1 \\text{ or } 2``, ``1 \\lor 2``)."""
    return _DISJUNCTION.search(answer) is not None


def text_word(canonical_answer: str) -> str | None:
    """The lower-cased word of a text answer (``\\text{Yes}``, ``\\text{(C)}``), else None.

    Only answers wrapped in a text command count: math-verify would read a bare ``Dmitri``
    as a product of symbols containing the imaginary unit ``i``, while bare letters of
    different case (``x``, ``X``) are different symbols.
    """
    wrapped = _TEXT.fullmatch(canonical_answer)
    if wrapped is None:
        return None
    word = _WORD.fullmatch(wrapped.group(1))
    return (word.group(1) or word.group(2)).lower() if word else None


def bare_word(canonical_answer: str) -> str | None:
    """The lower-cased word of an unwrapped one-word answer (``Evelyn``, ``(C)``), else None."""
    word = _WORD.fullmatch(canonical_answer)
    return (word.group(1) or word.group(2)).lower() if word else None


def inequality_interval(answer: str) -> str | None:
    """An inequality in one variable as the interval it describes, else None.

    ``x < -5`` and ``-5 > x`` give ``(-\\infty,-5)``; ``-1 \\le x < 2`` gives ``[-1,2)``.
    math-verify compares an interval with a relation as unequal, so without this an answer
    written as a condition on x never matches an interval gold answer (or the reverse).
    """
    parts = _COMPARISON.split(strip_math(answer))
    if len(parts) == 3:
        return _one_sided(parts[0].strip(), parts[1], parts[2].strip())
    if len(parts) == 5 and _VARIABLE.fullmatch(parts[2].strip()):
        low, op1, _, op2, high = (p.strip() for p in parts)
        if op1 in _LESS and op2 in _LESS and low and high:
            return _interval(low, _LESS[op1], high, _LESS[op2])
        if op1 in _MORE and op2 in _MORE and low and high:
            return _interval(high, _MORE[op2], low, _MORE[op1])
    return None


def _one_sided(left: str, op: str, right: str) -> str | None:
    if _VARIABLE.fullmatch(left) and right and not _VARIABLE.fullmatch(right):
        bound, less = right, op in _LESS  # x < b
    elif _VARIABLE.fullmatch(right) and left and not _VARIABLE.fullmatch(left):
        bound, less = left, op in _MORE  # b > x, i.e. x < b
    else:
        return None
    closed = _LESS.get(op) or _MORE.get(op) or False
    if less:
        return _interval("-\\infty", False, bound, closed)
    return _interval(bound, closed, "\\infty", False)


def _interval(low: str, low_closed: bool, high: str, high_closed: bool) -> str:
    return f"{'[' if low_closed else '('}{low},{high}{']' if high_closed else ')'}"
