"""Inequalities in one variable read as intervals (a fix: math-verify compares `x < -5` with
`(-\\infty, -5)` as unequal, so a correct answer written as a condition scored 0)."""

import pytest

from jaxint.verify import normalize

CASES = [
    ("x < -5", "(-\\infty,-5)"),
    ("x \\le -5", "(-\\infty,-5]"),
    ("-5 > x", "(-\\infty,-5)"),
    ("x > 2", "(2,\\infty)"),
    ("x \\geq 2", "[2,\\infty)"),
    ("2 \\leqslant t", "[2,\\infty)"),
    ("$-1 \\le x < \\frac{1}{2}$", "[-1,\\frac{1}{2})"),
    ("3 > y_1 \\ge 0", "[0,3)"),
    ("a_{n} \\lt 7", "(-\\infty,7)"),
]
NOT_INTERVALS = [
    "ab \\leq e^{3}",  # a product, not one variable (IMO-AnswerBench number_theory-048)
    "x < y",  # two variables
    "1 < x > 2",  # mixed directions
    "(1, 2]",
    "5",
    "x = 3",
    "\\langle a, b \\rangle",
]


@pytest.mark.parametrize(("text", "interval"), CASES)
def test_inequalities_become_intervals(text, interval):
    assert normalize.inequality_interval(text) == interval


@pytest.mark.parametrize("text", NOT_INTERVALS)
def test_other_answers_are_left_alone(text):
    assert normalize.inequality_interval(text) is None
