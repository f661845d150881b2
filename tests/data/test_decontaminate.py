"""Decontamination of training pools against the bundled evaluation sets.

Expected counts come from shared/data/README.md (hand-checked overlaps), scores from the
definition worked by hand on tiny texts.
"""

import json

import pytest

from jaxint.data import config as data_config
from jaxint.data import decontaminate, loaders, records

# shared/data/README.md: AIME 1983-2023 has 29 rows with `overlaps` (10 MATH-500, 19
# IMO-AnswerBench), 300 `in_math_train` rows, and 647 rows left without either;
# OlympiadBench has 41 `overlaps` rows and 634 left.
AIME_OVERLAPS, AIME_CLEAN = 29, 647
OLYMPIAD_OVERLAPS, OLYMPIAD_CLEAN = 41, 634


def _problem(text, **meta):
    return records.Problem(id="x", problem=text, answer="1", solution=None, source="t",
                           meta=meta)


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


# --------------------------------------------------------------------------- the tests


def test_ngram_score_is_the_shared_fraction_of_the_shorter_text():
    # eval: 10 words -> 3 8-grams; pool: the first 9 words then 3 others (12 words, 5 8-grams)
    # share "a..h" and "b..i": 2 / min(5, 3) = 0.667.
    index = decontaminate.index_of([("toy", "e1", "a b c d e f g h i j")], 8)
    row = _problem("A b, c d $e$ f g h i x y z")
    match = index.match(row, 0.5)
    assert (match.reason, match.eval_set, match.eval_id, match.score) == (
        "ngram", "toy", "e1", pytest.approx(0.6667))
    assert index.match(row, 0.7) is None


def test_exact_match_ignores_layout_but_not_symbols():
    index = decontaminate.index_of([("toy", "e1", "Solve $z^4 + z^2 + 1 = 0$.")], 8)
    assert index.match(_problem("solve  z^4 +  z^2 + 1 = 0."), 1.0).reason == "exact"
    # Same words, another sign: not the same text (and too short for any 8-gram).
    assert index.match(_problem("Solve $z^4 - z^2 + 1 = 0$."), 1.0) is None


def test_boilerplate_shared_by_many_eval_items_is_not_evidence():
    suffix = " please write your final answer in a box at the very end"
    entries = [("toy", f"e{i}", f"problem number {i} asks about widgets" + suffix)
               for i in range(decontaminate._MAX_POSTING + 1)]
    index = decontaminate.index_of(entries, 8)
    row = _problem("a completely different question about gadgets and gizmos" + suffix)
    assert index.match(row, 0.1) is None


def test_overlaps_field_names_the_eval_item():
    index = decontaminate.index_of([], 8)
    match = index.match(_problem("anything", overlaps="imo_answerbench_v2 imo-bench-geometry-050"),
                        0.5)
    assert (match.reason, match.eval_set, match.eval_id) == (
        "overlaps", "imo-answerbench-v2", "imo-bench-geometry-050")
    assert index.match(_problem("anything", overlaps=None), 0.5) is None


def test_hard_pools_drop_the_documented_overlaps(tmp_path):
    dropped = tmp_path / "dropped.jsonl"
    report = loaders.load_with_report(data_config.DatasetConfig(path="aime-1983-2023"),
                                      dropped_path=dropped)
    assert report.dropped == {"overlaps": AIME_OVERLAPS}
    entries = [json.loads(line) for line in dropped.read_text().splitlines()]
    assert {e["eval_set"] for e in entries} == {"math500", "imo-answerbench-v2"}
    by_id = {e["id"]: e for e in entries}
    # README: 2001-2-3 is MATH-500 (exact), and AnswerBench geometry-050..069 are AIME items.
    assert by_id["aime-2001-2-3"]["eval_set"] == "math500"
    assert all(e["file"].startswith("aime-1983-2023") and e["line"] >= 1 for e in entries)
    report = loaders.load_with_report(data_config.DatasetConfig(path="olympiadbench"))
    assert (len(report.problems), report.num_dropped) == (OLYMPIAD_CLEAN, OLYMPIAD_OVERLAPS)


def test_exclude_flags_and_decontamination_leave_the_documented_aime_pool(tmp_path):
    cfg = data_config.DatasetConfig(path="aime-1983-2023", exclude_flags=("in_math_train",))
    report = loaders.load_with_report(cfg)
    assert len(report.problems) == AIME_CLEAN
    assert report.dropped["flag:in_math_train"] == 300
    assert not any(p.meta["in_math_train"] for p in report.problems)


def test_eval_sets_are_never_decontaminated():
    # Apex items 25-26 are AIME 2025 problems (their `overlaps` says so); as an eval set
    # Apex keeps them, and MATH-500 keeps all 500 of its own problems.
    assert len(loaders.load_problems(data_config.DatasetConfig(path="apex"))) == 47
    assert len(loaders.load_problems(data_config.DatasetConfig(path="math500"))) == 500


def test_a_pool_row_copying_an_eval_problem_is_dropped(tmp_path):
    amo = loaders.load_problems(data_config.DatasetConfig(path="amo"))[0]
    question = amo.problem.split("\nAfter solving")[0]  # without AMO's format instructions
    pool = _write(tmp_path / "pool.jsonl", [
        {"id": "copy", "problem": "Exercise 4. " + question, "answer": "1"},
        {"id": "own", "problem": "How many primes are below 20?", "answer": "8"},
    ])
    report = loaders.load_with_report(data_config.DatasetConfig(path=pool))
    assert [p.id for p in report.problems] == ["own"]
    assert report.dropped == {"ngram": 1}
    off = loaders.load_with_report(data_config.DatasetConfig(path=pool, decontaminate=False))
    assert [p.id for p in off.problems] == ["copy", "own"]


def test_limit_counts_kept_rows_and_an_emptied_pool_is_an_error(tmp_path):
    rows = [{"id": f"f{i}", "problem": f"q {i}", "answer": "1", "bad": i < 2}
            for i in range(4)]
    pool = _write(tmp_path / "pool.jsonl", rows)
    cfg = data_config.DatasetConfig(path=pool, exclude_flags=("bad",), limit=1)
    assert [p.id for p in loaders.load_problems(cfg)] == ["f2"]
    only_bad = _write(tmp_path / "bad.jsonl", rows[:2])
    with pytest.raises(loaders.DataError, match="no problem left"):
        loaders.load_problems(data_config.DatasetConfig(path=only_bad, exclude_flags=("bad",)))


@pytest.mark.parametrize(("field", "value"), [
    ("decontaminate_ngram", 2), ("decontaminate_threshold", 0.0),
    ("decontaminate_threshold", 1.5), ("exclude_flags", ("",)),
])
def test_bad_decontamination_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        data_config.DatasetConfig(**{field: value})
