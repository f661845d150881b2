"""`jaxint run configs/qwen3_paper.yaml` end to end on CPU: the paper's stage list (select ->
generate -> verify -> intervene -> filter -> sft -> rl -> eval) with the released RL objective,
example-counted SFT batches and the paper's leak rule, on a tiny random model (the model and
lengths overridden) and a 16-problem slice of the synthetic task."""

from __future__ import annotations

import json
import pathlib

import pytest

from jaxint import cli, rundir
from jaxint.data import synthetic
from tests.test_pipeline import workspace  # noqa: F401 - the tiny random model

pytestmark = pytest.mark.slow  # one whole tiny run through the CLI, ~55 s on 2 cores
ROOT = pathlib.Path(__file__).resolve().parents[1]
STAGES = ["select", "generate", "verify", "intervene", "filter", "sft", "rl", "eval"]
NUM_PROBLEMS = 16


def _problems(root: pathlib.Path) -> pathlib.Path:
    path = root / "problems16.jsonl"
    problems = synthetic.make_problems(NUM_PROBLEMS, seed=1, num_steps=2)
    rundir.write_jsonl(path, [p.to_dict() for p in problems])
    return path


def _tiny(ws: pathlib.Path, out: pathlib.Path) -> list[str]:
    """Only sizes, the model and the data change; every method setting is the paper's."""
    data = _problems(out)
    sampling = ["sampling.max_new_tokens=8", "sampling.max_batch_slots=8",
                "sampling.chunk_steps=4"]
    return [
        f"out_dir={out}", "name=paper", f"model.path={ws / 'model'}", "model.preset=null",
        "model.dtype=float32", "model.param_dtype=float32", "model.attention_impl=xla",
        "model.remat=none", "model.scan_layers=false", "mesh.fsdp=1", "mesh.data=-1",
        f"data.path={data}", "data.exclude_flags=[]", "data.decontaminate=false",
        "select.samples=2", "select.shard_size=8", *[f"select.{s}" for s in sampling],
        "generate.samples_per_problem=2", "generate.shard_size=8",
        *[f"generate.{s}" for s in sampling],
        "intervene.intervener=oracle", "intervene.proposals_per_attempt=1",
        "intervene.check_leaks=false",  # the oracle's fixes state the synthetic answers
        "filter.num_samples=2", "filter.min_correct=0", *[f"filter.{s}" for s in sampling],
        "sft.max_steps=2", "sft.batch_size=8", "sft.seq_len=256",
        "rl.steps=1", "rl.prompts_per_step=2", "rl.samples_per_prompt=2",
        "rl.mini_batch_prompts=2", *[f"rl.{s}" for s in sampling],
        f"eval.dataset={data}", "eval.n=2", "eval.ks=[1,2]", *[f"eval.{s}" for s in sampling],
    ]


def test_paper_config_runs_end_to_end(workspace, tmp_path):  # noqa: F811 - the fixture
    config_path = ROOT / "configs" / "qwen3_paper.yaml"
    assert cli.main(["--quiet", "run", str(config_path), *_tiny(workspace, tmp_path)]) == 0
    run = tmp_path / "paper"
    manifest = json.loads((run / "manifest.json").read_text())["stages"]
    assert [s for s in STAGES if manifest[s]["status"] == "done"] == STAGES
    select = json.loads((run / "select" / "stats.json").read_text())
    # A random tiny model solves nothing in 8 tokens: every problem is kept, 0 of 2 correct.
    assert select["kept"] == NUM_PROBLEMS and select["num_correct_histogram"] == {"0": 16}
    assert manifest["generate"]["summary"]["records"] == 2 * NUM_PROBLEMS
    assert manifest["sft"]["summary"]["steps"] == 2
    rl = [r for r in rundir.read_jsonl(run / "rl" / "metrics.jsonl") if "reward_mean" in r]
    assert rl[0]["all_wrong_frac"] + rl[0]["all_correct_frac"] == rl[0]["zero_adv_frac"]
    assert manifest["rl"]["config"]["rl.loss"] == "reinforce"
    assert manifest["rl"]["config"]["rl.aggregation"] == "sum"
    assert manifest["sft"]["config"]["sft.batching"] == "examples"
    assert manifest["intervene"]["config"]["intervene.leak_rule"] == "paper"
    summary = json.loads((run / "eval" / "policy" / "summary.json").read_text())
    assert summary["problems"] == NUM_PROBLEMS
