"""Records: Problem hashing and its JSONL round trip; Intervention rows read and written back."""

import json

import pytest

from jaxint.data import config, loaders, records, synthetic


def test_records_round_trip_through_jsonl(tmp_path):
    problems = synthetic.make_problems(5, seed=2)
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems))
    assert loaders.load_problems(config.DatasetConfig(path=str(path))) == problems


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
