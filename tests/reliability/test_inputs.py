"""Inputs that used to pass silently or crash far away (issue 15): empty sources, rows that
are all bad, lone surrogates, huge problems, rejects appended on every reload; stage configs
that accepted invalid sampling values; a section given as a list; a truncated last block."""

from __future__ import annotations

import json

import pytest

from jaxint import config as run_config
from jaxint import configlib
from jaxint.data import config as data_config
from jaxint.data import loaders
from jaxint.intervene import parsing

GOOD = {"id": "p1", "problem": "What is 2+2?", "answer": "4"}


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _load(path, **kw):
    return loaders.load_problems(data_config.DatasetConfig(path=str(path), **kw))


def test_empty_source_is_an_error_naming_the_file(tmp_path):
    path = _write(tmp_path / "empty.jsonl", ["", "  "])
    with pytest.raises(loaders.DataError, match=r"empty\.jsonl: no rows"):
        _load(path)


def test_every_row_rejected_is_an_error_naming_the_file_and_rejects(tmp_path):
    path = _write(tmp_path / "bad.jsonl", ['{"id": "a"}', "{oops"])
    rejects = tmp_path / "rejects.jsonl"
    cfg = data_config.DatasetConfig(path=str(path), on_bad_row="skip")
    with pytest.raises(loaders.DataError) as err:
        loaders.load_problems(cfg, rejects_path=rejects)
    msg = str(err.value)
    assert str(path) in msg and "all 2 rows were rejected" in msg and str(rejects) in msg
    assert len(rejects.read_text().splitlines()) == 2


@pytest.mark.parametrize("field", ["problem", "answer", "level"])
def test_lone_surrogate_is_rejected_at_load_with_file_line_field(tmp_path, field):
    row = dict(GOOD, id="p2", level="easy")
    row[field] = "bad \ud800 text"
    path = _write(tmp_path / "pool.jsonl", [json.dumps(GOOD), json.dumps(row)])  # \\ud800 escape
    with pytest.raises(loaders.DataError) as err:
        _load(path)
    assert (err.value.file, err.value.line, err.value.field) == (str(path), 2, field)
    assert "surrogate" in str(err.value) and "line 2" in str(err.value)


def test_surrogate_row_in_skip_mode_leaves_valid_utf8_rejects(tmp_path):
    bad = dict(GOOD, id="p2", problem="\udfff")
    path = _write(tmp_path / "pool.jsonl", [json.dumps(GOOD), json.dumps(bad)])
    rejects = tmp_path / "rejects.jsonl"
    cfg = data_config.DatasetConfig(path=str(path), on_bad_row="skip")
    assert [p.id for p in loaders.load_problems(cfg, rejects_path=rejects)] == ["p1"]
    rejects.read_bytes().decode("utf-8")  # strict: no surrogate reached the writer
    assert json.loads(rejects.read_text())["field"] == "problem"


def test_max_problem_chars_bounds_what_reaches_the_tokenizer(tmp_path):
    long = dict(GOOD, id="p2", problem="x" * 1001)
    path = _write(tmp_path / "pool.jsonl", [json.dumps(GOOD), json.dumps(long)])
    with pytest.raises(loaders.DataError) as err:
        _load(path, max_problem_chars=1000)
    assert err.value.line == 2 and err.value.field == "problem"
    assert "1001 characters > data.max_problem_chars=1000" in str(err.value)
    assert data_config.DatasetConfig().max_problem_chars < 10**7  # finite by default
    with pytest.raises(ValueError, match="max_problem_chars"):
        data_config.DatasetConfig(max_problem_chars=0)


def test_reloading_does_not_append_the_rejects_again(tmp_path):
    path = _write(tmp_path / "pool.jsonl", [json.dumps(GOOD), "{oops"])
    rejects = tmp_path / "data_rejects.jsonl"
    rejects.write_text('{"file": "other.jsonl", "line": 9}\n')
    cfg = data_config.DatasetConfig(path=str(path), on_bad_row="skip")
    for _ in range(3):  # three commands over the same run directory
        loaders.load_problems(cfg, rejects_path=rejects)
    entries = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(e["file"], e["line"]) for e in entries] == [("other.jsonl", 9), (str(path), 2)]


@pytest.mark.parametrize(("override", "key"), [
    ("generate.sampling.temperature=-1", "generate.sampling.temperature"),
    ("generate.sampling.top_p=0", "generate.sampling.top_p"),
    ("generate.sampling.top_k=-3", "generate.sampling.top_k"),
    ("generate.max_prompt_tokens=0", "generate.max_prompt_tokens"),
    ("eval.sampling.temperature=-0.5", "eval.sampling.temperature"),
    ("eval.sampling.top_p=1.5", "eval.sampling.top_p"),
    ("rl.sampling.top_p=2", "rl.sampling.top_p"),
    ("intervene.sampling.max_new_tokens=0", "intervene.sampling.max_new_tokens"),
    ("filter.sampling.top_k=-1", "filter.sampling.top_k"),
    ("select.sampling.cache_dtype=int8", "select.sampling.cache_dtype"),
    ("rl.optimizer.lr=0", "rl.optimizer.lr"),
])
def test_stage_sampling_fields_fail_at_load_under_their_own_key(override, key):
    """A nested section's check names its full key (`generate.sampling.top_p`), not only its
    own (`sampling.top_p`)."""
    with pytest.raises(configlib.ConfigError, match=f"line: {key.replace('.', '[.]')} must be"):
        run_config.load(None, [override])


@pytest.mark.parametrize("yaml_text", ["sft: [1, 2]\n", "generate: 3\n"])
def test_a_section_given_as_a_scalar_or_list_names_its_key(tmp_path, yaml_text):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(configlib.ConfigError) as err:
        run_config.load(path)
    key = yaml_text.split(":")[0]
    assert f"key '{key}'" in str(err.value) and "'?'" not in str(err.value)
    assert "section" in str(err.value) and str(path) in str(err.value)


def test_optional_section_may_still_be_cleared():
    assert run_config.load(None, ["demo=null"]).demo is None


GOOD_BLOCK = '<intervention>{"content": "Use 3*4 = 12.", "location": 2}</intervention>\n'


@pytest.mark.parametrize("tail", [
    '<intervention>{"content": "}',
    '<intervention>{"content": "Use 5}',
    '<intervention>{"location": 2, "content": "Use 5}',
])
def test_truncated_last_block_is_unparseable_not_empty_or_accepted(tail):
    proposal = parsing.parse(GOOD_BLOCK + tail, num_steps=3, gold_answer=None)
    assert proposal.rejected == "unparseable", proposal


@pytest.mark.parametrize(("escape", "want"), [
    (r"\ud800", "\\ud800"),  # a lone high half stays literal text
    (r"\ude00", "\\ude00"),  # a lone low half too
    (r"\ud83d\ude00", "\U0001F600"),  # a real pair still decodes
])
def test_surrogate_escape_in_a_payload_cannot_reach_a_writer(escape, want):
    body = '{"content": "fix ' + escape + ' here", "location": 2}'
    proposal = parsing.parse(f"<intervention>{body}</intervention>", num_steps=3,
                             gold_answer=None)
    assert proposal.accepted and proposal.content == f"fix {want} here"
    proposal.content.encode("utf-8")  # strict: encodable
