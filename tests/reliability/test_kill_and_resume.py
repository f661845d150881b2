"""SIGKILL at three points of a tiny `jaxint run` (issue 15): during a generate shard, in SFT
between checkpoints, and during a GRPO checkpoint write. After each kill the same command is
run again; the last run finishes, and then no JSONL record is torn or duplicated, metrics
steps are strictly increasing, and the manifest's step counts equal the checkpoints'."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from jaxint import rundir
from tests.test_pipeline import _overrides, workspace  # noqa: F401 - the tiny model + data

pytestmark = pytest.mark.slow  # four short CLI processes, ~30 s on 2 cores with a warm cache
ROOT = pathlib.Path(__file__).resolve().parents[2]


class _Driver:
    """The four runs, each a fresh process forked by one driver that imported JAX and jaxint
    once (see `kill_driver`); the checks run between them, as after separate commands."""

    def __init__(self, args: list[str], log_dir: pathlib.Path):
        cmd = [sys.executable, "-m", "tests.reliability.kill_driver", "--serve", str(log_dir),
               "--", *args]
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
        self.log_dir, self.runs = log_dir, 0
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, kill_at: str) -> tuple[int, str]:
        """The run's exit status (negative: killed by that signal) and its output's tail."""
        self.proc.stdin.write(kill_at + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        log = self.log_dir / f"{self.runs}-{kill_at}.log"
        self.runs += 1
        tail = log.read_text()[-3000:] if log.is_file() else "(no log)"
        assert line, f"the kill driver died: {tail}"
        return int(line), tail

    def close(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0


def _all_jsonl_intact(run: pathlib.Path) -> None:
    for path in run.rglob("*.jsonl"):
        if "archive" in path.parts:
            continue
        rows = list(rundir.read_jsonl(path))  # raises on a torn line
        if path.name.startswith("shard-"):
            keys = [json.dumps(r, sort_keys=True) for r in rows]
            assert len(keys) == len(set(keys)), f"duplicated records in {path}"
    # A SIGKILL mid-write may leave a `.NAME.*.tmp` file: no reader globs it (the rename
    # into place is the commit), so it is harmless and not checked here.


def _steps(run: pathlib.Path, stage: str) -> list[int]:
    return [r["step"] for r in rundir.read_jsonl(run / stage / "metrics.jsonl") if "step" in r]


def _latest_checkpoint(run: pathlib.Path, stage: str) -> int:
    return max(int(p.name) for p in (run / stage / "checkpoints").iterdir() if p.name.isdigit())


def test_sigkill_at_three_points_then_rerun_finishes_exactly(workspace, tmp_path):  # noqa: F811
    (tmp_path / "c.yaml").write_text("")
    overrides = _overrides(workspace, tmp_path, ["generate", "verify", "intervene", "filter",
                                                 "sft", "rl"])
    overrides += ["sft.max_steps=3", "sft.checkpoint.every=2", "sft.log_every=1",
                  "rl.steps=2", "rl.checkpoint.every=1"]
    args = ["--quiet", "run", str(tmp_path / "c.yaml"), *overrides]
    run = tmp_path / "tiny"
    (tmp_path / "logs").mkdir()
    driver = _Driver(args, tmp_path / "logs")
    try:
        for kill_at in ("shard", "sft", "rl_ckpt"):
            rc, tail = driver.run(kill_at)
            assert rc == -signal.SIGKILL, (kill_at, rc, tail)
            _all_jsonl_intact(run)
        rc, tail = driver.run("none")
        assert rc == 0, tail
    except BaseException:
        driver.proc.kill()  # a failed check must not leave the driver waiting on stdin
        raise
    driver.close()
    _all_jsonl_intact(run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert all(manifest["stages"][s]["status"] == "done" for s in ("generate", "sft", "rl"))
    assert manifest["stages"]["generate"]["summary"]["records"] == 12
    assert _steps(run, "sft") == [1, 2, 3]
    assert _steps(run, "rl") == [1, 2]
    assert manifest["stages"]["sft"]["summary"]["steps"] == _latest_checkpoint(run, "sft") == 3
    assert manifest["stages"]["rl"]["summary"]["steps"] == _latest_checkpoint(run, "rl") == 2
