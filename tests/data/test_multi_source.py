"""`data.path` as a list: one pool from several sources, in order, ids unique across them."""

import json

import pytest

from jaxint import config as run_config
from jaxint import configlib
from jaxint.data import config as data_config
from jaxint.data import loaders


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_sources_load_in_order_and_keep_their_source(tmp_path):
    a = _write(tmp_path / "a.jsonl", [{"id": "a1", "problem": "p", "answer": "1"}])
    b = _write(tmp_path / "b.jsonl", [{"id": "b1", "problem": "q", "answer": "2",
                                       "source": "B set"}])
    problems = loaders.load_problems(data_config.DatasetConfig(path=[a, b]))
    assert [(p.id, p.source) for p in problems] == [("a1", "a"), ("b1", "B set")]


def test_bundled_hard_sets_combine_without_id_clashes():
    cfg = data_config.DatasetConfig(path=["aime-1983-2023", "olympiadbench"], decontaminate=False)
    problems = loaders.load_problems(cfg)
    assert len(problems) == 975 + 675
    assert len({p.id for p in problems}) == 975 + 675


def test_an_id_repeated_in_another_source_names_both_files(tmp_path):
    a = _write(tmp_path / "a.jsonl", [{"id": "p1", "problem": "p", "answer": "1"}])
    b = _write(tmp_path / "b.jsonl", [{"id": "p2", "problem": "q", "answer": "1"},
                                      {"id": "p1", "problem": "r", "answer": "1"}])
    with pytest.raises(loaders.DataError) as err:
        loaders.load_problems(data_config.DatasetConfig(path=[a, b]))
    assert (err.value.file, err.value.line, err.value.field) == (b, 2, "id")
    assert f"first at {a} line 1" in str(err.value)


def test_a_bad_row_in_the_second_source_names_its_file_and_line(tmp_path, capsys):
    a = _write(tmp_path / "a.jsonl", [{"id": "a1", "problem": "p", "answer": "1"}])
    b = _write(tmp_path / "b.jsonl", [{"id": "b1", "problem": "q", "answer": "1"},
                                      {"id": "b2", "answer": "1"}])
    with pytest.raises(loaders.DataError, match=r"b\.jsonl: line 2: field 'problem'"):
        loaders.load_problems(data_config.DatasetConfig(path=[a, b]))
    rejects = tmp_path / "rejects.jsonl"
    cfg = data_config.DatasetConfig(path=[a, b], on_bad_row="skip")
    report = loaders.load_with_report(cfg, rejects_path=rejects)
    assert [p.id for p in report.problems] == ["a1", "b1"]
    assert json.loads(rejects.read_text())["file"] == b


def test_an_unknown_source_in_the_list_fails_before_reading(tmp_path):
    a = _write(tmp_path / "a.jsonl", [{"id": "a1", "problem": "p", "answer": "1"}])
    with pytest.raises(loaders.DataError, match="no-such-file"):
        loaders.load_problems(data_config.DatasetConfig(path=[a, "no-such-file.jsonl"]))


def test_path_list_from_yaml_and_overrides(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("data:\n  path: [aime-1983-2023, olympiadbench]\n")
    cfg = run_config.load(yaml_file)
    assert cfg.data.paths == ("aime-1983-2023", "olympiadbench")
    cfg = run_config.load(None, ["data.path=[math500,aime24]"])
    assert cfg.data.path == ("math500", "aime24")
    assert run_config.load(None, ["data.path=math500"]).data.paths == ("math500",)
    assert configlib.to_dict(cfg)["data"]["path"] == ["math500", "aime24"]


@pytest.mark.parametrize("path", [[], ["a.jsonl", "a.jsonl"], ["ok.jsonl", ""]])
def test_bad_path_lists_are_config_errors(path):
    with pytest.raises(ValueError, match="DatasetConfig.path"):
        data_config.DatasetConfig(path=path)
