"""Reruns of a run directory with another config (issue 15): they used to skip every stage
and rewrite config.yaml to claim the new config; now they fail before any work, naming the
changed keys per stage, unless `--restart-from STAGE` archives that stage and later ones."""

from __future__ import annotations

import json

import pytest
import yaml

from jaxint import cli, drift, loop, rundir
from jaxint import config as run_config
from tests.test_pipeline import _overrides, workspace  # noqa: F401 - the tiny model + data


def _gen(ws, out, *extra):
    return run_config.load(None, _overrides(ws, out, ["generate"]) + list(extra))


def _mtimes(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")
            if p.is_file() and p.name != "history.log"}


@pytest.fixture
def finished(workspace, tmp_path):  # noqa: F811
    loop.Pipeline(_gen(workspace, tmp_path), progress=False).run()
    return tmp_path / "tiny"


def test_changed_config_fails_before_work_naming_keys_per_stage(workspace, tmp_path, finished):  # noqa: F811
    before = _mtimes(finished)
    with pytest.raises(drift.ConfigDriftError) as err:
        loop.Pipeline(_gen(workspace, tmp_path, "generate.samples_per_problem=3",
                           "data.limit=4"), progress=False).run()
    msg = str(err.value)
    assert str(finished / "manifest.json") in msg
    assert "generate: data.limit: None -> 4, generate.samples_per_problem: 2 -> 3" in msg
    assert "name=NEW" in msg and "--restart-from generate" in msg
    assert _mtimes(finished) == before  # nothing written, config.yaml not rewritten
    assert yaml.safe_load((finished / "config.yaml").read_text())["generate"][
        "samples_per_problem"] == 2


def test_edited_data_file_is_drift_too(workspace, tmp_path, finished):  # noqa: F811
    data = tmp_path / "problems.jsonl"
    data.write_text((workspace / "problems.jsonl").read_text())
    loop.Pipeline(_gen(workspace, tmp_path, f"data.path={data}", "name=copy"),
                  progress=False).run()
    rows = data.read_text().splitlines()
    data.write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(drift.ConfigDriftError, match="inputs.data"):
        loop.Pipeline(_gen(workspace, tmp_path, f"data.path={data}", "name=copy"),
                      progress=False).run()


def test_same_config_reruns_and_records_the_invocation(workspace, tmp_path, finished):  # noqa: F811
    loop.Pipeline(_gen(workspace, tmp_path), progress=False).run()
    lines = (finished / "history.log").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["config"] == json.loads(lines[1])["config"]


def test_restart_from_archives_and_reruns(workspace, tmp_path, finished):  # noqa: F811
    old = sorted(p.name for p in (finished / "generate").iterdir())
    pipe = loop.Pipeline(_gen(workspace, tmp_path, "generate.samples_per_problem=3"),
                         progress=False, restart_from="generate")
    out = pipe.run()
    assert out["generate"]["records"] == 18  # 6 problems x 3 samples
    (archive,) = (finished / "archive").iterdir()
    assert sorted(p.name for p in (archive / "generate").iterdir()) == old
    assert yaml.safe_load((archive / "config.yaml").read_text())["generate"][
        "samples_per_problem"] == 2
    assert yaml.safe_load((finished / "config.yaml").read_text())["generate"][
        "samples_per_problem"] == 3
    loop.Pipeline(_gen(workspace, tmp_path, "generate.samples_per_problem=3"),
                  progress=False).run()  # the new config is now the run's


def test_a_started_stage_is_checked_too_and_unknown_stages_use_the_whole_config(tmp_path):
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=r"])
    run = rundir.RunDir(cfg.run_dir)
    run.mark("custom", "running", **drift.record(cfg, "custom"))  # a stage unknown to drift
    changed = run_config.load(None, [f"out_dir={tmp_path}", "name=r", "sft.max_steps=7"])
    with pytest.raises(drift.ConfigDriftError, match=r"custom: sft\.max_steps: None -> 7"):
        drift.check(run, changed, ["custom"])
    drift.check(run, run_config.load(None, [f"out_dir={tmp_path}", "name=r", "mesh.fsdp=2"]),
                ["custom"])  # device layout and stage lists are not content
    assert drift.sections("sft") == drift.sections("filter") + ("sft",)


