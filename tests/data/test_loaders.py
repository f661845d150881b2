"""Problem loaders: formats, field mapping, and every kind of bad row in both modes."""

import gzip
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jaxint.data import config as data_config
from jaxint.data import loaders

GOOD = [
    {"id": "p1", "problem": "What is 1+1?", "answer": "2", "solution": "1+1=2", "source": "toy"},
    {"id": "p2", "problem": "What is 2+2?", "answer": "4", "solution": None, "source": "toy"},
]
LAST = {"id": "p4", "problem": "What is 3+3?", "answer": "6", "source": "toy"}


def write_jsonl(path, lines):
    """Writes raw lines (str or bytes objects, or dicts dumped as JSON) one per line."""
    with open(path, "wb") as handle:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            if isinstance(line, str):
                line = line.encode("utf-8")
            handle.write(line + b"\n")


# (name, raw line 3, config overrides, expected field in the error)
BAD_ROWS = [
    ("invalid json", '{"id": "p3", "problem": "x", ', {}, "(row)"),
    ("invalid utf8", b'{"id": "p3", "problem": "\xff\xfe", "answer": "1"}', {}, "(row)"),
    ("not an object", "[1, 2, 3]", {}, "(row)"),
    ("missing problem", {"id": "p3", "answer": "1"}, {}, "problem"),
    ("null problem", {"id": "p3", "problem": None, "answer": "1"}, {}, "problem"),
    ("empty problem", {"id": "p3", "problem": "   ", "answer": "1"}, {}, "problem"),
    ("problem wrong type", {"id": "p3", "problem": 12, "answer": "1"}, {}, "problem"),
    ("missing answer", {"id": "p3", "problem": "x"}, {}, "answer"),
    ("empty answer", {"id": "p3", "problem": "x", "answer": ""}, {}, "answer"),
    ("answer list", {"id": "p3", "problem": "x", "answer": [1, 2]}, {}, "answer"),
    ("answer bool", {"id": "p3", "problem": "x", "answer": True}, {}, "answer"),
    ("answer nan", {"id": "p3", "problem": "x", "answer": float("nan")}, {}, "answer"),
    ("id wrong type", {"id": [3], "problem": "x", "answer": "1"}, {}, "id"),
    ("empty id", {"id": "", "problem": "x", "answer": "1"}, {}, "id"),
    (
        "solution wrong type",
        {"id": "p3", "problem": "x", "answer": "1", "solution": 5},
        {},
        "solution",
    ),
    ("source wrong type", {"id": "p3", "problem": "x", "answer": "1", "source": 5}, {}, "source"),
    (
        "required solution missing",
        {"id": "p3", "problem": "x", "answer": "1"},
        {"require_solution": True},
        "solution",
    ),
    ("duplicate id", {"id": "p1", "problem": "x", "answer": "1"}, {}, "id"),
    (
        "mapped key missing",
        {"id": "p3", "problem": "x", "answer": "1"},
        {"problem_key": "question"},
        "question",
    ),
]
BAD_IDS = [row[0] for row in BAD_ROWS]


def bad_file(tmp_path, raw, overrides):
    good = GOOD
    if "require_solution" in overrides:
        good = [dict(GOOD[0]), dict(GOOD[1], solution="2+2=4")]
    if "problem_key" in overrides:  # the good rows use the mapped name
        good = [{("question" if k == "problem" else k): v for k, v in row.items()} for row in good]
    last = {
        ("question" if k == "problem" and "problem_key" in overrides else k): v
        for k, v in LAST.items()
    }
    if "require_solution" in overrides:
        last["solution"] = "3+3=6"
    path = tmp_path / "pool.jsonl"
    write_jsonl(path, [*good, raw, last])
    return path


