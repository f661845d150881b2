"""A run directory written before the stages' sampling settings moved into `sampling:`
resumes with today's configs without a drift error: its manifest (written by the old code,
tests/fixtures/run_before_sampling_sections) is read under the new key names, and the engine
sizing select, intervene and filter then took from `generate` is what they ran with."""

from __future__ import annotations

import json
import logging
import pathlib

import pytest

from jaxint import config as run_config
from jaxint import drift, loop, rundir

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "run_before_sampling_sections"
DATA = "tests/fixtures/run_before_sampling_sections/problems.jsonl"  # as the manifest names it


def _old_run(tmp_path, monkeypatch, name: str, *overrides: str):
    monkeypatch.chdir(ROOT)  # the recorded data path is relative to the repository
    manifest = json.loads((FIXTURE / f"{name}.manifest.json").read_text())
    run_dir = rundir.RunDir(tmp_path / "old")
    rundir.atomic_write_text(run_dir.manifest_path, json.dumps(manifest))
    cfg = run_config.load(FIXTURE / f"{name}.yaml", [f"out_dir={tmp_path}", "name=old",
                                                     f"data.path={DATA}", *overrides])
    return run_dir, cfg, list(manifest["stages"])


def test_the_fixture_was_written_with_the_flat_keys():
    entry = json.loads((FIXTURE / "qwen3_4b_v4-8.manifest.json").read_text())["stages"]["rl"]
    assert entry["schema"] == 2 and entry["config"]["rl.temperature"] == 1.0
    assert entry["config"]["generate.max_batch_slots"] == 32
    assert not any(".sampling." in k for k in entry["config"])


def test_a_sized_config_resumes_with_its_stages_as_they_ran(tmp_path, monkeypatch):
    run_dir, cfg, stages = _old_run(tmp_path, monkeypatch, "qwen3_4b_v4-8")
    assert drift.legacy_settings(run_dir, cfg) == cfg  # every value is stated in the config
    drift.check(run_dir, cfg, stages)
    # The filter ran with generate's 32 slots; 48 is a change of what it ran with.
    other = run_config.load(FIXTURE / "qwen3_4b_v4-8.yaml", [
        f"out_dir={tmp_path}", "name=old", f"data.path={DATA}",
        "filter.sampling.max_batch_slots=48"])
    with pytest.raises(drift.ConfigDriftError,
                       match=r"filter: filter.sampling.max_batch_slots: 32 -> 48"):
        drift.check(run_dir, other, stages)


def test_the_runner_resumes_a_finished_old_run(tmp_path, monkeypatch):
    run_dir, cfg, stages = _old_run(tmp_path, monkeypatch, "qwen3_4b_v4-8", "mesh.tensor=1",
                                    "mesh.fsdp=-1")
    out = loop.Pipeline(cfg, progress=False).run()
    assert sorted(out) == sorted(s for s in stages if s != "rl_baseline")


def test_the_demo_resumes_with_the_engine_its_intervene_stage_had(tmp_path, monkeypatch,
                                                                     caplog):
    run_dir, cfg, stages = _old_run(tmp_path, monkeypatch, "demo")
    assert cfg.intervene.sampling.max_batch_slots == 256  # demo.yaml says nothing of it
    with caplog.at_level(logging.WARNING, logger="jaxint.drift"):
        resumed = drift.legacy_settings(run_dir, cfg)
    assert (resumed.intervene.sampling.max_batch_slots,
            resumed.intervene.sampling.chunk_steps) == (128, 32)  # generate's, as it ran
    assert "intervene.sampling.max_batch_slots=128" in caplog.text
    drift.check(run_dir, resumed, stages)
    changed = run_config.load(FIXTURE / "demo.yaml", [
        f"out_dir={tmp_path}", "name=old", f"data.path={DATA}", "rl.sampling.temperature=0.5"])
    with pytest.raises(drift.ConfigDriftError,
                       match=r"rl: rl.sampling.temperature: 1.0 -> 0.5"):
        drift.check(run_dir, drift.legacy_settings(run_dir, changed), stages)


def test_old_entries_read_under_the_new_names():
    entry = {"schema": 2, "config": {"generate.max_batch_slots": 32, "generate.top_p": 0.8,
                                     "filter.temperature": 0.7, "filter.num_samples": 4,
                                     "sft.batching": "pack"}}
    assert drift.recorded_config(entry) == {
        "generate.sampling.max_batch_slots": 32, "generate.sampling.top_p": 0.8,
        "filter.sampling.temperature": 0.7, "filter.num_samples": 4,
        "filter.sampling.max_batch_slots": 32,  # the filter sized its engine by generate's
        "sft.batching": "pack"}  # a schema-2 entry already has today's batching names
    assert drift.recorded_config({**entry, "schema": 3}) == entry["config"]
