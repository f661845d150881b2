"""Table-driven equivalence: pairs of answers that must and must not match their gold answer.

Each row is (boxed answer, gold answer, expected reward, expected reason or None). The table
is the specification; it is checked in-process (``score``) and through worker processes
(``score_batch``), which must agree with it, not with each other.
"""

import pytest

import jaxint.verify
from jaxint.verify import equivalence, normalize

TIMEOUT_S = 10.0  # the paper's limit; this file tests answers, not time limits

EQUIVALENT = [
    # integers: leading zeros, thousands separators, signs
    ("025", "25"),
    ("007", "7"),
    ("1,000", "1000"),
    ("1{,}000", "1000"),
    ("1\\,000", "1000"),
    ("1000", "1,000"),
    ("-7", "-7"),
    ("$12$", "12"),
    ("12.", "12"),
    ("1.50", "1.5"),
    ("2.0", "2"),
    # fractions and decimals
    ("0.5", "\\frac{1}{2}"),
    ("\\frac{1}{2}", "0.5"),
    ("\\dfrac{3}{4}", "\\frac34"),
    ("\\tfrac{3}{4}", "0.75"),
    ("-\\frac{1}{2}", "-0.5"),
    ("\\frac{2}{4}", "\\frac{1}{2}"),
    ("1/2", "\\frac{1}{2}"),
    # LaTeX expressions
    ("2\\sqrt{3}", "\\sqrt{12}"),
    ("\\sqrt{12}", "2\\sqrt{3}"),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"),
    ("(x+1)^2", "x^2+2x+1"),
    ("2^{10}", "1024"),
    ("\\pi", "\\pi"),
    ("\\frac{\\pi}{3}", "\\frac{\\pi}{3}"),
    # intervals, sets, tuples
    ("(1,2]", "(1, 2]"),
    ("\\left(1, 2\\right]", "(1,2]"),
    ("(-\\infty, 3)", "(-\\infty,3)"),
    ("\\{3,2,1\\}", "\\{1,2,3\\}"),
    ("1, 2", "\\{1,2\\}"),
    ("(1, 2, 3)", "(1,2,3)"),
    # text answers
    ("\\text{Evelyn}", "Evelyn"),
    ("Evelyn", "\\text{Evelyn}"),
    ("\\text{(C)}", "C"),
    ("\\text{yes}", "\\text{Yes}"),
    ("Dmitri", "\\text{Dmitri}"),  # math-verify alone reads D*m*i*t*r*i with i = sqrt(-1)
    ("\\textbf{Dmitri}", "Dmitri"),
    # degrees
    ("30^\\circ", "30"),
    ("30^{\\circ}", "30"),
    ("30", "30^\\circ"),
    # a gold answer given in math mode or boxed
    ("5", "$5$"),
    ("5", "\\boxed{5}"),
]

NOT_EQUIVALENT = [
    # (answer, gold, reason)
    ("24", "25", "wrong"),
    ("-5", "5", "wrong"),
    ("250", "25", "wrong"),
    ("1,001", "1000", "wrong"),
    ("1.5", "2", "wrong"),
    ("0.5", "\\frac{1}{3}", "wrong"),
    ("\\frac{1}{3}", "0.3", "wrong"),
    ("\\sqrt{13}", "2\\sqrt{3}", "wrong"),
    ("x^2+2x+2", "(x+1)^2", "wrong"),
    ("\\pi", "3.14159", "wrong"),
    ("[1,2]", "(1,2]", "wrong"),
    ("(2,1)", "(1,2)", "wrong"),
    ("\\{1,2\\}", "\\{1,2,3\\}", "wrong"),
    ("(1, 3, 2)", "(1,2,3)", "wrong"),
    ("\\text{Alice}", "\\text{Bob}", "wrong"),
    ("Alice", "\\text{Bob}", "wrong"),
    ("60^\\circ", "30", "wrong"),
    ("1, 2, 3", "2", "wrong"),
    # several candidate answers never match one of them
    ("1 \\text{ or } 2 \\text{ or } 3", "2", "hedged"),
    ("2 \\text{ or } 3", "2", "hedged"),
    ("1 \\lor 2", "2", "hedged"),
    ("3 \\vee 2", "2", "hedged"),
    ("1 or 2", "2", "hedged"),
]

ROWS = [(a, g, 1.0, "correct") for a, g in EQUIVALENT] + [
    (a, g, 0.0, r) for a, g, r in NOT_EQUIVALENT
]


def completion(answer: str) -> str:
    return f"Some reasoning.\n\nSo the final answer is $\\boxed{{{answer}}}$."


@pytest.mark.parametrize(("answer", "gold", "reward", "reason"), ROWS)
def test_score_in_process(answer, gold, reward, reason):
    result = jaxint.verify.score(completion(answer), gold, timeout_s=TIMEOUT_S)
    assert (result.reward, result.reason) == (reward, reason)
    assert result.extracted == answer.strip()


def test_score_batch_agrees_with_the_table():
    pairs = [(completion(a), g) for a, g, _, _ in ROWS]
    results = jaxint.verify.score_batch(pairs, timeout_s=TIMEOUT_S, num_workers=2)
    got = [(r.reward, r.reason) for r in results]
    assert got == [(reward, reason) for _, _, reward, reason in ROWS]


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("025", "25", "correct"),
        ("1,000", "1000", "correct"),
        ("24", "25", "wrong"),
        ("\\left( 1, 2 \\right]", "(1,2]", "correct"),
        ("\\dfrac{1}{2}", "\\frac{1}{2}", "correct"),
        ("0.5", "\\frac{1}{2}", None),  # fraction vs decimal: math-verify decides
        ("1.5", "1.4999999", None),  # decimals that differ: math-verify's rounding decides
        ("1,2", "12", None),  # not a thousands group: a tuple for math-verify
    ],
)
def test_fast_path_decides_only_safe_cases(answer, gold, expected):
    assert equivalence.fast(answer, gold) == expected


def test_thousands_separator_only_in_groups_of_three():
    assert normalize.number(normalize.canonical("12,345,678")) == 12345678
    assert normalize.number(normalize.canonical("12,34")) is None
