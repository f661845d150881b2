"""Metric writers: TensorBoard event files and an offline W&B run hold the JSONL's values.

The event files are read back with TensorBoard's own reader, the W&B run file with the
parser in `readers.py`; both are compared with metrics.jsonl as `rundir.Metrics` wrote it.
"""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np
import pytest

from jaxint import config as run_config
from jaxint import rundir
from jaxint.metrics import config as metrics_config
from jaxint.metrics import writers
from jaxint.train import preemption
from tests.metrics import readers

pytest.importorskip("tensorboardX", reason="the [logging] extra is not installed")
pytest.importorskip("wandb", reason="the [logging] extra is not installed")
pytest.importorskip("tensorboard", reason="tensorboard's event reader is in the [test] extra")


def _expected(run_root: pathlib.Path) -> dict[str, list[tuple[int, float]]]:
    """{STAGE/KEY: [(step, value)]} from every STAGE/metrics.jsonl, independently of jaxint:
    numeric, non-bool leaves; step = `step`, else `steps`, else the line's index."""
    out: dict[str, list[tuple[int, float]]] = {}

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}/")
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and k != "time":
                yield f"{prefix}{k}", float(v)

    for path in sorted(run_root.glob("*/metrics.jsonl")):
        for i, line in enumerate(path.read_text().splitlines()):
            row = json.loads(line)
            step = next((row[k] for k in ("step", "steps")
                         if isinstance(row.get(k), int) and not isinstance(row[k], bool)), i)
            for key, value in leaves(row):
                out.setdefault(f"{path.parent.name}/{key}", []).append((step, value))
    return out


def _check_tensorboard(expected, tb_dir: pathlib.Path) -> None:
    got = readers.tensorboard_scalars(tb_dir)
    # TensorBoard's tag alphabet is [-/\w.]: "eval/pass@1" is shown as "eval/pass_1"
    expected = {re.sub(r"[^-/\w.]", "_", tag): points for tag, points in expected.items()}
    assert set(got) == set(expected)
    for tag, points in expected.items():
        # TensorBoard stores scalars as float32: equal after the same rounding
        assert [(s, np.float32(v)) for s, v in points] == \
            [(s, np.float32(v)) for s, v in got[tag]], tag


def _check_wandb(expected, run_root: pathlib.Path) -> None:
    files = readers.wandb_run_files(run_root)
    assert len(files) == 1, files
    got: dict[str, list[tuple[int, float]]] = {}
    for row in readers.wandb_history(files[0]):
        stages = {k.split("/")[0] for k in row if not k.startswith("_")}
        assert len(stages) == 1, row  # one stage per logged row, with its own step axis
        stage = stages.pop()
        for key, value in row.items():
            if not key.startswith("_") and key != f"{stage}/step":
                got.setdefault(key, []).append((row[f"{stage}/step"], value))
    for tag, points in expected.items():
        if tag.endswith("/step"):
            continue  # the stage's x-axis itself
        assert got[tag] == points, tag  # JSON both ways: exactly equal
    assert set(got) == {t for t in expected if not t.endswith("/step")}


def test_scalars_flatten_numbers_and_drop_the_rest():
    record = {"time": "2024", "step": 3, "loss": 0.5, "final": True, "name": "x",
              "nested": {"a": 1, "b": {"c": 2.5}, "s": "t"}, "list": [1, 2]}
    assert writers.scalars(record) == {"step": 3.0, "loss": 0.5, "nested/a": 1.0,
                                       "nested/b/c": 2.5}
    assert writers.step_of({"step": 7}, 0) == 7
    assert writers.step_of({"steps": 9, "final": True}, 4) == 9
    assert writers.step_of({"shard": 2}, 4) == 4
    assert writers.step_of({"step": True}, 5) == 5


