"""Config drift across jaxint versions: a setting added since a stage ran, left at its default,
is no drift; set to anything else it is. And the optional `select` stage's section is part of
select's fingerprint only, so run directories made before it existed keep theirs."""

from __future__ import annotations

import dataclasses

import pytest

from jaxint import config as run_config
from jaxint import drift, rundir


def _recorded_without(tmp_path, key: str):
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=old"])
    run_dir = rundir.RunDir(cfg.run_dir)
    values = {k: v for k, v in drift.record(cfg, "rl")["config"].items() if k != key}
    run_dir.mark("rl", "done", fingerprint=drift.fingerprint(values), config=values)
    return run_dir


def test_a_new_key_at_its_default_is_no_drift(tmp_path):
    run_dir = _recorded_without(tmp_path, "rl.loss")
    drift.check(run_dir, run_config.load(None, [f"out_dir={tmp_path}", "name=old"]), ["rl"])


def test_a_new_key_off_its_default_is_drift(tmp_path):
    run_dir = _recorded_without(tmp_path, "rl.loss")
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=old", "rl.loss=reinforce"])
    with pytest.raises(drift.ConfigDriftError, match=r"rl.loss: \(absent\) -> 'reinforce'"):
        drift.check(run_dir, cfg, ["rl"])


CREDIT_KEYS = ("rl.credit", "rl.vineppo.", "rl.grpo_lambda.", "rl.oppo.", "rl.capo.")


def _recorded_before_credit(tmp_path):
    """An rl stage recorded before rl.credit and its option sections existed."""
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=old"])
    run_dir = rundir.RunDir(cfg.run_dir)
    values = {k: v for k, v in drift.record(cfg, "rl")["config"].items()
              if not k.startswith(CREDIT_KEYS)}
    assert len(values) < len(drift.record(cfg, "rl")["config"])
    run_dir.mark("rl", "done", fingerprint=drift.fingerprint(values), config=values,
                 schema=drift.SCHEMA)
    return run_dir


def test_a_run_from_before_credit_assignment_resumes(tmp_path):
    """rl.credit (default outcome: the GRPO those runs did) and every rl.<method> option at
    its default are no drift."""
    run_dir = _recorded_before_credit(tmp_path)
    drift.check(run_dir, run_config.load(None, [f"out_dir={tmp_path}", "name=old"]), ["rl"])


@pytest.mark.parametrize("override, shown", [
    ("rl.credit=vineppo", r"rl.credit: \(absent\) -> 'vineppo'"),
    ("rl.credit=vineppo rl.vineppo.k=3", r"rl.vineppo.k: \(absent\) -> 3"),
])
def test_a_credit_setting_off_its_default_is_drift(tmp_path, override, shown):
    run_dir = _recorded_before_credit(tmp_path)
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=old", *override.split()])
    with pytest.raises(drift.ConfigDriftError, match=shown):
        drift.check(run_dir, cfg, ["rl"])


def test_another_methods_options_are_no_part_of_an_rl_stage(tmp_path):
    """Tuning rl.vineppo for `jaxint compare` must not stop a rerun of the outcome stages
    (rl, rl_baseline), nor of another method's credit_ stage; it does change credit_vineppo."""
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=run"])
    run_dir = rundir.RunDir(cfg.run_dir)
    for stage in ("rl", "rl_baseline", "credit_oppo", "credit_vineppo"):
        run_dir.mark(stage, "done", **drift.record(cfg, stage))
    tuned = run_config.load(None, [f"out_dir={tmp_path}", "name=run", "rl.vineppo.k=2"])
    drift.check(run_dir, tuned, ["rl", "rl_baseline", "credit_oppo"])
    with pytest.raises(drift.ConfigDriftError, match=r"credit_vineppo: rl.vineppo.k: 9 -> 2"):
        drift.check(run_dir, tuned, ["credit_vineppo"])
    # A stage recorded with every method's options (before this rule) still resumes.
    values = {**drift.record(cfg, "rl")["config"], "rl.vineppo.k": 9, "rl.oppo.scorer": "x"}
    run_dir.mark("rl", "done", fingerprint=drift.fingerprint(values), config=values,
                 schema=drift.SCHEMA)
    drift.check(run_dir, tuned, ["rl"])


