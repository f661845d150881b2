"""`jaxint run` of a tiny config with TensorBoard and offline W&B on: the event files and the
W&B run hold the same values as the stages' metrics.jsonl (SFT and GRPO steps, sampling
throughput, verifier and intervention statistics, eval results)."""

from __future__ import annotations

import pathlib

import pytest

from jaxint import cli, rundir, status
from jaxint.data import synthetic, tokenizers
from jaxint.models import build, hf_io
from jaxint.models import config as model_config
from tests.metrics import test_writers

pytest.importorskip("tensorboardX", reason="the [logging] extra is not installed")
pytest.importorskip("wandb", reason="the [logging] extra is not installed")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("logging_run")
    tok = tokenizers.build_char_tokenizer(root / "model")
    cfg = model_config.ModelConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
        num_kv_heads=1, head_dim=16, qk_norm=True, model_type="qwen3", attention_impl="xla")
    hf_io.save_hf(build.random_init(cfg, seed=0), root / "model")
    problems = synthetic.make_problems(4, seed=0, num_steps=2)
    rundir.write_jsonl(root / "problems.jsonl", [p.to_dict() for p in problems])
    return root


@pytest.mark.slow
def test_tiny_run_logs_the_jsonl_values_to_tensorboard_and_wandb(workspace, tmp_path):
    ws = workspace
    overrides = [
        f"out_dir={tmp_path}", "name=tiny", f"model.path={ws / 'model'}", "model.preset=null",
        "model.dtype=float32", "model.attention_impl=xla", "mesh.fsdp=1", "mesh.data=-1",
        f"data.path={ws / 'problems.jsonl'}", "data.require_solution=true",
        "generate.samples_per_problem=2", "generate.shard_size=2",
        "generate.sampling.max_new_tokens=8", "generate.sampling.max_batch_slots=8",
        "generate.sampling.chunk_steps=4",
        "intervene.intervener=oracle", "intervene.proposals_per_attempt=1",
        "intervene.check_leaks=false", "filter.enabled=false",
        "sft.max_steps=2", "sft.batch_size=8", "sft.seq_len=256", "sft.eval_fraction=0.0",
        "sft.log_every=1",
        "rl.steps=1", "rl.prompts_per_step=2", "rl.samples_per_prompt=2",
        "rl.mini_batch_prompts=2", "rl.sampling.max_new_tokens=8", "rl.sampling.max_batch_slots=8",
        "rl.sampling.chunk_steps=4",
        f"eval.dataset={ws / 'problems.jsonl'}", "eval.n=2", "eval.ks=[1,2]",
        "eval.sampling.max_new_tokens=8", "eval.sampling.max_batch_slots=8",
        "eval.sampling.chunk_steps=4",
        f"logging.tensorboard={tmp_path / 'tb'}",
        "logging.wandb.project=jaxint-test", "logging.wandb.mode=offline",
    ]
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")  # every setting comes from the overrides
    assert cli.main(["--quiet", "run", str(empty), *overrides]) == 0
    run_root = tmp_path / "tiny"
    expected = test_writers._expected(run_root)
    stages = {tag.split("/")[0] for tag in expected}
    assert {"generate", "verify", "intervene", "sft", "rl", "eval"} <= stages, stages
    test_writers._check_tensorboard(expected, tmp_path / "tb" / "tiny")
    test_writers._check_wandb(expected, run_root)
    # the same real run directory through `jaxint status`
    st = {s["stage"]: s for s in status.collect(run_root)["stages"]}
    assert all(s["status"] == "done" for s in st.values()), st
    assert (st["sft"]["done"], st["sft"]["planned"], st["sft"]["checkpoint_step"]) == (2, 2, 2)
    assert (st["rl"]["done"], st["rl"]["planned"]) == (1, 1)

