"""Stage `select` (hard-problem selection): the kept pool and its stats against hand-made
counts, `jaxint select` on a bundled set with a tiny model (SIGTERM after a committed shard,
then an exact resume), `generate` reading the kept pool, and the config checks."""

from __future__ import annotations

import json
import pathlib

import pytest

from jaxint import cli, drift, loop, rundir
from jaxint import config as run_config
from jaxint.data import loaders, records
from jaxint.stages import config as stages_config
from jaxint.stages import select
from tests.test_pipeline import _overrides, workspace  # noqa: F401 - the tiny model + data

SELECT = ["select.samples=2", "select.sampling.max_new_tokens=8", "select.shard_size=2",
          "select.sampling.max_batch_slots=8", "select.sampling.chunk_steps=4"]


def _select_overrides(ws: pathlib.Path, out: pathlib.Path, data: str = "math500",
                      stages=("select",)) -> list[str]:
    return [*_overrides(ws, out, list(stages)), f"data.path={data}",
            "data.require_solution=false", "select.limit=5", *SELECT]


def test_pool_and_stats_hand_computed(tmp_path):
    """max_correct=1 keeps the problems with 0 or 1 of 4 correct; a skipped (too long)
    problem is neither scored nor kept."""
    rows = [records.SolveCount("a", 4, 0), records.SolveCount("b", 4, 1),
            records.SolveCount("c", 4, 3), records.SolveCount("d", 4, 0),
            records.SolveCount("e", 0, 0, skipped="prompt_too_long", prompt_tokens=9000)]
    cfg = stages_config.SelectConfig(samples=4, max_correct=1)
    run_dir = rundir.RunDir(tmp_path / "run")
    summary = select.write_pool(run_dir, cfg, rows)
    assert summary == {"problems": 5, "kept": 3, "kept_frac": 0.75, "skipped_long_prompts": 1,
                       "mean_solve_rate": pytest.approx((0 + 0.25 + 0.75 + 0) / 4)}
    kept = [r["problem_id"] for r in rundir.read_jsonl(tmp_path / "run/select/pool.jsonl")]
    assert kept == ["a", "b", "d"]
    stats = json.loads((tmp_path / "run/select/stats.json").read_text())
    assert stats["num_correct_histogram"] == {"0": 2, "1": 1, "3": 1}


def test_select_cli_sigterm_then_resume_on_a_bundled_set(workspace, tmp_path,  # noqa: F811
                                                        monkeypatch):
    """SIGTERM while shard 0 is written: the shard is committed and the CLI exits 143; the
    same command then scores the rest (3 shards of 2, 2, 1 problems) and writes the pool:
    a random tiny model solves nothing, so all 5 are kept with 0 of 2 correct."""
    from jaxint.train import preemption

    args = ["--quiet", "select", "-", *_select_overrides(workspace, tmp_path)]
    args[2] = str(_empty_config(tmp_path))
    real_write = rundir.write_jsonl

    def write_then_signal(path, records):
        real_write(path, records)
        if path.name == "shard-00000.jsonl":
            preemption.request()

    monkeypatch.setattr(rundir, "write_jsonl", write_then_signal)
    try:
        assert cli.main(args) == 143
    finally:
        preemption.clear()
    stage = tmp_path / "tiny" / "select"
    assert rundir.Shards(stage).indices() == [0]
    assert not (stage / "pool.jsonl").exists()
    first = (stage / "shard-00000.jsonl").read_text()
    monkeypatch.setattr(rundir, "write_jsonl", real_write)
    assert cli.main(args) == 0
    assert rundir.Shards(stage).indices() == [0, 1, 2]
    assert (stage / "shard-00000.jsonl").read_text() == first  # not redone
    pool = list(rundir.read_jsonl(stage / "pool.jsonl"))
    assert [(r["samples"], r["num_correct"]) for r in pool] == [(2, 0)] * 5
    stats = json.loads((stage / "stats.json").read_text())
    assert stats["kept"] == 5 and stats["num_correct_histogram"] == {"0": 5}
    manifest = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    assert manifest["stages"]["select"]["status"] == "done"


def _empty_config(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "empty.yaml"
    path.write_text("name: tiny\n")
    return path


def test_generate_reads_the_kept_pool(workspace, tmp_path):  # noqa: F811
    """After select, generate rolls out only the kept problems (here the pool is cut to two
    of the six by hand: the tiny model would keep all)."""
    data = str(workspace / "problems.jsonl")
    overrides = _select_overrides(workspace, tmp_path, data=data)
    loop.Pipeline(run_config.load(None, overrides), progress=False).run()
    pool_path = tmp_path / "tiny" / "select" / "pool.jsonl"
    rows = list(rundir.read_jsonl(pool_path))
    rundir.write_jsonl(pool_path, rows[1:3])
    gen = _select_overrides(workspace, tmp_path, data=data, stages=("generate",))
    out = loop.Pipeline(run_config.load(None, gen), progress=False).run()
    assert out["generate"]["problems"] == 2
    ids = {r["problem_id"] for r in rundir.Shards(tmp_path / "tiny" / "generate").read()}
    assert ids == {rows[1]["problem_id"], rows[2]["problem_id"]}
    rundir.write_jsonl(pool_path, [])
    with pytest.raises(loaders.DataError, match="kept pool is empty"):
        select.kept_problems(rundir.RunDir(tmp_path / "tiny"), [])


def test_select_config_drift_and_defaults(workspace, tmp_path):  # noqa: F811
    """select is off by default; a changed select section stops a rerun of select."""
    assert "select" not in run_config.RunConfig().stages
    overrides = _select_overrides(workspace, tmp_path, data=str(workspace / "problems.jsonl"))
    loop.Pipeline(run_config.load(None, overrides), progress=False).run()
    with pytest.raises(drift.ConfigDriftError, match="select.max_correct: 0 -> 1"):
        loop.Pipeline(run_config.load(None, [*overrides, "select.max_correct=1"]),
                      progress=False).run()


@pytest.mark.parametrize("override,message", [
    ("select.samples=0", "select.samples must be >= 1"),
    ("select.max_correct=5", "select.max_correct must be in 0..select.samples"),
    ("select.sampling.temperature=-1", "select.sampling.temperature must be a finite number"),
    ("select.sampling.top_p=0", "select.sampling.top_p must be in"),
    ("select.sampling.top_k=-2", "select.sampling.top_k must be >= 0"),
])
def test_select_settings_are_checked_at_load(override, message):
    with pytest.raises(Exception, match=message):
        run_config.load(None, ["select.samples=4", override])
