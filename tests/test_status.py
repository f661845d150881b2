"""`jaxint status RUN_DIR` on run directories built by hand: a finished run, and one whose
GRPO stage another process is still writing (a half-written metrics line, a checkpoint being
saved under orbax's temporary name)."""

from __future__ import annotations

import datetime
import json
import pathlib

import pytest
import yaml

from jaxint import cli, status

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def _at(seconds: float) -> str:
    return (T0 + datetime.timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _lines(path: pathlib.Path, rows: list[dict], tail: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def _base_run(root: pathlib.Path) -> None:
    """generate (2 shards) and sft (4 steps, checkpoint 4) done."""
    (root / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(yaml.safe_dump({
        "name": "r1", "stages": ["generate", "sft", "rl"], "rl_baseline": False,
        "sft": {"max_steps": 4}, "rl": {"steps": 10}}))
    for k in range(2):
        _lines(root / "generate" / f"shard-{k:05d}.jsonl", [{"id": k}])
    _lines(root / "generate" / "metrics.jsonl",
           [{"time": _at(k), "shard": k, "of": 2, "tokens_per_s": 100.0 + k} for k in range(2)])
    _lines(root / "sft" / "metrics.jsonl",
           [{"time": _at(10 + s), "step": s, "loss": 2.0 / s} for s in range(1, 5)]
           + [{"time": _at(15), "final": True, "steps": 4, "train_loss": 0.5}])
    (root / "sft" / "checkpoints" / "4").mkdir(parents=True)
    (root / "sft" / "checkpoints" / "2").mkdir(parents=True)


def _manifest(root: pathlib.Path, stages: dict) -> None:
    (root / "manifest.json").write_text(json.dumps({"stages": stages}))


@pytest.fixture
def finished(tmp_path) -> pathlib.Path:
    root = tmp_path / "r1"
    _base_run(root)
    _lines(root / "rl" / "metrics.jsonl",
           [{"time": _at(100 + 10 * s), "step": s, "reward_mean": s / 10} for s in range(1, 11)])
    (root / "rl" / "checkpoints" / "10").mkdir(parents=True)
    _manifest(root, {
        "generate": {"status": "done", "updated": _at(2), "wall_s": 2.0,
                     "summary": {"records": 2, "shards": 2}},
        "sft": {"status": "done", "updated": _at(16), "wall_s": 6.0, "summary": {"steps": 4}},
        "rl": {"status": "done", "updated": _at(200), "wall_s": 100.0},
    })
    return root


@pytest.fixture
def half_finished(tmp_path) -> pathlib.Path:
    """GRPO at step 3 of 10, 10 s a step, with a line being appended and a checkpoint being
    written (`4.orbax-checkpoint-tmp-…`) after the finished one at step 2."""
    root = tmp_path / "r1"
    _base_run(root)
    rows = [{"time": _at(100 + 10 * s), "step": s, "reward_mean": s / 10} for s in range(1, 4)]
    _lines(root / "rl" / "metrics.jsonl", rows, tail='{"time": "2026-01-01T12:02:10", "st')
    (root / "rl" / "checkpoints" / "2").mkdir(parents=True)
    (root / "rl" / "checkpoints" / "4.orbax-checkpoint-tmp-1234").mkdir(parents=True)
    _manifest(root, {
        "generate": {"status": "done", "updated": _at(2), "wall_s": 2.0,
                     "summary": {"records": 2, "shards": 2}},
        "sft": {"status": "done", "updated": _at(16), "wall_s": 6.0, "summary": {"steps": 4}},
        "rl": {"status": "running", "updated": _at(95)},
    })
    return root


def _by_stage(st: dict) -> dict[str, dict]:
    return {s["stage"]: s for s in st["stages"]}


def test_finished_run(finished):
    st = status.collect(finished, now=T0.timestamp() + 300)
    assert st["state"] == "finished"
    stages = _by_stage(st)
    assert list(stages) == ["generate", "sft", "rl"]
    gen, sft, rl = stages["generate"], stages["sft"], stages["rl"]
    assert (gen["status"], gen["done"], gen["planned"], gen["unit"]) == ("done", 2, 2, "shards")
    assert gen["records"] == 2 and gen["wall_s"] == 2.0
    assert (sft["done"], sft["planned"], sft["checkpoint_step"]) == (4, 4, 4)
    assert sft["last_metrics"]["loss"] == 0.5  # the last step row, not the final summary
    assert (rl["done"], rl["planned"], rl["checkpoint_step"], rl["eta_s"]) == (10, 10, 10, None)
    assert rl["last_metrics"] == {"reward_mean": 1.0}


def test_half_finished_run(half_finished):
    now = T0.timestamp() + 135  # 40 s after the stage was marked running
    st = status.collect(half_finished, now=now)
    assert st["state"] == "in progress"
    rl = _by_stage(st)["rl"]
    assert rl["status"] == "running"
    assert (rl["done"], rl["planned"]) == (3, 10)  # the torn 4th line is skipped
    assert rl["checkpoint_step"] == 2  # the step being saved is not on disk yet
    assert rl["wall_s"] == 40.0
    assert rl["eta_s"] == pytest.approx(70.0)  # 7 steps left at 10 s a step
    assert rl["last_metrics"] == {"reward_mean": pytest.approx(0.3)}


def test_text_table_and_cli(half_finished, capsys, monkeypatch):
    monkeypatch.setattr(status.time, "time", lambda: T0.timestamp() + 135)
    assert cli.main(["status", str(half_finished)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(": in progress")
    assert out[1].split() == ["stage", "status", "wall", "progress", "checkpoint", "last",
                              "metrics", "eta"]
    rl = next(line for line in out if line.startswith("rl "))
    assert rl.split() == ["rl", "running", "40s", "3/10", "steps", "step", "2",
                          "reward_mean=0.3", "1m10s"]
    sft = next(line for line in out if line.startswith("sft "))
    assert "4/4 steps" in sft and "step 4" in sft and "loss=0.5" in sft
    gen = next(line for line in out if line.startswith("generate "))
    assert "2/2 shards, 2 records" in gen


def test_json_output(finished, capsys):
    assert cli.main(["status", str(finished), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["state"] == "finished"
    assert [s["stage"] for s in data["stages"]] == ["generate", "sft", "rl"]


def test_watch_draws_with_rich_and_stops_when_the_run_is_done(finished, capsys, monkeypatch):
    pytest.importorskip("rich")
    monkeypatch.setenv("COLUMNS", "160")
    assert status.show(str(finished), watch=True, interval=0.01) == 0
    out = capsys.readouterr().out
    assert "generate" in out and "reward_mean=1" in out


def test_a_run_with_no_manifest_yet_and_a_missing_dir(tmp_path, capsys):
    root = tmp_path / "new"
    (root / "generate").mkdir(parents=True)
    (root / "manifest.json").write_text('{"stages": {"gen')  # torn (never by jaxint itself)
    st = status.collect(root)
    assert [(s["stage"], s["status"]) for s in st["stages"]] == []
    assert cli.main(["status", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_planned_steps_from_the_trainer_and_unlisted_training_stages(tmp_path):
    root = tmp_path / "r"
    (root / "sft").mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump({"stages": ["sft", "rl", "eval"],
                                                      "sft": {"max_steps": None},
                                                      "rl": {"steps": 8}}))
    (root / "rl").mkdir()
    _manifest(root, {"rl": {"status": "running", "updated": _at(0)}})
    _lines(root / "sft" / "metrics.jsonl", [{"step": 5, "total_steps": 40, "loss": 1.0}])
    _lines(root / "ref_rl" / "metrics.jsonl", [{"step": 2, "reward_mean": 0.5}])
    for name in ("proposals-00000", "turn1-00000", "turn1-00001", ".proposals-00001.jsonl.x"):
        _lines(root / "intervene" / f"{name}.jsonl", [{}])  # side files and a temporary one
    stages = _by_stage(status.collect(root))
    assert stages["intervene"]["done"] == 1
    assert (stages["sft"]["done"], stages["sft"]["planned"]) == (5, 40)
    assert stages["sft"]["status"] == "started"  # files, but no manifest entry yet
    assert (stages["ref_rl"]["done"], stages["ref_rl"]["unit"]) == (2, "steps")
    assert (stages["rl"]["done"], stages["rl"]["planned"]) == (0, 8)  # compiling, no row yet
    assert (stages["eval"]["status"], stages["eval"]["done"]) == ("pending", None)


def test_read_rows_skips_unparsable_lines(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"a": 1}\n\n[1, 2]\n\xff\xfe\n{"a": 2}\n{"a": ')
    assert status.read_rows(path) == [{"a": 1}, {"a": 2}]
    assert status.read_rows(tmp_path / "missing.jsonl") == []
