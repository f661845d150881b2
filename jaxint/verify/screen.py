"""A pre-screen that rejects answers math-verify would choke on, before spending a timeout.

Measured on a 2-core CPU with math-verify 0.9.0 (sympy 1.14): parsing cost grows
exponentially with group nesting (``{{{{1}}}}``: depth 10 takes 1.3 s, depth 15 takes 13 s;
parentheses and ``x^{x^{...}}`` chains behave alike), and sympy evaluates integer powers and
factorials exactly (``9^{9^{9}}`` and ``10^{10^{8}}`` never finish, ``1000000!`` takes 8 s,
``\\binom{10^6}{5 \\cdot 10^5}`` over 8 s). Gold answers of the bundled benchmarks nest at most
3 deep, are at most 160 characters long, and have no tower of three powers. The limits below
sit well above legitimate answers (``2^{10}``, ``2^{2024}``, ``2^{2^{10}}``, ``2024!``).

Everything here is one linear pass (plus a bounded recursion into exponent groups, whose
nesting the depth check has already capped).
"""

from __future__ import annotations

import math
import re

MAX_DEPTH = 10  # nested groups of any kind: {, (, [
MAX_TERMS = 256  # separators and operators: + - , ; & \\ \cdot \times
MAX_TOWER = 2  # a^{b^{c}} passes, a^{b^{c^{d}}} does not
MAX_EXPONENT_DIGITS = 7  # a literal exponent above 10^7 (2^{10^7} takes 0.1 s; 10^{10^8} hangs)
MAX_COMBINATORIAL_DIGITS = 6  # literals >= 10^6 next to !, \binom, \choose or \prod

_OPEN = "{(["
_CLOSE = "})]"
_TERM = re.compile(r"[-+,;&]|\\\\|\\(?:cdot|times)(?![A-Za-z])")
_BINOMIAL = re.compile(r"\\(?:binom|dbinom|tbinom|choose|prod)(?![A-Za-z])")
_DIGITS = re.compile(r"\d+")
_LITERAL = re.compile(r"[-+]?\d+")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_BIG_OPERATORS = ("\\sum", "\\prod", "\\int", "\\oint", "\\coprod", "\\bigcup", "\\bigcap")


def screen(answer: str) -> str | None:
    """Why ``answer`` is pathological ("depth", "terms", "tower", "exponent", "factorial"),
    or None when it may go to math-verify."""
    if _depth(answer) > MAX_DEPTH:
        return "depth"
    if sum(1 for _ in _TERM.finditer(answer)) > MAX_TERMS:
        return "terms"
    tower, exponent_digits, literal_digits = _powers(answer)
    if tower > MAX_TOWER:
        return "tower"
    if exponent_digits > MAX_EXPONENT_DIGITS:
        return "exponent"
    if _huge_factorial(answer):
        return "factorial"
    biggest = max(literal_digits, _longest_number(answer))
    if biggest >= MAX_COMBINATORIAL_DIGITS and _BINOMIAL.search(answer):
        return "factorial"
    return None


def _huge_factorial(text: str) -> bool:
    """A ``!`` whose own operand (the number, group or power right before it) is at least
    10^MAX_COMBINATORIAL_DIGITS: ``1000000!``, ``2^{20}!``, ``(10^{9})!``; a large literal
    elsewhere (``\\frac{100!}{2^{50}}``) is not the factorial's operand."""
    at = text.find("!")
    while at >= 0:
        operand = _factorial_operand(text, at)
        _, _, power = _powers(operand)
        if max(power, _longest_number(operand)) >= MAX_COMBINATORIAL_DIGITS:
            return True
        at = text.find("!", at + 1)
    return False


def _factorial_operand(text: str, bang: int) -> str:
    """The text of the operand ending right before ``text[bang] == "!"``."""
    end = bang
    while end > 0 and text[end - 1] == " ":
        end -= 1
    start = end
    if start > 0 and text[start - 1] in "})":
        start = _group_start(text, start - 1)
        if start > 0 and text[start - 1] == "^":  # a power: include its base
            start -= 1
            while start > 0 and (text[start - 1].isdigit() or text[start - 1] in "}"):
                start = _group_start(text, start - 1) if text[start - 1] == "}" else start - 1
    else:
        while start > 0 and text[start - 1].isdigit():
            start -= 1
    return text[start:end]


