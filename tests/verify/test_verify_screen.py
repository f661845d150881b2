"""Pre-screen: rejects what math-verify would choke on, passes every real gold answer."""

import json
import pathlib

import pytest

from jaxint.verify import screen

SHARED = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("9^{9^{9^{9}}}", "tower"),
        ("x^{x^{x^{x}}}", "tower"),
        ("9^{9^{9}}", "exponent"),
        ("10^{100000000}", "exponent"),
        ("2^{-10^{8}}", "exponent"),
        ("1000000!", "factorial"),
        ("2^{20}!", "factorial"),
        ("(10^{9})!", "factorial"),
        ("\\binom{1000000}{500000}", "factorial"),
        ("\\prod_{i=1}^{10^{6}} i", "factorial"),
        ("{" * 11 + "1" + "}" * 11, "depth"),
        ("(" * 11 + "1" + ")" * 11, "depth"),
        ("+".join(["1"] * 300), "terms"),
    ],
)
def test_pathological_answers_are_rejected(answer, why):
    assert screen.screen(answer) == why


@pytest.mark.parametrize(
    "answer",
    [
        "2^{10}",
        "2^{2024}",
        "2^{2^{10}}",
        "x^{y^{z}}",
        "2024!",
        "\\frac{100!}{2^{50}}",  # OlympiadBench: the power is not the factorial's operand
        "2^{50} + 3!",
        "\\binom{4048}{2024}",
        "\\sum_{i=1}^{10^{9}} i",
        "\\sum^{10^{9}}_{i=1} i",
        "\\int_0^{10^{9}} x \\, dx",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        "\\lambda^8 + 36\\lambda^7 + 210\\lambda^6 + 462\\lambda^5 + 15\\lambda + 1",
        "\\begin{pmatrix} \\frac{4}{9} & -\\frac{4}{9} \\\\ -\\frac{2}{9} & 1 \\end{pmatrix}",
        "{" * 10 + "1" + "}" * 10,
    ],
)
def test_legitimate_answers_pass(answer):
    assert screen.screen(answer) is None


def test_no_bundled_gold_answer_is_screened_out():
    files = sorted(SHARED.glob("*.jsonl")) if SHARED.is_dir() else []
    if not files:
        pytest.skip(f"no data under {SHARED}")
    rejected = []
    for path in files:
        for line in path.read_text().split("\n"):
            if not line.strip():
                continue
            answer = json.loads(line)["answer"]
            if screen.screen(answer) is not None:
                rejected.append((path.name, answer))
    assert rejected == []
