"""`jaxint demo`: InT working end to end on a CPU in minutes.

A small base model is trained from scratch on the synthetic arithmetic task until it is an
imperfect solver; then the InT loop runs with the exact oracle intervener (generate -> verify
-> intervene -> filter -> SFT -> GRPO) and, from the same base with the same RL budget, GRPO
alone. Held-out accuracy of base, RL only and InT + RL, the zero-advantage fraction during
both RL runs and the intervention statistics end up in a table and `RUN_DIR/summary.json`.
Every number comes from the run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from jaxint import config as config_lib
from jaxint import loop, rundir
from jaxint.models import hf_io
from jaxint.parallel import distributed
from jaxint.stages import demo_base
from jaxint.train import rl


def prepared_config(cfg: config_lib.RunConfig, run_dir: rundir.RunDir) -> config_lib.RunConfig:
    """The run config pointed at the demo's tokenizer, data and base model."""
    data_dir = run_dir.root / "data"
    return dataclasses.replace(
        cfg,
        model=cfg.model.with_path(str(run_dir.root / "base" / "hf")),
        tokenizer_path=str(run_dir.root / "tokenizer"),
        data=dataclasses.replace(cfg.data, path=str(data_dir / "train.jsonl")),
        eval=dataclasses.replace(cfg.eval, dataset=str(data_dir / "heldout.jsonl")),
        rl_baseline=True,
    )


def _base_stage(pipe: loop.Pipeline, cfg: config_lib.RunConfig, progress: bool) -> dict:
    run_dir = pipe.run_dir
    demo_base.build_tokenizer(run_dir)
    paths = demo_base.write_problem_sets(run_dir, cfg.demo)
    pre = [p for p in _load(paths["pretrain"])]
    summary, _ = demo_base.pretrain(run_dir, cfg.demo, cfg.model, pipe.tokenizer(), pre,
                                    mesh=pipe.mesh, progress=progress)
    return summary


def _load(path):
    from jaxint.data import config as data_config
    from jaxint.data import loaders

    return loaders.load_problems(data_config.DatasetConfig(path=str(path)))


def _rl_means(run_dir: rundir.RunDir, stage: str) -> dict[str, Any]:
    return rl.summarize(rundir.Metrics(run_dir.root / stage / "metrics.jsonl").read())


def run(cfg: config_lib.RunConfig, *, progress: bool = True) -> dict[str, Any]:
    t0 = time.perf_counter()
    distributed.maybe_initialize(cfg.distributed)  # before anything touches a device
    cfg = prepared_config(cfg, rundir.RunDir(cfg.run_dir))
    pipe = loop.Pipeline(cfg, progress=progress)
    pipe.run_stage("base", lambda: _base_stage(pipe, cfg, progress))
    pipe.run()
    accuracy = {}
    for name, path in (("base", "base"), ("rl_only", "rl_baseline"), ("int_rl", "rl")):
        model_dir = pipe.run_dir.root / path / "hf"
        summary = pipe.run_stage(
            f"eval_{name}",
            lambda d=model_dir, n=name: pipe.evaluate(
                hf_io.load_hf(d, mesh=pipe.mesh, **cfg.model.runtime()), n))
        accuracy[name] = summary["pass@1"]
    stats_path = pipe.run_dir.root / "intervene" / "stats.json"
    filter_path = pipe.run_dir.root / "filter" / "stats.json"
    interventions = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    if filter_path.is_file():
        interventions["filter"] = json.loads(filter_path.read_text())
    out = {
        "accuracy": accuracy,
        "zero_adv_frac": {"rl_only": _rl_means(pipe.run_dir, "rl_baseline").get("zero_adv_frac"),
                          "int_rl": _rl_means(pipe.run_dir, "rl").get("zero_adv_frac")},
        "reward_mean": {"rl_only": _rl_means(pipe.run_dir, "rl_baseline").get("reward_mean"),
                        "int_rl": _rl_means(pipe.run_dir, "rl").get("reward_mean")},
        "interventions": interventions,
        "sft_examples": pipe.run_dir.summary("sft").get("examples"),
        "stage_wall_s": {s: v.get("wall_s") for s, v in pipe.run_dir.manifest()["stages"].items()},
        "wall_s": round(time.perf_counter() - t0, 1),
        "heldout_problems": cfg.demo.heldout_problems,
        "eval_samples": cfg.eval.n,
    }
    loop.summary_json(pipe.run_dir.root / "summary.json", out)
    print(table(out))
    return out


def table(summary: dict[str, Any]) -> str:
    """The demo's result table (Markdown)."""
    acc, zero = summary["accuracy"], summary["zero_adv_frac"]
    iv = summary.get("interventions", {})
    fmt = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    lines = [
        f"Held-out accuracy ({summary['heldout_problems']} problems x "
        f"{summary['eval_samples']} samples), zero-advantage groups during RL:",
        "",
        "| model | held-out accuracy | zero-adv groups in RL |",
        "|---|---|---|",
        f"| base | {fmt(acc.get('base'))} | - |",
        f"| RL only | {fmt(acc.get('rl_only'))} | {fmt(zero.get('rl_only'))} |",
        f"| InT + RL | {fmt(acc.get('int_rl'))} | {fmt(zero.get('int_rl'))} |",
        "",
        f"Interventions: {iv.get('proposals', '-')} proposals, {iv.get('accepted', '-')} "
        f"accepted, {summary.get('sft_examples', '-')} used for SFT; wall time "
        f"{summary['wall_s']:.0f} s.",
    ]
    rejected = {k: v for k, v in iv.get("rejected", {}).items() if v}
    if rejected:
        lines.append("Rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(rejected.items())))
    if iv.get("location_hist"):
        hist = sorted(iv["location_hist"].items(), key=lambda kv: int(kv[0]))
        lines.append("First-error step of accepted interventions: "
                     + ", ".join(f"step {k}: {v}" for k, v in hist))
    flt = iv.get("filter") or {}
    if flt.get("enabled"):
        per = flt.get("num_samples", 0) // max(flt.get("interventions", 1), 1)
        lines.append(f"Filter: {flt.get('kept')}/{flt.get('interventions')} kept "
                     f"(>= 1 correct of {per} continuations); continuation accuracy from "
                     f"prefix + intervention "
                     f"{fmt(flt.get('mean_accuracy'))}.")
    return "\n".join(lines)