@pytest.mark.parametrize(("name", "raw", "overrides", "field"), BAD_ROWS, ids=BAD_IDS)
def test_bad_row_error_names_file_line_and_field(tmp_path, name, raw, overrides, field):
    path = bad_file(tmp_path, raw, overrides)
    cfg = data_config.DatasetConfig(path=str(path), **overrides)
    with pytest.raises(loaders.DataError) as err:
        loaders.load_problems(cfg)
    message = str(err.value)
    assert str(path) in message
    assert "line 3" in message
    assert f"'{field}'" in message
    assert (err.value.file, err.value.line, err.value.field) == (str(path), 3, field)
    if name == "duplicate id":
        assert "line 1" in message  # both lines are named


@pytest.mark.parametrize(("name", "raw", "overrides", "field"), BAD_ROWS, ids=BAD_IDS)
def test_bad_row_skip_counts_and_writes_rejects(tmp_path, name, raw, overrides, field):
    path = bad_file(tmp_path, raw, overrides)
    rejects = tmp_path / "out" / "rejects.jsonl"
    cfg = data_config.DatasetConfig(path=str(path), on_bad_row="skip", **overrides)
    report = loaders.load_with_report(cfg, rejects_path=rejects)
    assert [p.id for p in report.problems] == ["p1", "p2", "p4"]
    assert (report.num_read, report.num_skipped) == (4, 1)
    assert report.rejects_path == str(rejects)
    entries = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert len(entries) == 1
    assert (entries[0]["line"], entries[0]["field"], entries[0]["file"]) == (3, field, str(path))
    assert entries[0]["reason"]
    if name == "not an object":
        assert entries[0]["raw"] == [1, 2, 3]
    elif isinstance(raw, str):  # unparseable: the line's text
        assert entries[0]["raw"] == raw
    elif isinstance(raw, bytes):  # undecodable: the line with replacement characters
        assert entries[0]["raw"].startswith('{"id": "p3"')
    elif name != "answer nan":  # NaN is not JSON; it is written as Python writes it
        assert entries[0]["raw"] == raw


def test_skip_mode_appends_to_existing_rejects_and_logs(tmp_path, caplog):
    path = tmp_path / "pool.jsonl"
    write_jsonl(path, [GOOD[0], "{oops", {"id": "x"}, GOOD[1]])
    rejects = tmp_path / "rejects.jsonl"
    rejects.write_text('{"earlier": true}\n')
    cfg = data_config.DatasetConfig(path=str(path), on_bad_row="skip")
    problems = loaders.load_problems(cfg, rejects_path=rejects)
    assert [p.id for p in problems] == ["p1", "p2"]
    lines = rejects.read_text().splitlines()
    assert json.loads(lines[0]) == {"earlier": True}
    assert [json.loads(line)["line"] for line in lines[1:]] == [2, 3]
    assert "skipped 2 bad rows of 4" in caplog.text


def test_no_rejects_file_when_nothing_rejected(tmp_path):
    path = tmp_path / "pool.jsonl"
    write_jsonl(path, GOOD)
    report = loaders.load_with_report(
        data_config.DatasetConfig(path=str(path), on_bad_row="skip"),
        rejects_path=tmp_path / "r.jsonl"
    )
    assert report.num_skipped == 0 and report.rejects_path is None
    assert not (tmp_path / "r.jsonl").exists()


def test_field_mapping_conversions_and_meta(tmp_path):
    path = tmp_path / "amc_like.jsonl"
    write_jsonl(
        path,
        [
            {"question": "Q0", "gold": 27.0, "level": 3},
            "",  # blank lines are not rows, but still count for line numbers
            {"question": "Q2", "gold": 0.5, "reference_solution": "half", "url": "u"},
            {"uid": 7, "question": "Q3", "gold": 12},
        ],
    )
    cfg = data_config.DatasetConfig(
        path=str(path),
        id_key="uid",
        problem_key="question",
        answer_key="gold",
        solution_key="reference_solution",
    )
    problems = loaders.load_problems(cfg)
    assert [p.id for p in problems] == ["amc_like-0", "amc_like-2", "7"]
    assert [p.answer for p in problems] == ["27", "0.5", "12"]
    assert [p.solution for p in problems] == [None, "half", None]
    assert [p.source for p in problems] == ["amc_like"] * 3
    assert problems[0].meta == {"level": 3}
    assert problems[1].meta == {"url": "u"}


