"""Last-box extraction: which box counts, brace matching, bounds."""

import json
import pathlib

import pytest

from jaxint.verify import extract

SHARED_MATH500 = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "math500.jsonl"

CASES = [
    # (text, expected answer, expected status)
    ("The answer is \\boxed{5}.", "5", "ok"),
    ("first \\boxed{1} then \\boxed{2} finally \\boxed{3}", "3", "ok"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}", "ok"),
    ("\\boxed{\\left(\\frac{a}{b}, {c}\\right)}", "\\left(\\frac{a}{b}, {c}\\right)", "ok"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}", "ok"),  # escaped braces are not groups
    ("\\boxed{a \\} b}", "a \\} b", "ok"),
    ("\\boxed{ 42 }", "42", "ok"),
    ("\\boxed {7}", "7", "ok"),
    ("so $\\boxed 5$.", "5", "ok"),
    ("so \\boxed 5.", "5", "ok"),
    ("\\boxed 12\nmore text", "12", "ok"),
    ("\\fbox{9}", "9", "ok"),
    ("\\boxed{1} and later \\fbox{2}", "2", "ok"),
    ("\\fbox{1} and later \\boxed{2}", "2", "ok"),
    ("\\boxed{1} then \\boxedsymbol{2}", "1", "ok"),  # another command, not a box
    ("\\boxed{1} then \\fboxsep=2pt", "1", "ok"),
    ("\\boxed{\\boxed{4}}", "4", "ok"),
    ("no box here", None, "no_box"),
    ("", None, "no_box"),
    ("\\boxed{}", None, "empty"),
    ("\\boxed{   }", None, "empty"),
    ("ends with \\boxed", None, "empty"),
    ("\\boxed{12", None, "unbalanced"),
    ("\\boxed{1} and then \\boxed{2", None, "unbalanced"),  # the last box counts
    ("\\boxed{{{}", None, "unbalanced"),
]


@pytest.mark.parametrize(("text", "answer", "status"), CASES)
def test_find_last_box(text, answer, status):
    box = extract.find_last_box(text)
    assert (box.answer, box.status) == (answer, status)
    assert extract.last_boxed(text) == answer


def test_argument_longer_than_cap_is_too_long():
    text = "\\boxed{" + "1" * 50 + "}"
    assert extract.find_last_box(text, max_chars=49).status == "too_long"
    assert extract.find_last_box(text, max_chars=50).answer == "1" * 50
    assert extract.find_last_box("\\boxed " + "1" * 50, max_chars=10).status == "too_long"


def test_nesting_deeper_than_cap_is_too_deep():
    text = "\\boxed{" + "{" * 5 + "1" + "}" * 5 + "}"
    assert extract.find_last_box(text, max_depth=5).status == "too_deep"
    assert extract.find_last_box(text, max_depth=6).answer == "{" * 5 + "1" + "}" * 5


def test_math500_gold_is_the_last_box_of_each_solution():
    # The data README states this property of MATH-500; an independent check of the scanner.
    if not SHARED_MATH500.is_file():
        pytest.skip(f"{SHARED_MATH500} not available")
    lines = SHARED_MATH500.read_text().split("\n")
    rows = [json.loads(line) for line in lines if line.strip()]
    assert len(rows) == 500
    wrong = [r["id"] for r in rows if extract.last_boxed(r["solution"]) != r["answer"].strip()]
    assert wrong == []
