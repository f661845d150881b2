"""`jaxint compare`: credit-assignment methods side by side, on one table.

Every method starts from the same base model, trains on the same pool with the same RL budget
(`rl:`; only `rl.credit` differs) and is evaluated on the same held-out problems with the same
sampling seeds, so differences against `outcome` (GRPO) are paired over problem x sample:

- ``outcome``, ``vineppo``, ``grpo_lambda``, ``oppo``, ``capo``: GRPO from the base with
  ``rl.credit`` set to the method (`jaxint.train.credit`);
- ``int``: InT's pipeline (generate, verify, intervene, filter, SFT) then ``outcome`` GRPO.

Stages share the run directory with `jaxint run` / `jaxint demo` of the same config:
``outcome`` is the pipeline's ``rl_baseline`` (RL only), ``int`` its ``rl`` stage, the others
``credit_METHOD/``; evaluations go to ``eval/ARM/`` (``rl_only``, ``int_rl`` and the method
names). A demo config (a ``demo:`` section) first builds the demo's base model and problem sets
and splits the table by kind (trap / plain). Every stage is resumable; the table and
``compare/summary.json`` are rebuilt from the files each time.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

from jaxint import config as run_config
from jaxint import configlib, demo, demo_metrics, loop, rundir
from jaxint.data import config as data_config
from jaxint.data import loaders, records
from jaxint.evaluation import evaluate as evaluate_lib
from jaxint.evaluation import paired
from jaxint.models import hf_io
from jaxint.models import spec as model_spec
from jaxint.parallel import distributed
from jaxint.stages import rl as rl_stage
from jaxint.train import rl
from jaxint.train.credit import config as credit_config

METHODS = (*credit_config.METHODS, "int")
CONTROL = "outcome"
# method -> (RL stage directory, eval arm name); the arms of `jaxint demo` where they coincide
_PLACES = {"outcome": ("rl_baseline", "rl_only"), "int": ("rl", "int_rl")}
_INT_STAGES = ("generate", "verify", "intervene", "filter", "sft")


def parse_methods(text: str | Sequence[str]) -> list[str]:
    """The methods of ``--methods a,b,c`` in table order, ``outcome`` (the control) first."""
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text)]
    names = [m for m in names if m]
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise configlib.ConfigError(
            f"--methods: unknown method {unknown[0]!r} (methods: {', '.join(METHODS)})")
    return [CONTROL] + [m for m in dict.fromkeys(names) if m != CONTROL]


def places(method: str) -> tuple[str, str]:
    """(RL stage directory, evaluation arm) of ``method``."""
    return _PLACES.get(method, (f"credit_{method}", method))


def prepared_config(cfg: run_config.RunConfig, methods: Sequence[str]) -> run_config.RunConfig:
    """The run config the comparison runs: the demo's files for a demo config; InT's stages
    only when ``int`` is compared; RL only (``outcome``) always."""
    if cfg.demo is not None:
        cfg = demo.prepared_config(cfg, rundir.RunDir(cfg.run_dir))
    stages = tuple(s for s in cfg.stages if s in _INT_STAGES) + ("rl",)
    return dataclasses.replace(cfg, stages=stages if "int" in methods else (), rl_baseline=True)


def run(cfg: run_config.RunConfig, methods: Sequence[str], *,
        progress: bool = True) -> dict[str, Any]:
    """Runs every method's missing stages, then writes ``compare/summary.json``; returns it."""
    t0 = time.perf_counter()
    distributed.maybe_initialize(cfg.distributed)
    methods = parse_methods(methods)
    cfg = prepared_config(cfg, methods)
    pipe = loop.Pipeline(cfg, progress=progress)
    if cfg.demo is not None:
        pipe.run_stage("base", lambda: demo.base_stage(pipe, cfg, progress))
    pipe.run()  # InT's stages (with `int`) and RL only
    for method in methods:
        if method not in _PLACES:
            pipe.run_stage(places(method)[0], lambda m=method: _credit_stage(pipe, cfg, m))
    heldout = _heldout(pipe, cfg)
    results = {}
    for method in ["base", *methods]:
        stage, arm = ("base", "base") if method == "base" else places(method)
        pipe.run_stage(f"eval_{arm}", lambda s=stage, a=arm: _eval(pipe, cfg, s, a, heldout))
        results[method] = demo_metrics.load_results(pipe.run_dir.root / "eval" / arm)
    out = summarize(pipe, methods, heldout, results)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    path = pipe.run_dir.stage("compare") / "summary.json"
    loop.summary_json(path, out)
    if rundir.is_writer():
        rundir.atomic_write_text(path.with_name("table.md"), table(out) + "\n")
    print(table(out))
    return out


