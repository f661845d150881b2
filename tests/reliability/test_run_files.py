"""Run-directory files that used to tear, repeat or crash naming nothing (issue 15)."""

from __future__ import annotations

import json
import types

import pytest

from jaxint import rundir
from jaxint.train import rl, sft


def test_atomic_write_removes_its_temporary_file_on_error(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(UnicodeEncodeError):
        rundir.atomic_write_text(target, "bad \ud800 text")
    assert list(tmp_path.iterdir()) == []  # no 0-byte .tmp, no target


def test_write_jsonl_is_strict_and_names_file_and_record(tmp_path):
    target = tmp_path / "interventions.jsonl"
    target.write_text('{"kept": 1}\n')
    with pytest.raises(ValueError) as err:
        rundir.write_jsonl(target, [{"content": "ok"}, {"content": "lone \ud800"}])
    assert str(target) in str(err.value) and "record 2" in str(err.value)
    assert target.read_text() == '{"kept": 1}\n'  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["interventions.jsonl"]


def test_write_jsonl_keeps_valid_unicode_readable(tmp_path):
    rundir.write_jsonl(tmp_path / "a.jsonl", [{"t": "π ≤ 4 — ok"}])
    assert list(rundir.read_jsonl(tmp_path / "a.jsonl")) == [{"t": "π ≤ 4 — ok"}]


@pytest.mark.parametrize(("text", "what"), [
    ("", "not valid JSON"), ("{trunc", "not valid JSON"), ("[]", "JSON list"),
    ("{}", "no 'stages' object"), ('{"stages": []}', "no 'stages' object"),
])
def test_corrupt_manifest_is_an_error_naming_the_file(tmp_path, text, what):
    run = rundir.RunDir(tmp_path / "run")
    run.manifest_path.write_text(text)
    with pytest.raises(rundir.RunDirError) as err:
        run.is_done("generate")
    assert str(run.manifest_path) in str(err.value) and what in str(err.value)


def _metrics(tmp_path, steps):
    metrics = rundir.Metrics(tmp_path / "metrics.jsonl")
    for s in steps:
        metrics.write({"step": s, "reward_mean": float(s)})
    return metrics


def test_truncate_after_drops_redone_steps_final_rows_and_a_torn_line(tmp_path):
    metrics = _metrics(tmp_path, [1, 2, 3, 4])
    metrics.write({"final": True, "steps": 4})
    with open(metrics.path, "a") as f:
        f.write('{"step": 5, "rew')  # the line kill -9 tore
    assert metrics.truncate_after(2) == 4
    assert [r["step"] for r in metrics.read()] == [1, 2]
    assert metrics.truncate_after(2) == 0  # idempotent


def test_truncate_after_refuses_a_file_corrupt_in_the_middle(tmp_path):
    metrics = _metrics(tmp_path, [1])
    with open(metrics.path, "a") as f:
        f.write("garbage\n")
    metrics.write({"step": 2})
    with pytest.raises(rundir.RunDirError, match="metrics.jsonl"):
        metrics.truncate_after(1)


def test_summaries_count_steps_from_the_checkpoint_not_rows():
    # The case: steps [1, 2, 2, 3, 4] logged across a kill, a 4-step run.
    rows = [{"step": s, "reward_mean": 0.5, "zero_adv_frac": 0.0, "pass_rate": 1.0}
            for s in (1, 2, 2, 3, 4)]
    assert rl.summarize(rows, steps=4)["steps"] == 4
    assert rl.summarize(rows)["steps"] == 4  # de-duplicated by step even without the count
    assert rl.summarize(rows[:3], steps=1)["steps"] == 1


class _FakeCheckpoints:
    def __init__(self, step):
        self.step = step

    def latest_step(self):
        return self.step

    def restore(self, state):
        return state, {"data": {"pos": self.step}, "step": self.step}


def _fake_trainer(cls, step, tmp_path):
    """A trainer with only what restore() touches (no model, no compile)."""
    trainer = object.__new__(cls)
    trainer.checkpoints = _FakeCheckpoints(step)
    trainer.mesh, trainer.state, trainer.step = None, object(), 0
    iterator = types.SimpleNamespace(set_state=lambda state: None)
    trainer.prompts = trainer.data = iterator
    return trainer


@pytest.mark.parametrize("cls", [sft.SFTTrainer, rl.GRPOTrainer])
@pytest.mark.parametrize(("checkpoint", "kept"), [(2, [1, 2]), (None, [])])
def test_trainer_restore_drops_metric_rows_after_the_checkpoint(tmp_path, cls, checkpoint, kept):
    metrics = _metrics(tmp_path, [1, 2, 3])
    trainer = _fake_trainer(cls, checkpoint, tmp_path)
    trainer.restore(metrics)
    assert trainer.step == (checkpoint or 0)
    assert [r["step"] for r in metrics.read()] == kept
    metrics.write({"step": trainer.step + 1})
    steps = [json.loads(line)["step"] for line in metrics.path.read_text().splitlines()]
    assert steps == sorted(set(steps))  # strictly increasing after the resume