def test_metrics_write_mirrors_to_tensorboard_and_wandb(tmp_path):
    run = rundir.RunDir(tmp_path / "run")
    cfg = metrics_config.LoggingConfig(
        tensorboard=str(tmp_path / "tb"),
        wandb=metrics_config.WandbConfig(project="jaxint-test", mode="offline"))
    with writers.session(cfg, run.root, run_name="run", config={"lr": 1e-3}):
        sft = run.metrics("sft")
        for step in (1, 2, 3):
            sft.write({"step": step, "loss": 1.0 / step, "lr": 3e-4 * step,
                       "grad_norm": np.float32(0.25 * step)})
        sft.write({"final": True, "steps": 3, "eval_loss": 0.7})
        run.metrics("intervene").write({"accepted": 4, "by_reason": {"leak": 1, "parse": 2}})
        run.metrics("generate").write({"shard": 0, "of": 2, "tokens_per_s": 123.4})
        run.metrics("generate").write({"shard": 1, "of": 2, "tokens_per_s": 150.0})
        run.metrics("eval").write({"model": "policy", "pass@1": 0.25, "pass@8": 0.5})
    expected = _expected(run.root)
    assert expected["sft/loss"] == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
    assert expected["generate/tokens_per_s"] == [(0, 123.4), (1, 150.0)]
    assert readers.tensorboard_scalars(tmp_path / "tb" / "run")["eval/pass_8"] == [(0, 0.5)]
    _check_tensorboard(expected, tmp_path / "tb" / "run")
    _check_wandb(expected, run.root)
    assert writers.active() == []  # closed by the session


def test_resumed_stage_keeps_counting_lines_and_reuses_the_wandb_run(tmp_path):
    run = rundir.RunDir(tmp_path / "run")
    cfg = metrics_config.LoggingConfig(tensorboard=str(tmp_path / "tb"))
    run.metrics("generate").write({"shard": 0, "tokens_per_s": 1.0})  # before a restart
    with writers.session(cfg, run.root, run_name="run"):
        run.metrics("generate").write({"shard": 1, "tokens_per_s": 2.0})
    got = readers.tensorboard_scalars(tmp_path / "tb" / "run")
    assert got["generate/tokens_per_s"] == [(1, 2.0)]  # line 1, not 0 again

    wb = metrics_config.LoggingConfig(wandb=metrics_config.WandbConfig(project="p",
                                                                      mode="offline"))
    with writers.session(wb, run.root, run_name="run"):
        pass
    first = (run.root / "wandb_id").read_text()
    with writers.session(wb, run.root, run_name="run"):
        pass
    assert (run.root / "wandb_id").read_text() == first
    assert {f.name for f in readers.wandb_run_files(run.root)} == {f"run-{first.strip()}.wandb"}


def test_preemption_flushes_and_closes_the_writers(tmp_path):
    """SIGTERM: the trainer raises `Preempted` after its checkpoint; the values logged so far
    are on disk when the process exits, however long the flush interval."""
    run = rundir.RunDir(tmp_path / "run")
    cfg = metrics_config.LoggingConfig(tensorboard=str(tmp_path / "tb"), flush_secs=3600)
    with pytest.raises(preemption.Preempted):
        with writers.session(cfg, run.root, run_name="run"):
            run.metrics("rl").write({"step": 1, "reward_mean": 0.25})
            raise preemption.Preempted("preempted at step 1")
    assert writers.active() == []
    assert readers.tensorboard_scalars(tmp_path / "tb" / "run")["rl/reward_mean"] == [(1, 0.25)]


def test_only_process_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir, "is_writer", lambda: False)
    cfg = metrics_config.LoggingConfig(tensorboard=str(tmp_path / "tb"))
    assert writers.open_writers(cfg, tmp_path / "run", run_name="run") == []
    assert not (tmp_path / "tb").exists()


def test_logging_section_loads_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("logging:\n  tensorboard: tb\n  wandb: {project: p, mode: offline}\n")
    cfg = run_config.load(path, ["logging.wandb.tags=[a,b]"])
    assert cfg.logging.tensorboard == "tb"
    assert (cfg.logging.wandb.project, cfg.logging.wandb.mode) == ("p", "offline")
    assert cfg.logging.wandb.tags == ("a", "b")
    assert run_config.load(None, []).logging.wandb.project is None  # off by default
    with pytest.raises(ValueError, match="logging.wandb.mode"):
        run_config.load(None, ["logging.wandb.mode=sometimes"])