def _credit_stage(pipe: loop.Pipeline, cfg: run_config.RunConfig, method: str) -> dict:
    base = model_spec.load(pipe.base_spec, mesh=pipe.mesh)
    summary, _ = rl_stage.run(
        pipe.run_dir, dataclasses.replace(cfg.rl, credit=method), model=base,
        tokenizer=pipe.tokenizer(), problems=pipe.pool(), mesh=pipe.mesh,
        stage=places(method)[0], tokenizer_dir=pipe.tokenizer_dir,
        verify_timeout_s=cfg.verify.timeout_s, progress=pipe.progress)
    return summary


def _heldout(pipe: loop.Pipeline, cfg: run_config.RunConfig) -> list:
    if cfg.demo is not None:
        return demo_metrics.load_problems(pipe.run_dir.root / "data" / "heldout.jsonl")
    if not cfg.eval.dataset:
        raise configlib.ConfigError("compare: eval.dataset names no held-out set")
    return loaders.load_problems(data_config.DatasetConfig(path=cfg.eval.dataset,
                                                           decontaminate=False))


def _eval(pipe: loop.Pipeline, cfg: run_config.RunConfig, stage: str, arm: str,
          problems: list) -> dict[str, Any]:
    if stage == "base":  # the configured model (the demo's: its pretrained base/hf)
        model = model_spec.load(pipe.base_spec, mesh=pipe.mesh)
    else:
        model = hf_io.load_hf(pipe.run_dir.root / stage / "hf", mesh=pipe.mesh,
                              **cfg.model.runtime())
    return evaluate_lib.evaluate(model, pipe.tokenizer(), problems, cfg.eval,
                                 pipe.run_dir.stage("eval") / arm, mesh=pipe.mesh,
                                 progress=pipe.progress)


