"""`jaxint compare`: every credit method from one base on one table, resumably, with the
paired differences recomputed here from the evaluation files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxint import cli, compare, configlib, rundir

TINY = [
    "demo.train_problems=8", "demo.heldout_problems=8", "demo.pretrain_problems=40",
    "demo.pretrain_steps=3", "demo.pretrain_batch=4", "demo.pretrain_seq_len=160",
    "demo.hidden_size=16", "demo.intermediate_size=32", "demo.num_layers=1",
    "demo.num_heads=2", "demo.num_kv_heads=1", "demo.head_dim=8", "demo.matched_control=false",
    "generate.samples_per_problem=2", "filter.num_samples=1", "sft.epochs=1",
    "sft.batch_size=4", "rl.steps=1", "rl.prompts_per_step=2", "rl.samples_per_prompt=2",
    "rl.mini_batch_prompts=2", "rl.vineppo.k=1", "rl.vineppo.max_steps=1", "eval.n=2",
    "eval.ks=[1]",
]
METHODS = "int,capo,grpo_lambda,vineppo,oppo"


def test_methods_are_checked_and_outcome_comes_first():
    assert compare.parse_methods("capo, int,capo") == ["outcome", "capo", "int"]
    with pytest.raises(configlib.ConfigError, match="'ppo'"):
        compare.parse_methods("outcome,ppo")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    argv = ["--quiet", "compare", str(cli.demo_config_path()), *TINY,
            f"out_dir={out.parent}", f"name={out.name}", "--methods", METHODS]
    assert cli.main(argv) == 0
    return out, argv


def test_every_method_is_trained_evaluated_and_costed(compared):
    out, _ = compared
    summary = json.loads((out / "compare" / "summary.json").read_text())
    methods = ["outcome", "int", "capo", "grpo_lambda", "vineppo", "oppo"]
    assert summary["methods"] == methods
    for method in methods:
        stage, arm = compare.places(method)
        assert (out / stage / "hf").is_dir() and (out / "eval" / arm).is_dir()
        assert summary["cost"][method]["sampled_tokens"] > 0
    cost = summary["cost"]
    # Only the methods that sample or score beyond the rollouts pay for it.
    assert cost["vineppo"]["extra_tokens"] > 0 and cost["oppo"]["extra_forward_tokens"] > 0
    assert cost["outcome"]["extra_tokens"] == cost["grpo_lambda"]["extra_tokens"] == 0
    # InT's rollouts and filter continuations count as its extra sampling.
    generated = sum(r["num_tokens"] for p in sorted((out / "generate").glob("shard-*.jsonl"))
                    for r in rundir.read_jsonl(p))
    assert cost["int"]["extra_tokens"] >= generated > 0
    assert summary["checker_critic"] is True
    assert "step checker as critic" in (out / "compare" / "table.md").read_text()


def test_paired_differences_match_the_evaluation_files(compared):
    out, _ = compared
    summary = json.loads((out / "compare" / "summary.json").read_text())

    def rewards(arm):
        rows = [r for p in sorted((out / "eval" / arm).glob("results-*.jsonl"))
                for r in rundir.read_jsonl(p)]
        return {r["problem_id"]: r["rewards"] for r in rows}

    control, capo = rewards("rl_only"), rewards("capo")
    ids = sorted(control)
    d = np.asarray([np.subtract(capo[i], control[i]) for i in ids], float).ravel()
    assert summary["paired_diff"]["capo"]["all"] == pytest.approx(d.mean())
    # Paired SE over problem x sample: the standard error of the per-pair differences.
    assert summary["paired_se"]["capo"]["all"] == pytest.approx(d.std(ddof=1) / np.sqrt(d.size))
    assert summary["accuracy"]["capo"]["all"] == pytest.approx(
        np.mean([capo[i] for i in ids]))


def test_a_rerun_trains_nothing_again(compared):
    out, argv = compared
    before = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.jsonl")}
    assert cli.main(argv) == 0
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("metrics.jsonl")}
