"""The answer-leak check: gold strings at token boundaries, and equivalent boxed answers."""

import pytest

from jaxint.intervene import leak


@pytest.mark.parametrize("content, gold", [
    ("So the value is 42.", "42"),
    ("Then x = 2, which we use next.", "2"),
    ("The point (2, 3) lies on it.", "2"),
    ("We get $x=2$ here.", "2"),
    ("There are 1,000 ways.", "1000"),
    ("It equals \\dfrac{1}{2} exactly.", "\\frac{1}{2}"),
    ("Hence $\\frac{3}{4}$.", "$\\frac{3}{4}$"),
    ("The polynomial is x + 1 overall.", "x+1"),
    ("The answer is -3.", "-3"),
    ("Take \\left( 1,2 \\right) now.", "(1, 2)"),
    ("It is 2.", "2"),
    ("the radius is 2\\sqrt{3}", "2 \\sqrt{3}"),
])
def test_gold_string_is_found(content, gold):
    assert leak.contains_answer(content, gold)
    assert leak.leaked(content, gold) is not None


@pytest.mark.parametrize("content, gold", [
    ("We have 12 apples and 2012 pears.", "2"),
    ("Half of it is 2.5.", "2"),
    ("Multiply by x2 and 2y.", "2"),
    ("The value 142 is too large.", "42"),
    ("Compute 3.14 first.", "3"),
    ("Consider the area.", "A"),
    ("Look at 12\\sqrt{3}.", "2\\sqrt{3}"),
    ("Nothing here.", ""),
])
def test_no_false_positives(content, gold):
    assert not leak.contains_answer(content, gold)


def test_equivalent_boxed_answer_leaks():
    assert leak.leaked("Check that \\boxed{0.5} holds.", "\\frac{1}{2}") is not None
    assert leak.leaked("Check that \\boxed{0.25} holds.", "\\frac{1}{2}") is None
    assert leak.leaked("Use the identity carefully.", "\\frac{1}{2}") is None


def test_boxed_contents_are_brace_matched_and_bounded():
    text = "\\boxed{\\frac{1}{2}} and \\boxed{x} and \\boxed{unclosed"
    assert leak.boxed_contents(text) == ["\\frac{1}{2}", "x"]
    many = "\\boxed{1}" * 100
    assert len(leak.boxed_contents(many)) == leak.MAX_BOXES