# ------------------------------------------------------------------ the summary
def summarize(pipe: loop.Pipeline, methods: Sequence[str], heldout: list,
              results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Every figure of the table, from the run's files (see the module docstring)."""
    root = pipe.run_dir.root
    groups = demo_metrics.ids_by_kind(heldout)
    kinds = ["all"] + [k for k in demo_metrics.KINDS if groups[k] and len(groups[k]) < len(heldout)]
    pool = {p.id: p for p in pipe.pool()}
    manifest = pipe.run_dir.manifest()["stages"]
    acc, diff, se, zero, cost = {}, {}, {}, {}, {}
    for method in ["base", *methods]:
        acc[method] = {k: float(demo_metrics.reward_matrix(results[method], groups[k]).mean())
                       for k in kinds}
        if method == "base":
            continue
        stage = places(method)[0]
        if method != CONTROL:
            diff[method], se[method] = {}, {}
            for k in kinds:
                a = demo_metrics.reward_matrix(results[method], groups[k])
                b = demo_metrics.reward_matrix(results[CONTROL], groups[k])
                diff[method][k] = paired.mean_difference(a, b)
                se[method][k] = paired.paired_se(a, b)
        zero[method] = demo_metrics.zero_advantage(root / stage, pool)
        cost[method] = _cost(pipe, method, stage, manifest)
    return {"methods": list(methods), "kinds": kinds, "accuracy": acc, "paired_diff": diff,
            "paired_se": se, "zero_adv": zero, "cost": cost, "control": CONTROL,
            "heldout_problems": len(heldout), "eval_samples": pipe.cfg.eval.n,
            "rl_steps": pipe.cfg.rl.steps,
            "checker_critic": "capo" in methods and bool(heldout)
            and all(p.source == "synthetic" for p in heldout)}


def _cost(pipe: loop.Pipeline, method: str, stage: str, manifest: dict) -> dict[str, float]:
    """Tokens sampled and trained/scored, and wall time: the RL stage's own, plus for ``int``
    the stages before it (its rollouts, continuations and SFT)."""
    m = rl.summarize(rundir.Metrics(pipe.run_dir.root / stage / "metrics.jsonl").read())
    out = {"sampled_tokens": m.get("rollout_tokens", 0.0) + m.get("extra_tokens", 0.0),
           "extra_tokens": m.get("extra_tokens", 0.0),
           "forward_tokens": m.get("train_tokens", 0.0) + m.get("extra_forward_tokens", 0.0),
           "extra_forward_tokens": m.get("extra_forward_tokens", 0.0),
           "time_credit_s": m.get("time_credit_s", 0.0),
           "wall_s": float(manifest.get(stage, {}).get("wall_s") or 0.0)}
    if method == "int":
        before = [s for s in _INT_STAGES if s in manifest]
        out["wall_s"] += sum(float(manifest[s].get("wall_s") or 0.0) for s in before)
        out["forward_tokens"] += float(demo.sft_trained_tokens(pipe))
        extra = _int_sampled_tokens(pipe.run_dir.root)
        out["sampled_tokens"] += extra
        out["extra_tokens"] += extra
    return out


def _int_sampled_tokens(root) -> float:
    """Tokens InT sampled before RL: its rollouts (generate) and the filter's continuations.
    A policy intervener's own turns are not counted (the demo's oracle samples nothing)."""
    rollouts = rundir.Shards(root / "generate").read_records(records.Rollout)
    continuations = rundir.Shards(root / "filter").read_records(records.Continuation)
    return float(sum(r.num_tokens or 0 for r in rollouts)
                 + sum(sum(c.lengths) for c in continuations))


def _pct(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _pts(d: float, s: float) -> str:
    if d is None or math.isnan(d):
        return "-"
    if not s:  # every pair equal (or one pair): no z to give
        return f"{100 * d:+.1f} ± 0.0"
    return f"{100 * d:+.1f} ± {100 * s:.1f} (z {d / s:+.1f})"


def table(summary: dict[str, Any]) -> str:
    """The comparison as Markdown: accuracy by kind, paired differences against outcome,
    zero-advantage groups and cost."""
    kinds, acc = summary["kinds"], summary["accuracy"]
    lines = [f"Held-out pass@1 ({summary['heldout_problems']} problems x "
             f"{summary['eval_samples']} samples), {summary['rl_steps']} RL steps per method; "
             f"differences are against {summary['control']} (GRPO), paired over problem x "
             "sample, ± one paired SE.", "",
             "| method | " + " | ".join(kinds) + " | vs outcome (all) | RL groups all wrong "
             "| all correct | sampled tokens | trained+scored tokens | wall |",
             "|---" * (len(kinds) + 7) + "|"]
    for method in ["base", *summary["methods"]]:
        label = method + (" (step checker as critic)" if method == "capo"
                          and summary.get("checker_critic") else "")
        cells = [_pct(acc[method][k]) for k in kinds]
        if method in summary["paired_diff"]:
            cells.append(_pts(summary["paired_diff"][method]["all"],
                              summary["paired_se"][method]["all"]))
        else:
            cells.append("-")
        z, c = summary["zero_adv"].get(method, {}), summary["cost"].get(method, {})
        cells += [_pct(z.get("all_wrong")), _pct(z.get("all_correct")),
                  f"{c['sampled_tokens']:,.0f}" if c else "-",
                  f"{c['forward_tokens']:,.0f}" if c else "-",
                  f"{c['wall_s']:.0f} s" if c else "-"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if len(kinds) > 1:
        lines += ["", "| method vs outcome | " + " | ".join(kinds) + " |",
                  "|---" * (len(kinds) + 1) + "|"]
        for method, d in summary["paired_diff"].items():
            lines.append(f"| {method} | " + " | ".join(
                _pts(d[k], summary["paired_se"][method][k]) for k in kinds) + " |")
    return "\n".join(lines)
