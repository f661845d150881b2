"""`jaxint demo`: InT's mechanism on a CPU in minutes, in the paper's regime.

A small base model is pretrained from scratch on the synthetic arithmetic task, from a corpus
that reads one phrasing (the *trap*, "cut it by b") as division every time, while gold
answers, the verifier and the oracle read it as subtraction. About half of the training pool
and of the held-out set hold one trap step (never the last operation): the base solves almost
none of them, so outcome RL sees mostly all-wrong groups with zero advantage there, the
analogue of the paper's problems solved 0 of 64 times. InT (oracle intervener, the paper's
leak rule on) corrects the first wrong step with the reference's reading, SFT teaches it, and
RL goes on. (`configs/demo.yaml` says why the trap's corpus operation is one no plain phrase
uses.)

Arms, all from the same base, the same pool and the same RL budget per arm:
- ``base``; ``rl_only`` (GRPO alone); ``rl_only_matched`` (GRPO alone continued until its
  trained tokens match InT's SFT + RL); ``int_rl`` (InT SFT, then GRPO);
- with ``demo.full`` (``jaxint demo --full``): ``int_sft`` (InT's SFT model alone) and
  ``ref_sft_rl`` (SFT on reference solutions written as prose, then GRPO: the paper's control).

Every arm is evaluated on the same held-out problems with the same sampling seeds, so the
differences are paired over problem x sample (`jaxint.demo_metrics`). `RUN_DIR/summary.json`
and the printed table hold every figure; every number comes from the run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from typing import Any

from jaxint import config as run_config
from jaxint import demo_metrics, loop, rundir
from jaxint.data import chat, records, synthetic
from jaxint.evaluation import evaluate as evaluate_lib
from jaxint.models import hf_io
from jaxint.parallel import distributed
from jaxint.report import demo_section
from jaxint.stages import demo_base
from jaxint.stages import rl as rl_stage
from jaxint.stages import sft as sft_stage
from jaxint.train import config as train_config
from jaxint.train import rl, sft

# arm -> the stage directory whose hf/ export is that arm's model
ARM_MODELS = {"base": "base", "rl_only": "rl_baseline", "rl_only_matched": "rl_matched",
              "int_rl": "rl", "int_sft": "sft", "ref_sft_rl": "ref_rl"}
RL_ARMS = {"rl_only": "rl_baseline", "rl_only_matched": "rl_matched", "int_rl": "rl",
           "ref_sft_rl": "ref_rl"}


def prepared_config(cfg: run_config.RunConfig, run_dir: rundir.RunDir) -> run_config.RunConfig:
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


def base_stage(pipe: loop.Pipeline, cfg: run_config.RunConfig,
               progress: bool) -> rundir.Summary:
    run_dir = pipe.run_dir
    demo_base.build_tokenizer(run_dir)
    paths = demo_base.write_problem_sets(run_dir, cfg.demo)
    pre = demo_metrics.load_problems(paths["pretrain"])
    summary, _ = demo_base.pretrain(run_dir, cfg.demo, cfg.model, pipe.tokenizer(), pre,
                                    mesh=pipe.mesh, progress=progress)
    summary["pretrain_trap_problems"] = sum(1 for p in pre if p.meta.get("trap"))
    return summary


# ------------------------------------------------------------------ the compute-matched control
def sft_trained_tokens(pipe: loop.Pipeline) -> int:
    """Non-padding tokens InT's SFT trained on: epochs x tokens of its examples (the
    replayed correct rollouts included), as its stage summary recorded them."""
    summary = pipe.run_dir.summary("sft")
    if summary.get("skipped"):
        return 0
    return pipe.cfg.sft.epochs * int(summary["example_tokens"])


def _constant_lr(opt: train_config.OptimizerConfig) -> bool:
    return opt.warmup_ratio == 0 and opt.min_lr_ratio == 1.0


def _copy_run(src, dst) -> None:
    """RL-only's checkpoints and logs as the start of the matched run (copied, then renamed
    into place, so a kill leaves either nothing or a whole copy)."""
    if (dst / "checkpoints").is_dir():
        return
    tmp = dst.parent / f".{dst.name}.copy"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src / "checkpoints", tmp / "checkpoints")
    for name in ("metrics.jsonl", rl.GROUPS_FILE):
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    dst.mkdir(parents=True, exist_ok=True)
    for item in tmp.iterdir():
        item.rename(dst / item.name)
    tmp.rmdir()


def _matched_stage(pipe: loop.Pipeline, cfg: run_config.RunConfig) -> rundir.Summary:
    """RL only, given extra steps so its trained tokens equal InT's SFT + RL tokens.

    With a constant learning rate (the demo's) a longer run is the RL-only run continued
    from its last checkpoint (same seeds, prompt order and optimizer state), so it is
    continued rather than retrained; with a schedule it is trained anew from the base.
    """
    per_step = demo_metrics.trained_tokens_per_step(pipe.run_dir.root / "rl_baseline")
    sft_tokens = sft_trained_tokens(pipe)
    extra = math.ceil(sft_tokens / per_step)
    rl_cfg = dataclasses.replace(cfg.rl, steps=cfg.rl.steps + extra)
    src, dst = pipe.run_dir.root / "rl_baseline", pipe.run_dir.stage("rl_matched")
    continued = _constant_lr(cfg.rl.optimizer)
    if continued:
        _copy_run(src, dst)
    summary, _ = rl_stage.run(
        pipe.run_dir, rl_cfg, model=hf_io.load_hf(pipe.run_dir.root / "base" / "hf",
                                                  mesh=pipe.mesh, **cfg.model.runtime()),
        tokenizer=pipe.tokenizer(), problems=pipe.problems(), mesh=pipe.mesh,
        stage="rl_matched", tokenizer_dir=pipe.tokenizer_dir,
        verify_timeout_s=cfg.verify.timeout_s, progress=pipe.progress)
    return {**summary, "extra_steps": extra, "sft_tokens": sft_tokens,
            "rl_tokens_per_step": per_step, "continued_from_rl_only": continued}


# ------------------------------------------------------------------ the reference-SFT control
def _ref_sft_stage(pipe: loop.Pipeline, cfg: run_config.RunConfig) -> rundir.Summary:
    """SFT of the base on the pool's reference solutions, written as prose (a style the base
    never produces), with the end of turn: the paper's "SFT on reference solutions" row."""
    tok = pipe.tokenizer()
    examples = [chat.render_sft(tok, sft_stage.solution_example(p, synthetic.prose_solution(p)))
                for p in pipe.problems()]
    base = hf_io.load_hf(pipe.run_dir.root / "base" / "hf", mesh=pipe.mesh, **cfg.model.runtime())
    # Prose is longer than InT's targets: rows long enough that no solution is cut.
    longest = max(len(e.tokens) for e in examples)
    sft_cfg = dataclasses.replace(cfg.sft, seq_len=max(cfg.sft.seq_len, -(-longest // 32) * 32))
    trainer = sft.SFTTrainer(base, examples, sft_cfg, pipe.run_dir.stage("ref_sft"), mesh=pipe.mesh)
    summary = trainer.run(pipe.run_dir.metrics("ref_sft"), progress=pipe.progress)
    trainer.export(pipe.run_dir.root / "ref_sft" / "hf", tokenizer_dir=pipe.tokenizer_dir)
    return {**summary, "examples": len(examples)}


def _ref_rl_stage(pipe: loop.Pipeline, cfg: run_config.RunConfig) -> rundir.Summary:
    model = hf_io.load_hf(pipe.run_dir.root / "ref_sft" / "hf", mesh=pipe.mesh,
                          **cfg.model.runtime())
    summary, _ = rl_stage.run(
        pipe.run_dir, cfg.rl, model=model, tokenizer=pipe.tokenizer(), problems=pipe.problems(),
        mesh=pipe.mesh, stage="ref_rl", tokenizer_dir=pipe.tokenizer_dir,
        verify_timeout_s=cfg.verify.timeout_s, progress=pipe.progress)
    return summary


# ------------------------------------------------------------------ evaluation
def arms(cfg: run_config.RunConfig) -> list[str]:
    out = ["base", "rl_only"] + (["rl_only_matched"] if cfg.demo.matched_control else [])
    out.append("int_rl")
    return out + (["int_sft", "ref_sft_rl"] if cfg.demo.full else [])


def _eval_stage(pipe: loop.Pipeline, cfg: run_config.RunConfig, arm: str, name: str,
                problems) -> rundir.Summary:
    model_dir = pipe.run_dir.root / ARM_MODELS[arm] / "hf"
    model = hf_io.load_hf(model_dir, mesh=pipe.mesh, **cfg.model.runtime())
    return evaluate_lib.evaluate(model, pipe.tokenizer(), problems, cfg.eval,
                                 pipe.run_dir.stage("eval") / name, mesh=pipe.mesh,
                                 progress=pipe.progress)


def _available(pipe: loop.Pipeline, arm: str) -> bool:
    """InT's arms need an SFT model; a run whose SFT was skipped has none."""
    if arm == "int_sft" and pipe.run_dir.summary("sft").get("skipped"):
        return False
    return (pipe.run_dir.root / ARM_MODELS[arm] / "hf").is_dir()


def run(cfg: run_config.RunConfig, *, progress: bool = True) -> dict[str, Any]:
    t0 = time.perf_counter()
    distributed.maybe_initialize(cfg.distributed)  # before anything touches a device
    cfg = prepared_config(cfg, rundir.RunDir(cfg.run_dir))
    pipe = loop.Pipeline(cfg, progress=progress)
    pipe.run_stage("base", lambda: base_stage(pipe, cfg, progress))
    pipe.run()
    if cfg.demo.matched_control:
        pipe.run_stage("rl_matched", lambda: _matched_stage(pipe, cfg))
    if cfg.demo.full:
        pipe.run_stage("ref_sft", lambda: _ref_sft_stage(pipe, cfg))
        pipe.run_stage("ref_rl", lambda: _ref_rl_stage(pipe, cfg))
    root = pipe.run_dir.root
    heldout = demo_metrics.load_problems(root / "data" / "heldout.jsonl")
    results = {}
    for arm in arms(cfg):
        if not _available(pipe, arm):
            continue
        pipe.run_stage(f"eval_{arm}", lambda a=arm: _eval_stage(pipe, cfg, a, a, heldout))
        results[arm] = demo_metrics.load_results(root / "eval" / arm)
    out = summarize(pipe.run_dir, cfg, heldout, pipe.problems(), results)
    if cfg.demo.full and "int_sft" in results:
        pool_traps = [p for p in demo_metrics.load_problems(root / "data" / "train.jsonl")
                      if p.meta.get("trap")]
        if pool_traps:
            pipe.run_stage("eval_int_sft_pool", lambda: _eval_stage(
                pipe, cfg, "int_sft", "int_sft_pool", pool_traps))
            pool = demo_metrics.load_results(root / "eval" / "int_sft_pool")
            out["transfer"] = {
                "int_sft_pool_trap": float(demo_metrics.reward_matrix(
                    pool, [p.id for p in pool_traps]).mean()),
                "int_sft_heldout_trap": out["accuracy_by_kind"]["trap"].get("int_sft")}
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    loop.summary_json(root / "summary.json", out)
    print(table(out))
    return out


# ------------------------------------------------------------------ the summary
def summarize(
    run_dir: rundir.RunDir, cfg: run_config.RunConfig, heldout: list[records.Problem],
    pool_problems: list[records.Problem], results: dict[str, dict[str, records.EvalResult]],
) -> dict[str, Any]:
    """Every figure of the demo (see the module docstring), from the run's files.

    Args:
        run_dir: The demo's run directory (RL metrics and group logs, stage summaries).
        cfg: The run config.
        heldout: The held-out problems, in order.
        pool_problems: The training pool (RL group logs name its problems).
        results: ``{arm: {problem_id: eval result row}}`` on the held-out set.
    """
    root = run_dir.root
    by_kind = demo_metrics.accuracy_by_kind(results, heldout)
    diff, se, cse = demo_metrics.paired_table(results, heldout)
    pool = {p.id: p for p in pool_problems}
    rl_arms = {a: s for a, s in RL_ARMS.items() if a in results}
    means = {a: rl.summarize(rundir.Metrics(root / s / "metrics.jsonl").read())
             for a, s in rl_arms.items()}
    out = {
        "accuracy": by_kind.pop("all"),
        "accuracy_by_kind": by_kind,
        "paired_diff": diff,
        "paired_se": se,
        "paired_se_by_problem": cse,
        "trap_step_accuracy": demo_metrics.trap_step_accuracy(results, heldout),
        "zero_adv": {a: demo_metrics.zero_advantage(root / s, pool) for a, s in rl_arms.items()},
        "zero_adv_frac": {a: m.get("zero_adv_frac") for a, m in means.items()},
        "reward_mean": {a: m.get("reward_mean") for a, m in means.items()},
        "rl_steps": {a: m.get("steps") for a, m in means.items()},
        "interventions": _intervention_stats(root),
        "sft_examples": run_dir.summary("sft").get("examples"),
        "sft_replay_examples": run_dir.summary("sft").get("replay_examples"),
        "matched": {k: run_dir.summary("rl_matched").get(k)
                    for k in ("extra_steps", "sft_tokens", "rl_tokens_per_step",
                              "continued_from_rl_only")},
        "stage_wall_s": {s: v.get("wall_s") for s, v in run_dir.manifest()["stages"].items()},
        "heldout_problems": len(heldout),
        "heldout_by_kind": {k: sum(demo_metrics.kind(p) == k for p in heldout)
                            for k in demo_metrics.KINDS},
        "eval_samples": cfg.eval.n,
        "seed": cfg.demo.seed,
        "trap": _trap_description(cfg),
    }
    return out


def _trap_description(cfg: run_config.RunConfig) -> dict[str, Any]:
    kinds = [synthetic.TRAP_KINDS[k] for k in cfg.demo.trap_kinds]
    return {"kinds": [{"kind": k.name, "phrases": list(k.phrases), "means": k.true_op,
                       "corpus_computes": k.corpus_op} for k in kinds],
            "fraction": cfg.demo.trap_fraction,
            "pretrain_fraction": cfg.demo.pretrain_trap_fraction}


def describe_traps(trap: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(phrase, meaning, corpus operation) of each trap kind in a summary's ``trap`` entry
    (round-1 summaries hold one kind at the top level)."""
    kinds = trap.get("kinds") or [trap]
    return [(p.replace("{b}", "b"), str(k.get("means")), str(k.get("corpus_computes")))
            for k in kinds for p in k.get("phrases", [])]


def _intervention_stats(root) -> dict[str, Any]:
    stats_path, filter_path = root / "intervene" / "stats.json", root / "filter" / "stats.json"
    out = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    if filter_path.is_file():
        out["filter"] = json.loads(filter_path.read_text())
    return out


# ------------------------------------------------------------------ the printed table
def _pct(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _pts(d: Any, se: Any) -> str:
    if d is None or se is None or math.isnan(d):
        return "-"
    z = f"{d / se:+.1f}" if se and not math.isnan(se) else "-"
    return f"{100 * d:+.1f} ± {100 * se:.1f} (z {z})"


def table(summary: dict[str, Any]) -> str:
    """The demo's result tables (Markdown)."""
    acc, kinds = summary["accuracy"], summary.get("accuracy_by_kind", {})
    trap_step, zero = summary.get("trap_step_accuracy", {}), summary.get("zero_adv", {})
    counts = summary.get("heldout_by_kind", {})
    trap = summary.get("trap", {})
    lines = [
        f"Held-out pass@1, seed {summary.get('seed')} ({summary['heldout_problems']} problems: "
        f"{counts.get('trap', '-')} trap, {counts.get('plain', '-')} plain; "
        f"{summary['eval_samples']} samples each). Trap steps: "
        + "; ".join(f"'{p}' means '{m}', the pretraining corpus computes '{c}'"
                    for p, m, c in describe_traps(trap)) + ".",
        "",
        "| arm | all | trap | plain | trap step right | RL groups all wrong (trap / plain) "
        "| RL groups all correct (trap / plain) |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in acc:
        z = zero.get(arm)
        wrong = (f"{_pct(z['trap']['all_wrong'])} / {_pct(z['plain']['all_wrong'])}"
                 if z else "-")
        right = (f"{_pct(z['trap']['all_correct'])} / {_pct(z['plain']['all_correct'])}"
                 if z else "-")
        label = demo_section.ARM_LABELS.get(arm, arm)
        if arm == "rl_only_matched" and summary.get("matched", {}).get("extra_steps") is not None:
            label += f" (+{summary['matched']['extra_steps']} steps)"
        lines.append(f"| {label} | {_pct(acc[arm])} | {_pct(kinds.get('trap', {}).get(arm))} | "
                     f"{_pct(kinds.get('plain', {}).get(arm))} | {_pct(trap_step.get(arm))} | "
                     f"{wrong} | {right} |")
    diff, se = summary.get("paired_diff", {}), summary.get("paired_se", {})
    if diff:
        lines += ["", "Paired differences, points ± paired SE over problem x sample "
                  "(z = difference / SE):", "",
                  "| comparison | trap | plain | all |", "|---|---|---|---|"]
        for key, d in diff.items():
            lines.append(f"| {demo_section.COMPARISON_LABELS.get(key, key)} | "
                         + " | ".join(_pts(d.get(k), se[key].get(k))
                                      for k in ("trap", "plain", "all")) + " |")
    lines += ["", _intervention_line(summary)]
    tr = summary.get("transfer")
    if tr:
        lines.append(f"Transfer of InT's SFT alone: pool trap problems "
                     f"{_pct(tr.get('int_sft_pool_trap'))}, held-out trap problems "
                     f"{_pct(tr.get('int_sft_heldout_trap'))} (close: a learnt reading; far "
                     f"apart: memorised problems).")
    lines.append(f"Wall time {summary.get('wall_s', 0):.0f} s.")
    return "\n".join(lines)


def _intervention_line(summary: dict[str, Any]) -> str:
    iv = summary.get("interventions", {})
    line = (f"Interventions: {iv.get('proposals', '-')} proposals, {iv.get('accepted', '-')} "
            f"accepted, {summary.get('sft_examples', '-')} used for SFT")
    if summary.get("sft_replay_examples"):
        line += f" with {summary['sft_replay_examples']} replayed correct rollouts"
    rejected = {k: v for k, v in iv.get("rejected", {}).items() if v}
    if rejected:
        line += " (rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(rejected.items())) + ")"
    flt = iv.get("filter") or {}
    if flt.get("enabled"):
        line += (f"; filter kept {flt.get('kept')}/{flt.get('interventions')}, continuation "
                 f"accuracy {_pct(flt.get('mean_accuracy'))}")
    return line + "."
