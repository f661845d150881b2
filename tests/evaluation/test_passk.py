"""The unbiased pass@k estimator against its closed form 1 - C(n-c, k) / C(n, k), its edge
cases, and the evaluation summary built on it."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from jaxint.data import records
from jaxint.evaluation import evaluate, passk


def closed_form(n: int, c: int, k: int) -> float:
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def test_matches_closed_form_on_a_grid():
    """Every (n, c, k) with n <= 12, 0 <= c <= n, 1 <= k <= n."""
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert passk.pass_at_k(n, c, k) == pytest.approx(closed_form(n, c, k),
                                                                 rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n, c, k", [(128, 1, 1), (128, 3, 8), (128, 5, 32), (128, 1, 128),
                                     (1000, 2, 100), (16384, 7, 1000)])
def test_matches_closed_form_for_large_n(n, c, k):
    """Large n (the paper's 128 samples and beyond) without forming huge binomials."""
    assert passk.pass_at_k(n, c, k) == pytest.approx(closed_form(n, c, k), rel=1e-9)


def test_edge_cases():
    """No correct sample: 0; all correct: 1; fewer wrong samples than k: 1; k = 1: c / n."""
    assert passk.pass_at_k(10, 0, 5) == 0.0
    assert passk.pass_at_k(10, 10, 1) == 1.0
    assert passk.pass_at_k(10, 6, 5) == 1.0  # only 4 wrong: any 5 include a correct one
    assert passk.pass_at_k(10, 5, 6) == 1.0
    assert passk.pass_at_k(10, 5, 5) == pytest.approx(1 - 1 / 252)
    assert passk.pass_at_k(7, 3, 1) == pytest.approx(3 / 7)
    assert passk.pass_at_k(1, 1, 1) == 1.0 and passk.pass_at_k(1, 0, 1) == 0.0


@pytest.mark.parametrize("n, c, k", [(10, 11, 1), (10, -1, 1), (10, 2, 0), (10, 2, 11),
                                     (0, 0, 1)])
def test_invalid_arguments_raise(n, c, k):
    with pytest.raises(ValueError, match="pass_at_k"):
        passk.pass_at_k(n, c, k)


def test_mean_over_problems():
    """pass@k of a set is the mean of the per-problem estimates; an empty set gives 0."""
    counts = [(8, 0), (8, 1), (8, 8), (4, 2)]
    expected = (0 + closed_form(8, 1, 2) + 1 + closed_form(4, 2, 2)) / 4
    assert passk.mean_pass_at_k(counts, 2) == pytest.approx(expected)
    assert passk.mean_pass_at_k([], 4) == 0.0


def test_summary_and_table():
    """The evaluation summary: pass@1 = mean accuracy over all samples (equal n), pass@k
    from the closed form, the number of problems with at least one correct sample; the
    table shows them in percent."""
    results = [records.EvalResult(str(c), None, (1,) * c + (0,) * (8 - c)) for c in (0, 1, 3, 8)]
    summary = evaluate.summarize(results, [1, 4, 8])
    assert summary["problems"] == 4 and summary["solved"] == 3
    assert summary["pass@1"] == pytest.approx((0 + 1 + 3 + 8) / 32)
    assert summary["pass@4"] == pytest.approx(
        sum(closed_form(8, c, 4) for c in (0, 1, 3, 8)) / 4)
    assert summary["pass@8"] == pytest.approx(0.75)
    table = evaluate.table({"dataset": "toy", **summary})
    assert "| toy | 4 | 3 |" in table and "75.00" in table and "pass@4" in table
