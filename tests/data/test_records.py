"""Problem records: hashing and the to_dict -> JSONL -> loader round trip."""

import json

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