def test_select_section_is_only_in_selects_fingerprint():
    cfg = run_config.load(None, ["select.samples=8"])
    for stage in ("generate", "verify", "sft", "rl", "eval"):
        assert not any(k.startswith("select.") for k in drift.stage_values(cfg, stage)), stage
    assert drift.stage_values(cfg, "select")["select.samples"] == 8
    assert {"model", "data", "verify", "select"} <= set(drift.sections("select"))


def _old_entry(tmp_path, **recorded):
    """A stage entry as jaxint wrote it before manifest schema 2: no `schema`, no
    `data.decontaminate`, `sft.batching` under its old name."""
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=old"])
    run_dir = rundir.RunDir(cfg.run_dir)
    for stage in ("generate", "sft"):
        values = {k: v for k, v in drift.record(cfg, stage)["config"].items()
                  if k != "data.decontaminate"}
        values.update({k: v for k, v in recorded.items() if k in values})
        run_dir.mark(stage, "done", fingerprint=drift.fingerprint(values), config=values)
    return run_dir


def test_an_old_run_resumes_without_decontamination_as_it_ran(tmp_path):
    """data.decontaminate defaults to true now; a run made before it existed trained on its
    whole pool, so resuming it keeps the whole pool (and that is no drift)."""
    run_dir = _old_entry(tmp_path, **{"sft.batching": "pack"})
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=old"])
    assert cfg.data.decontaminate is True
    resumed = drift.legacy_settings(run_dir, cfg)
    assert resumed.data.decontaminate is False
    drift.check(run_dir, resumed, ["generate", "sft"])
    with pytest.raises(drift.ConfigDriftError, match=r"data.decontaminate: \(absent\) -> True"):
        drift.check(run_dir, cfg, ["generate"])


def test_a_new_run_keeps_todays_defaults_and_records_the_schema(tmp_path):
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=new"])
    run_dir = rundir.RunDir(cfg.run_dir)
    run_dir.mark("generate", "done", **drift.record(cfg, "generate"))
    assert run_dir.manifest()["stages"]["generate"]["schema"] == drift.SCHEMA
    assert drift.legacy_settings(run_dir, cfg).data.decontaminate is True


def test_old_sft_batching_names_read_as_todays(tmp_path):
    """`sft.batching: pack` recorded before schema 2 meant row packing (today's `pack_rows`):
    no drift at today's default, drift against today's `pack` (batch = examples)."""
    run_dir = _old_entry(tmp_path, **{"sft.batching": "pack"})
    cfg = drift.legacy_settings(run_dir, run_config.load(None, [f"out_dir={tmp_path}", "name=old"]))
    assert cfg.sft.batching == "pack_rows"
    drift.check(run_dir, cfg, ["sft"])
    with pytest.raises(drift.ConfigDriftError, match=r"sft.batching: 'pack_rows' -> 'pack'"):
        drift.check(run_dir, dataclasses.replace(cfg, sft=dataclasses.replace(
            cfg.sft, batching="pack")), ["sft"])


@pytest.mark.parametrize("key,value", [("rl.export_hf", "true"), ("sft.export_hf", "false"),
                                       ("demo.eval_samples", "4")])
def test_a_removed_key_is_an_error_that_names_it(key, value):
    with pytest.raises(run_config.configlib.ConfigError, match=rf"key '{key}' was removed"):
        run_config.load(None, [f"{key}={value}"])


def test_a_run_that_recorded_a_removed_key_resumes(tmp_path):
    """sft.export_hf / rl.export_hf were recorded by runs made while they existed; nothing read
    them, so such a run resumes (no drift) under today's config, which lacks them."""
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=old"])
    run_dir = rundir.RunDir(cfg.run_dir)
    for stage, key in (("sft", "sft.export_hf"), ("rl", "rl.export_hf")):
        values = {**drift.record(cfg, stage)["config"], key: True}
        run_dir.mark(stage, "done", fingerprint=drift.fingerprint(values), config=values,
                     schema=drift.SCHEMA)
    drift.check(run_dir, cfg, ["sft", "rl"])
