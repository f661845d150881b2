"""Statistics against hand-computed values."""

import pytest

from jaxint.data import records
from jaxint.intervene import stats


def row(pid, sample, j, rejected=None, location=None, num_steps=4, true_location=None):
    return {"problem_id": pid, "sample_index": sample, "proposal_index": j,
            "rejected": rejected, "location": location, "num_steps": num_steps,
            "true_location": true_location}


ROWS = [
    row("p1", 0, 0, "no_block"),
    row("p1", 0, 1, None, 2, 4, true_location=2),
    row("p1", 1, 0, None, 1, 10, true_location=3),
    row("p1", 1, 1, "answer_leaked", 3, 10),
    row("p2", 0, 0, "unparseable"),
    row("p2", 0, 1, "empty_content"),
    row("p3", 0, 0, "prompt_too_long"),
    row("p3", 0, 1, "prompt_too_long"),
    row("p4", 0, 0, None, 7, 7),
]
KEPT = [records.Intervention(pid, 0, 0, 1, "c", ("s",), "", "c") for pid in ("p1", "p1", "p4")]


def test_proposal_stats():
    s = stats.proposal_stats(ROWS, KEPT)
    assert (s["proposals"], s["attempts"], s["problems"], s["accepted"]) == (9, 5, 4, 3)
    assert s["rejected"] == {
        "no_block": 1, "unparseable": 1, "template_echo": 0, "location_out_of_range": 0,
        "empty_content": 1,
        "answer_leaked": 1, "prompt_too_long": 2, "no_reference": 0, "no_steps": 0,
    }
    assert s["parse_rate"] == pytest.approx(5 / 7)  # 3 accepted + empty + leaked of 7 sampled
    assert s["accept_rate"] == pytest.approx(3 / 9)
    assert s["leak_rate"] == pytest.approx(1 / 4)
    assert s["location_hist"] == {"1": 1, "2": 1, "7": 1}
    # 2/4 = 0.5 -> bin 4; 1/10 -> bin 0; 7/7 -> bin 9
    assert s["relative_location_hist"] == [1, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    assert s["location_match_rate"] == pytest.approx(1 / 2)
    assert (s["interventions"], s["problems_with_intervention"]) == (3, 2)


def test_empty_stats_have_no_rates():
    s = stats.proposal_stats([], [])
    assert s["parse_rate"] is None and s["leak_rate"] is None and s["proposals"] == 0


@pytest.mark.parametrize("location, num_steps, expected", [
    (1, 1, 9), (1, 10, 0), (2, 10, 1), (11, 100, 1), (10, 100, 0), (1, 3, 3), (3, 3, 9),
    (50, 100, 4), (51, 100, 5),
])
def test_relative_bins(location, num_steps, expected):
    assert stats.relative_bin(location, num_steps) == expected


def test_filter_stats():
    rows = [records.Continuation(pid, 0, 1, rewards, (1,) * 4, None, kept)
            for pid, rewards, kept in (("a", (0, 0, 0, 0), False), ("a", (0, 1, 0, 0), True),
                                       ("b", (1, 1, 0, 1), True), ("c", (0, 0, 0, 0), False))]
    assert stats.filter_stats(rows) == {
        "interventions": 4, "kept": 2, "pass_rate": 0.5, "num_samples": 16, "num_correct": 4,
        "mean_accuracy": 0.25, "problems": 3, "problems_kept": 2,
    }


def test_flatten():
    assert stats.flatten({"a": {"b": 1}, "h": [2, 3], "x": None}) == {
        "a/b": 1, "h/0": 2, "h/1": 3, "x": None,
    }


def test_template_echoes_are_counted_as_parsed_but_not_accepted():
    rows = [row("p1", 0, 0, "template_echo", 2, 4), row("p1", 0, 1, None, 2, 4),
            row("p2", 0, 0, "no_block")]
    s = stats.proposal_stats(rows, [])
    assert s["rejected"]["template_echo"] == 1 and s["accepted"] == 1
    assert s["parse_rate"] == pytest.approx(2 / 3)  # a block was found and its payload parsed
    assert s["accept_rate"] == pytest.approx(1 / 3) and s["location_hist"] == {"2": 1}