def _group_start(text: str, close: int) -> int:
    """Index of the bracket that ``text[close]`` (``}`` or ``)``) closes (0 if unbalanced)."""
    opening = "{" if text[close] == "}" else "("
    depth = 0
    for i in range(close, -1, -1):
        if text[i] == text[close]:
            depth += 1
        elif text[i] == opening:
            depth -= 1
            if depth == 0:
                return i
    return 0


def _depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSE:
            depth = max(0, depth - 1)
    return deepest


def _longest_number(text: str) -> float:
    """log10 of the largest plain integer literal (its digit count minus one)."""
    return max((len(m.group()) - 1 for m in _DIGITS.finditer(text)), default=0)


def _powers(text: str) -> tuple[int, float, float]:
    """Over all ``^`` in ``text``: the highest tower, the largest literal exponent and the
    largest literal power, the last two as log10 of their values."""
    tower, exponent, power = 0, 0.0, 0.0
    at = text.find("^")
    while at >= 0:
        operand, end = _operand(text, at + 1)
        height, value = _exponent_info(operand)
        power = max(power, value)  # a literal exponent is itself a literal in the text
        if _is_operator_limit(text, at):  # \sum_{i=1}^{10^9}: a bound, not a power
            at = text.find("^", end)
            continue
        tower = max(tower, height + 1)
        exponent = max(exponent, value)
        base = _base_digits(text, at)
        if base is not None and value < 300:
            power = max(power, 10.0**value * base)
        at = text.find("^", end)
    return tower, exponent, power


def _exponent_info(operand: str) -> tuple[int, float]:
    """Tower height inside an exponent and log10 of its value when it is a literal integer
    or a literal power of one (e.g. ``9^{9}``); 0.0 when it is not literal."""
    operand = operand.strip()
    if _LITERAL.fullmatch(operand):
        return 0, _log10(operand.lstrip("+-"))
    if "^" not in operand:
        return 0, 0.0
    tower, exponent, power = _powers(operand)
    return tower, power


def _operand(text: str, i: int) -> tuple[str, int]:
    """The argument after ``^``: a braced group, a digit run, a command name, or one char."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return "", i
    if text[i] == "{":
        close = _matching_brace(text, i)
        return text[i + 1 : close], close + 1
    digits = _DIGITS.match(text, i)
    if digits:
        return digits.group(), digits.end()
    command = _COMMAND.match(text, i)
    if command:
        return command.group(), command.end()
    return text[i], i + 1


def _is_operator_limit(text: str, caret: int) -> bool:
    """Whether the ``^`` at ``caret`` is the upper limit of a big operator (``\\sum``...)."""
    j = caret
    if j > 0 and text[j - 1] == "}":
        j = _opening_brace(text, j - 1)
        j = j - 1 if j > 0 and text[j - 1] == "_" else caret
    elif j > 1 and text[j - 2] == "_":
        j -= 2
    head = text[max(0, j - 8) : j]
    return any(head.endswith(name) for name in _BIG_OPERATORS)


def _opening_brace(text: str, close: int) -> int:
    """Index of the `{` that the `}` at `close` closes (0 when unbalanced)."""
    return _balanced(text, range(close, -1, -1), opener="}", closer="{", missing=0)


def _matching_brace(text: str, i: int) -> int:
    """Index of the `}` that closes the `{` at `i` (len(text) when unbalanced)."""
    return _balanced(text, range(i, len(text)), opener="{", closer="}", missing=len(text))


def _balanced(text: str, positions: range, *, opener: str, closer: str, missing: int) -> int:
    """The first position where the braces walked over (in `positions` order) balance."""
    depth = 0
    for j in positions:
        if text[j] == opener:
            depth += 1
        elif text[j] == closer:
            depth -= 1
            if depth == 0:
                return j
    return missing


def _base_digits(text: str, caret: int) -> float | None:
    """log10 of the integer literal right before ``^``, or None when the base is not one."""
    j = caret
    while j > 0 and text[j - 1].isdigit():
        j -= 1
    return _log10(text[j:caret]) if j < caret else None


def _log10(digits: str) -> float:
    """log10 of a digit string's value (0.0 for 0 and 1), without building a huge int."""
    digits = digits.lstrip("0")
    if not digits:
        return 0.0
    head = int(digits[:15])
    return math.log10(head) + max(0, len(digits) - 15)
