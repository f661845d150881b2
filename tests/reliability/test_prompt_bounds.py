"""Over-long problems into `generate` (issue 15): skipped with a recorded reason, never sent
to prefill (a 20K-token problem used to exhaust device memory there)."""

from __future__ import annotations

import json

import pytest

from jaxint import config as run_config
from jaxint import loop, rundir
from jaxint.data import loaders
from tests.test_pipeline import _overrides, workspace  # noqa: F401 - the tiny model + data


def _problems(ws, path, long_ids):
    rows = [json.loads(line) for line in (ws / "problems.jsonl").read_text().splitlines()]
    for row in rows:
        if row["id"] in long_ids:
            row["problem"] = row["problem"] + " and then" * 100
    rundir.write_jsonl(path, rows)
    return [r["id"] for r in rows]


def test_long_prompts_are_skipped_with_their_reason(workspace, tmp_path):  # noqa: F811
    data = tmp_path / "problems.jsonl"
    ids = _problems(workspace, data, [])
    _problems(workspace, data, [ids[1]])
    cfg = run_config.load(None, _overrides(workspace, tmp_path, ["generate"]) + [
        f"data.path={data}", "generate.max_prompt_tokens=400"])
    out = loop.Pipeline(cfg, progress=False).run()["generate"]
    assert out["skipped_long_prompts"] == 1 and out["problems"] == 5 and out["records"] == 10
    (reject,) = rundir.read_jsonl(tmp_path / "tiny" / "generate" / "rejects.jsonl")
    assert reject["problem_id"] == ids[1] and reject["reason"] == "prompt_too_long"
    assert "generate.max_prompt_tokens=400" in reject["detail"]
    records = rundir.Shards(tmp_path / "tiny" / "generate").read()
    assert ids[1] not in {r["problem_id"] for r in records}


def test_every_prompt_too_long_is_an_error_naming_the_key(workspace, tmp_path):  # noqa: F811
    cfg = run_config.load(None, _overrides(workspace, tmp_path, ["generate"]) + [
        "generate.max_prompt_tokens=5"])
    with pytest.raises(loaders.DataError, match=r"all 6 problems .* generate\.max_prompt_tokens=5"):
        loop.Pipeline(cfg, progress=False).run()