def test_cli_prints_one_line_and_exits_2(workspace, tmp_path, finished, capsys):  # noqa: F811
    (tmp_path / "empty.yaml").write_text("")
    argv = ["run", str(tmp_path / "empty.yaml"), *_overrides(workspace, tmp_path, ["generate"]),
            "generate.samples_per_problem=3"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("jaxint: error: ") and "Traceback" not in err[0]
    assert "generate.samples_per_problem: 2 -> 3" in err[0] and err[1].startswith("jaxint: hint:")


def test_demo_stages_depend_on_what_they_compute_from(tmp_path):
    """The demo's base depends on the model and `demo:` only: an RL setting changes the RL
    stages, never the pretrained base; arm selectors change nothing already computed."""
    args = [f"out_dir={tmp_path}", "name=d", "demo.num_steps=2"]
    cfg = run_config.load(None, args)
    run = rundir.RunDir(cfg.run_dir)
    for stage in ("base", "rl_matched", "eval_int_rl"):
        run.mark(stage, "done", **drift.record(cfg, stage))
    lr = run_config.load(None, args + ["rl.optimizer.lr=5e-5"])
    drift.check(run, lr, ["base"])
    with pytest.raises(drift.ConfigDriftError, match="rl_matched: rl.optimizer.lr"):
        drift.check(run, lr, ["rl_matched", "eval_int_rl"])
    drift.check(run, run_config.load(None, args + ["demo.full=true", "demo.matched_control=false"]),
                ["base", "rl_matched", "eval_int_rl"])
    with pytest.raises(drift.ConfigDriftError, match="base: demo.seed: 0 -> 3"):
        drift.check(run, run_config.load(None, args + ["demo.seed=3"]), ["base"])


def _demo_like_run(root):
    """A run directory with the demo's stages done in the demo's order, each with a folder."""
    run = rundir.RunDir(root)
    for stage in ("base", "select", "generate", "verify", "intervene", "filter", "sft", "rl",
                  "rl_baseline", "credit_vineppo", "rl_matched", "eval_base", "eval_rl_only"):
        (run.root / stage).mkdir(parents=True)
        (run.root / stage / "out.txt").write_text(stage)
        run.mark(stage, "done")
    return run


def test_restart_from_sft_keeps_rl_from_the_base_model(tmp_path):
    """RL only (`rl_baseline`) and compare's `credit_*` runs read the base model and the pool,
    never InT's SFT: restarting from sft archives SFT and what follows from it, not them
    (the evaluations after it are archived and rerun: they are cheap next to RL)."""
    run = _demo_like_run(tmp_path / "r")
    archive = drift.restart_from(run, "sft")
    moved = {p.name for p in archive.iterdir() if p.is_dir()}
    assert moved == {"sft", "rl", "rl_matched", "eval_base", "eval_rl_only"}
    kept = set(run.manifest()["stages"])
    assert {"rl_baseline", "credit_vineppo", "base", "filter"} <= kept
    assert {"sft", "rl", "rl_matched", "eval_base", "eval_rl_only"}.isdisjoint(kept)
    assert (run.root / "rl_baseline" / "out.txt").read_text() == "rl_baseline"


@pytest.mark.parametrize("stage", ["select", "base"])
def test_restart_from_the_pool_or_the_base_model_reruns_rl_only_too(tmp_path, stage):
    run = _demo_like_run(tmp_path / "r")
    archive = drift.restart_from(run, stage)
    moved = {p.name for p in archive.iterdir() if p.is_dir()}
    assert {stage, "sft", "rl", "rl_baseline", "rl_matched"} <= moved
    assert "rl_baseline" not in run.manifest()["stages"]


def test_restart_from_sft_also_moves_rl_only_when_its_own_settings_changed(tmp_path):
    """With the rerun's config, RL from the base model is archived too when its settings
    differ from those it ran with (an rl.* change), and kept when only SFT's changed."""
    before = run_config.load(None, [f"out_dir={tmp_path}", "name=r"])
    for changed, moves in (("sft.max_steps=7", False), ("rl.steps=3", True)):
        run = rundir.RunDir(before.run_dir)
        for stage in ("sft", "rl", "rl_baseline"):
            (run.root / stage).mkdir(parents=True, exist_ok=True)
            run.mark(stage, "done", **drift.record(before, stage))
        after = run_config.load(None, [f"out_dir={tmp_path}", "name=r", changed])
        archive = drift.restart_from(run, "sft", after)
        assert ("rl_baseline" in {p.name for p in archive.iterdir()}) is moves, changed
        assert ("rl_baseline" in run.manifest()["stages"]) is not moves, changed
        drift.check(run, after, ["rl_baseline"])  # the rerun starts: nothing left drifted


def _inside(ws, out):
    """A run whose model and data live inside its own run directory, as the demo's do
    (`base/hf`, `data/train.jsonl`): generate only."""
    import shutil

    root = out / "tiny"
    shutil.copytree(ws / "model", root / "base" / "hf")
    (root / "data").mkdir()
    shutil.copy(ws / "problems.jsonl", root / "data" / "train.jsonl")
    return root


def _gen_inside(ws, out):
    root = out / "tiny"
    return _gen(ws, out, f"model.path={root / 'base' / 'hf'}",
                f"data.path={root / 'data' / 'train.jsonl'}")


def test_a_copied_run_directory_resumes(workspace, tmp_path):  # noqa: F811
    """Paths inside the run directory are recorded relative to it ($RUN_DIR/...): a copy in
    another place resumes with nothing recomputed (it failed as drift of model.path and
    data.path when they were recorded absolute), while a path outside stays what it was."""
    import shutil

    first, second = tmp_path / "first", tmp_path / "second"
    _inside(workspace, first)
    loop.Pipeline(_gen_inside(workspace, first), progress=False).run()
    entry = json.loads((first / "tiny" / "manifest.json").read_text())["stages"]["generate"]
    assert entry["config"]["model.path"] == "$RUN_DIR/base/hf"
    assert entry["config"]["data.path"] == "$RUN_DIR/data/train.jsonl"
    shutil.copytree(first, second)
    before = _mtimes(second / "tiny")
    loop.Pipeline(_gen_inside(workspace, second), progress=False).run()
    assert _mtimes(second / "tiny") == before
    # The copy pointed at the original's model instead: that is another input.
    with pytest.raises(drift.ConfigDriftError,
                       match=r"generate: model.path: '\$RUN_DIR/base/hf' -> '/"):
        loop.Pipeline(_gen(workspace, second, f"model.path={first / 'tiny' / 'base' / 'hf'}",
                           f"data.path={second / 'tiny' / 'data' / 'train.jsonl'}"),
                      progress=False).run()


def test_an_entry_recorded_with_absolute_paths_resumes_in_place(workspace, tmp_path):  # noqa: F811
    """A run directory written before paths were recorded relative (absolute paths into
    itself in the manifest) still resumes where it is, and where it is copied."""
    import shutil

    _inside(workspace, tmp_path)
    loop.Pipeline(_gen_inside(workspace, tmp_path), progress=False).run()
    manifest_path = tmp_path / "tiny" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["stages"]["generate"]
    root = str(tmp_path / "tiny")
    entry["config"] = {k: v.replace("$RUN_DIR", root) if isinstance(v, str) else v
                       for k, v in entry["config"].items()}
    entry["fingerprint"] = drift.fingerprint(entry["config"])
    assert entry["config"]["model.path"] == f"{root}/base/hf"
    manifest_path.write_text(json.dumps(manifest))
    before = _mtimes(tmp_path / "tiny")
    loop.Pipeline(_gen_inside(workspace, tmp_path), progress=False).run()
    assert _mtimes(tmp_path / "tiny") == before
    # And copied elsewhere: its config.yaml says where it was first written.
    copy = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "tiny", copy / "tiny")
    before = _mtimes(copy / "tiny")
    loop.Pipeline(_gen_inside(workspace, copy), progress=False).run()
    assert _mtimes(copy / "tiny") == before
