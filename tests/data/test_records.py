"""Records: Problem hashing and its JSONL round trip; Intervention rows read and written back."""

import json

import pytest

from jaxint.data import config as data_config
from jaxint.data import loaders, records, synthetic


def test_records_round_trip_through_jsonl(tmp_path):
    problems = synthetic.make_problems(5, seed=2)
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems))
    assert loaders.load_problems(data_config.DatasetConfig(path=str(path))) == problems


def test_records_hash_without_meta():
    a = records.Problem("1", "q", "a", None, "s", {"level": 1})
    b = records.Problem("1", "q", "a", None, "s", {"level": 2})
    assert hash(a) == hash(b) and a != b
    assert a.to_dict() == {
        "id": "1",
        "problem": "q",
        "answer": "a",
        "solution": None,
        "source": "s",
        "meta": {"level": 1},
    }


ROW = {"problem_id": "p", "sample_index": 2, "proposal_index": 1, "location": 2,
       "content": "3 + 4 = 7", "num_steps": 3, "steps": ["1 + 2 = 3", "3 + 4 = 8", "\\boxed{8}"],
       "prefix": "1 + 2 = 3\n\n", "intervention": "3 + 4 = 7", "target": "1 + 2 = 3\n\n3 + 4 = 7"}


def test_an_intervention_row_reads_and_writes_back_unchanged():
    rec = records.Intervention.from_json(ROW)
    assert rec.target == ROW["target"] and rec.steps == tuple(ROW["steps"])
    assert rec.to_json() == ROW and list(rec.to_json()) == list(ROW)  # keys in the same order
    kept = {**ROW, "num_samples": 4, "num_correct": 1, "note": "mine"}
    assert records.Intervention.from_json(kept).to_json() == kept  # filter counts, user keys


def test_an_intervention_row_missing_a_key_or_from_a_later_schema_is_refused():
    with pytest.raises(ValueError, match=r"lacks \['prefix'\]: problem_id='p'"):
        records.Intervention.from_json({k: v for k, v in ROW.items() if k != "prefix"})
    with pytest.raises(ValueError, match="schema 2"):
        records.Intervention.from_json({**ROW, "schema": records.SCHEMA_VERSION + 1})


# Rows as the stages wrote them before the records existed (key order included).
ROWS = {
    records.Rollout: {"problem_id": "p", "sample_index": 1, "completion": "1 + 1 = 2",
                      "num_tokens": 7, "finish_reason": "stop"},
    records.Attempt: {"problem_id": "p", "sample_index": 1, "completion": "1 + 1 = 3",
                      "num_tokens": 7, "finish_reason": "length", "reward": 0.0,
                      "extracted": None, "reason": "no_box"},
    records.Continuation: {"problem_id": "p", "sample_index": 0, "location": 2,
                           "num_samples": 3, "num_correct": 1, "kept": True,
                           "rewards": [0, 1, 0], "lengths": [5, 8, 8], "first_correct": "x"},
    records.SolveCount: {"problem_id": "p", "samples": 4, "num_correct": 0},
    records.EvalResult: {"problem_id": "p", "answer": "2", "n": 2, "num_correct": 1,
                         "rewards": [1, 0], "reasons": ["correct", "wrong"], "lengths": [3, 4],
                         "completions": ["\\boxed{2}", "\\boxed{3}"]},
    records.Problem: {"id": "p", "problem": "1 + 1?", "answer": "2", "solution": None,
                      "source": "s", "meta": {"level": 1}},
}
SKIPPED = {
    records.Continuation: {"problem_id": "p", "sample_index": 0, "location": 2,
                           "num_samples": 0, "num_correct": 0, "kept": False, "rewards": [],
                           "lengths": [], "first_correct": None, "rejected": "prompt_too_long",
                           "prompt_tokens": 9, "detail": "prompt has 9 tokens > 8"},
    records.SolveCount: {"problem_id": "p", "samples": 0, "num_correct": 0,
                         "skipped": "prompt_too_long", "prompt_tokens": 9},
}


@pytest.mark.parametrize("row", [*ROWS.items(), *SKIPPED.items()],
                         ids=lambda kv: kv[0].__name__ if isinstance(kv, tuple) else "")
def test_a_row_reads_and_writes_back_unchanged_with_its_unknown_keys(row):
    kind, row = row
    assert kind.from_json(row).to_json() == row
    assert list(kind.from_json(row).to_json()) == list(row)  # the same key order
    mine = {**row, "note": "mine"}
    if kind is records.Problem:  # as the loaders do, unknown keys go to meta
        mine = {**row, "meta": {**row["meta"], "note": "mine"}}
    assert kind.from_json(mine).to_json() == mine


def test_an_attempt_keeps_the_rollouts_keys_before_its_verdict():
    row = {**ROWS[records.Rollout], "mine": 1, "reward": 1.0, "extracted": "2",
           "reason": "correct", "later": 2}
    attempt = records.Attempt.from_json(row)
    assert attempt.rollout.extra == {"mine": 1} and attempt.extra == {"later": 2}
    assert attempt.correct and list(attempt.to_json()) == list(row)


def test_a_hand_made_rollout_needs_only_its_text():
    rollout = records.Rollout.from_json({"problem_id": 3, "sample_index": "0",
                                         "completion": "x"})
    assert (rollout.problem_id, rollout.sample_index, rollout.num_tokens) == ("3", 0, None)
    assert rollout.to_json() == {"problem_id": "3", "sample_index": 0, "completion": "x"}


def test_an_sft_example_round_trips():
    ex = records.SFTExample("p", "1 + 1?", (("prefix", "a\n\n", True),
                                             ("intervention", "b", True)), add_eos=False)
    assert records.SFTExample.from_json(json.loads(json.dumps(ex.to_json()))) == ex
    assert ex.response == "a\n\nb"


@pytest.mark.parametrize("kind", list(ROWS))
def test_a_row_of_a_later_schema_is_refused(kind):
    with pytest.raises(records.RecordError, match=f"schema {kind.SCHEMA + 1}"):
        kind.from_json({**ROWS[kind], "schema": kind.SCHEMA + 1})
    assert kind.from_json({**ROWS[kind], "schema": kind.SCHEMA}) == kind.from_json(ROWS[kind])


def test_a_missing_key_is_one_line_naming_the_file_and_the_line(tmp_path):
    from jaxint import rundir

    path = tmp_path / "shard-00000.jsonl"
    good = ROWS[records.Attempt]
    bad = {k: v for k, v in good.items() if k != "reward"}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(records.RecordError) as err:
        rundir.read_records(path, records.Attempt)
    assert str(err.value) == (f"{path}:3: attempt row lacks ['reward']: problem_id='p', "
                              "sample_index=1")
    path.write_text(json.dumps({**good, "sample_index": "two"}) + "\n")
    with pytest.raises(records.RecordError, match=f"{path}:1: not a valid Attempt row"):
        rundir.read_records(path, records.Attempt)
    path.write_text("[1, 2]\n")
    with pytest.raises(records.RecordError, match="not an object"):
        rundir.read_records(path, records.Attempt)


def test_a_bad_row_is_a_user_error_for_the_cli(capsys):
    from jaxint import cli

    code = cli.report_error(records.RecordError("f.jsonl:3: attempt row lacks ['reward']"))
    assert code == 2 and "f.jsonl:3" in capsys.readouterr().err