def test_blank_line_keeps_line_numbers_in_errors(tmp_path):
    path = tmp_path / "pool.jsonl"
    write_jsonl(path, [GOOD[0], "", "   ", {"id": "z", "problem": "q"}])
    with pytest.raises(loaders.DataError, match="line 4"):
        loaders.load_problems(data_config.DatasetConfig(path=str(path)))


def test_empty_solution_is_none_and_limit(tmp_path):
    path = tmp_path / "pool.jsonl"
    write_jsonl(path, [dict(GOOD[0], solution="  "), GOOD[1], {"broken": True}])
    problems = loaders.load_problems(data_config.DatasetConfig(path=str(path), limit=2))
    assert [p.id for p in problems] == ["p1", "p2"]  # the bad third row is never read
    assert problems[0].solution is None


def expected_problems():
    return [("p1", "What is 1+1?", "2", "1+1=2", "toy"), ("p2", "What is 2+2?", "4", None, "toy")]


def as_tuples(problems):
    return [(p.id, p.problem, p.answer, p.solution, p.source) for p in problems]


def test_json_gz_and_parquet_give_the_same_problems(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(GOOD))
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as handle:
        handle.write("\n".join(json.dumps(row) for row in GOOD) + "\n")
    with gzip.open(tmp_path / "c.json.gz", "wt") as handle:
        handle.write(json.dumps(GOOD))
    pq.write_table(pa.Table.from_pylist(GOOD), tmp_path / "d.parquet")
    for name in ("a.json", "b.jsonl.gz", "c.json.gz", "d.parquet"):
        cfg = data_config.DatasetConfig(path=str(tmp_path / name))
        assert as_tuples(loaders.load_problems(cfg)) == expected_problems(), name


def test_parquet_bad_row_names_row(tmp_path):
    rows = [GOOD[0], dict(GOOD[1], answer=None)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    with pytest.raises(loaders.DataError) as err:
        loaders.load_problems(data_config.DatasetConfig(path=str(tmp_path / "d.parquet")))
    assert "row 2" in str(err.value) and err.value.field == "answer"


def test_json_list_bad_row_and_whole_file_errors(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([GOOD[0], {"id": "q", "problem": 3}]))
    with pytest.raises(loaders.DataError) as err:
        loaders.load_problems(data_config.DatasetConfig(path=str(tmp_path / "a.json")))
    assert (err.value.line, err.value.field) == (2, "problem") and "row 2" in str(err.value)
    (tmp_path / "b.json").write_text(json.dumps({"rows": GOOD}))
    with pytest.raises(loaders.DataError, match="list of objects"):
        loaders.load_problems(data_config.DatasetConfig(path=str(tmp_path / "b.json")))
    (tmp_path / "c.json").write_text("[{")
    with pytest.raises(loaders.DataError, match="invalid JSON"):
        loaders.load_problems(data_config.DatasetConfig(path=str(tmp_path / "c.json")))


def test_unknown_sources_are_clear_errors(tmp_path):
    with pytest.raises(loaders.DataError, match="math500"):  # lists the bundled names
        loaders.load_problems(data_config.DatasetConfig(path=str(tmp_path / "missing.jsonl")))
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(loaders.DataError, match="unsupported file type"):
        loaders.load_problems(data_config.DatasetConfig(path=str(tmp_path / "x.csv")))


@pytest.mark.parametrize("spec", ["hf:some-org/some-set:test", "LOCAL_DIR"])
def test_hf_without_datasets_says_how_to_install(tmp_path, monkeypatch, spec):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    path = str(tmp_path) if spec == "LOCAL_DIR" else spec
    with pytest.raises(ImportError, match=r"pip install 'jaxint\[hf\]'"):
        loaders.load_problems(data_config.DatasetConfig(path=path))
