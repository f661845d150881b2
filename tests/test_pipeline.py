"""The stage runner: a whole tiny run, resumption after a kill, and the CLI's config plumbing.

A tiny random Qwen3 model with the character tokenizer stands in for the policy and the
synthetic task with the oracle intervener for the data, so every stage runs for real.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from jaxint import cli, loop, rundir
from jaxint import config as run_config
from jaxint.data import synthetic, tokenizers
from jaxint.models import build, hf_io
from jaxint.models import config as model_config

STAGES = ["generate", "verify", "intervene", "filter", "sft", "rl", "eval"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> pathlib.Path:
    """A model directory (random weights + char tokenizer) and a synthetic problem file."""
    root = tmp_path_factory.mktemp("pipeline")
    tok = tokenizers.build_char_tokenizer(root / "model")
    cfg = model_config.ModelConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
        num_kv_heads=1, head_dim=16, qk_norm=True, model_type="qwen3", attention_impl="xla")
    hf_io.save_hf(build.random_init(cfg, seed=0), root / "model")
    problems = synthetic.make_problems(6, seed=0, num_steps=2)
    rundir.write_jsonl(root / "problems.jsonl", [p.to_dict() for p in problems])
    return root


def _overrides(ws: pathlib.Path, out: pathlib.Path, stages=STAGES) -> list[str]:
    return [
        f"out_dir={out}", "name=tiny", f"stages=[{','.join(stages)}]",
        f"model.path={ws / 'model'}", "model.preset=null", "model.dtype=float32",
        "model.attention_impl=xla", "mesh.fsdp=1", "mesh.data=-1",
        f"data.path={ws / 'problems.jsonl'}", "data.require_solution=true",
        "generate.samples_per_problem=2", "generate.shard_size=2",
        "generate.sampling.max_new_tokens=8", "generate.sampling.max_batch_slots=8",
        "generate.sampling.chunk_steps=4",
        "intervene.intervener=oracle", "intervene.proposals_per_attempt=1",
        "intervene.check_leaks=false", "filter.enabled=false",
        "sft.max_steps=2", "sft.batch_size=8", "sft.seq_len=256", "sft.eval_fraction=0.0",
        "sft.checkpoint.every=1",
        "rl.steps=1", "rl.prompts_per_step=2", "rl.samples_per_prompt=2",
        "rl.mini_batch_prompts=2", "rl.sampling.max_new_tokens=8", "rl.sampling.max_batch_slots=8",
        "rl.sampling.chunk_steps=4",
        f"eval.dataset={ws / 'problems.jsonl'}", "eval.n=2", "eval.ks=[1,2]",
        "eval.sampling.max_new_tokens=8", "eval.sampling.max_batch_slots=8",
        "eval.sampling.chunk_steps=4",
    ]


def _files(root: pathlib.Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*.jsonl")}


def test_whole_run_then_rerun_skips_everything(workspace, tmp_path):
    cfg = run_config.load(None, _overrides(workspace, tmp_path))
    out = loop.Pipeline(cfg, progress=False).run()
    run_dir = tmp_path / "tiny"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [s for s in STAGES if manifest["stages"][s]["status"] == "done"] == STAGES
    assert out["generate"]["records"] == 12  # 6 problems x 2 samples
    assert (run_dir / "sft" / "hf" / "config.json").is_file()
    assert (run_dir / "rl" / "hf" / "config.json").is_file()
    assert len(list(rundir.read_jsonl(run_dir / "rl" / "metrics.jsonl"))) == 1
    summary = json.loads((run_dir / "eval" / "policy" / "summary.json").read_text())
    assert summary["problems"] == 6 and 0.0 <= summary["pass@1"] <= 1.0
    before = _files(run_dir)
    loop.Pipeline(run_config.load(None, _overrides(workspace, tmp_path)), progress=False).run()
    assert _files(run_dir) == before  # nothing rewritten: every stage was skipped


def test_killed_generate_loses_only_its_shard(workspace, tmp_path):
    overrides = _overrides(workspace, tmp_path, ["generate"])
    loop.Pipeline(run_config.load(None, overrides), progress=False).run()
    stage = tmp_path / "tiny" / "generate"
    shards = rundir.Shards(stage)
    assert shards.indices() == [0, 1, 2]
    complete = list(shards.read())
    # A kill during shard 2: its file was never renamed into place, the stage never finished.
    shards.path(2).unlink()
    run = rundir.RunDir(tmp_path / "tiny")
    run.mark("generate", "running")
    loop.Pipeline(run_config.load(None, overrides), progress=False).run()
    resumed = list(shards.read())
    assert resumed == complete  # same records, none duplicated
    assert len({(r["problem_id"], r["sample_index"]) for r in resumed}) == len(resumed)


def test_sigterm_during_generate_stops_after_the_shard(workspace, tmp_path, monkeypatch):
    """SIGTERM while shard 0 is being sampled: the shard is committed, the stage raises
    Preempted (the CLI exits 143) instead of sampling on, and a rerun finishes the rest."""
    from jaxint.train import preemption

    overrides = _overrides(workspace, tmp_path, ["generate"])
    real_write = rundir.write_jsonl

    def write_then_signal(path, records):  # the signal arrives while shard 0 is written
        real_write(path, records)
        preemption.request()

    monkeypatch.setattr(rundir, "write_jsonl", write_then_signal)
    try:
        with pytest.raises(preemption.Preempted, match="shard-00000"):
            loop.Pipeline(run_config.load(None, overrides), progress=False).run()
    finally:
        preemption.clear()
    shards = rundir.Shards(tmp_path / "tiny" / "generate")
    assert shards.indices() == [0]
    monkeypatch.setattr(rundir, "write_jsonl", real_write)
    loop.Pipeline(run_config.load(None, overrides), progress=False).run()
    assert shards.indices() == [0, 1, 2]
    assert len(list(shards.read())) == 12


def test_side_file_is_not_a_safe_point(tmp_path):
    """A shard's side file (intervene's turn-1 solutions) is written before the main file:
    a pending SIGTERM must not stop the stage between the two and lose finished proposals."""
    from jaxint.train import preemption

    shards = rundir.Shards(tmp_path, "turn1")
    preemption.request()
    try:
        shards.write(0, [{"a": 1}], safe_point=False)  # no raise
        with pytest.raises(preemption.Preempted):
            rundir.Shards(tmp_path, "proposals").write(0, [{"b": 2}])
    finally:
        preemption.clear()
    assert list(shards.read()) == [{"a": 1}]
    assert list(rundir.Shards(tmp_path, "proposals").read()) == [{"b": 2}]


def test_sft_without_interventions_is_skipped(workspace, tmp_path):
    """A policy that proposes nothing usable: SFT is skipped (recorded in the manifest) and
    GRPO trains the unchanged policy instead of the whole run failing."""
    loop.Pipeline(run_config.load(None, _overrides(workspace, tmp_path, STAGES[:3])),
                  progress=False).run()
    run_dir = tmp_path / "tiny"
    rundir.write_jsonl(run_dir / "intervene" / "interventions.jsonl", [])
    pipe = loop.Pipeline(run_config.load(None, _overrides(workspace, tmp_path, ["sft", "rl"])),
                         progress=False)
    out = pipe.run()
    assert out["sft"] == {"examples": 0, "skipped": "no accepted interventions"}
    assert not (run_dir / "sft" / "hf").exists()
    assert (run_dir / "rl" / "hf" / "config.json").is_file()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["sft"]["status"] == "done"
    # A rerun skips both; the skipped SFT has no export to pick up, GRPO's is the policy.
    rerun = loop.Pipeline(run_config.load(None, _overrides(workspace, tmp_path, ["sft", "rl"])),
                          progress=False)
    rerun.run()
    assert rerun.cfg.model.path == str(run_dir / "rl" / "hf")


def test_single_stage_command_picks_up_the_sft_export(workspace, tmp_path):
    cfg = run_config.load(None, _overrides(workspace, tmp_path, STAGES[:5]))
    loop.Pipeline(cfg, progress=False).run()
    pipe = loop.Pipeline(run_config.load(None, _overrides(workspace, tmp_path, ["rl"])),
                         progress=False)
    pipe._pick_up_earlier_stages()
    assert pipe.cfg.model.path == str(tmp_path / "tiny" / "sft" / "hf")


def test_cli_rejects_unknown_keys_with_the_key_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rl:\n  stepz: 3\n")
    with pytest.raises(run_config.configlib.ConfigError, match="stepz"):
        run_config.load(bad)
    with pytest.raises(ValueError, match="pipeline order"):
        run_config.load(None, ["stages=[sft,generate]"])


def test_demo_config_is_valid_and_shipped():
    cfg = run_config.load(cli.demo_config_path())
    assert cfg.demo is not None and cfg.intervene.intervener == "oracle"
    packaged = pathlib.Path(cli.__file__).parent / "resources" / "demo.yaml"
    assert packaged.read_text() == cli.demo_config_path().read_text()
