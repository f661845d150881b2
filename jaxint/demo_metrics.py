"""The demo's measurements, from the files its stages wrote.

Everything here reads a finished run directory: held-out results per arm
(``eval/ARM/results-*.jsonl``), the problems (``data/*.jsonl``, whose ``meta`` says which are
trap problems) and the RL group logs (``STAGE/groups.jsonl``). Nothing is recomputed on a
device, so `jaxint report` and a rerun of the demo give the same figures.

Kinds: a held-out problem is ``trap`` when it holds a trap step (``meta.trap``), else
``plain``. Differences between arms are paired over problem x sample index
(`jaxint.evaluation.paired`).
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxint import rundir
from jaxint.data import records, synthetic
from jaxint.evaluation import paired
from jaxint.train import rl

KINDS = ("trap", "plain")
# (summary key, arm compared with rl_only's control)
COMPARISONS = (("int_rl_vs_rl_only", "int_rl", "rl_only"),
               ("int_rl_vs_rl_only_matched", "int_rl", "rl_only_matched"))


def kind(problem: records.Problem) -> str:
    return "trap" if problem.meta.get("trap") else "plain"


def load_problems(path: pathlib.Path) -> list[records.Problem]:
    return rundir.read_records(path, records.Problem)


def load_results(eval_dir: pathlib.Path) -> dict[str, records.EvalResult]:
    """{problem_id: result} of one evaluation directory (all its shards)."""
    return {r.problem_id: r for path in sorted(eval_dir.glob("results-*.jsonl"))
            for r in rundir.read_records(path, records.EvalResult)}


def reward_matrix(results: Mapping[str, records.EvalResult], ids: Sequence[str]) -> np.ndarray:
    """``[len(ids), n]`` rewards in the order of ``ids``; a problem without results is an
    error naming it (arms are only compared on identical problem sets)."""
    missing = [i for i in ids if i not in results]
    if missing:
        raise ValueError(f"no evaluation results for problem {missing[0]!r}")
    return np.asarray([results[i].rewards for i in ids], np.float64).reshape(len(ids), -1)


def ids_by_kind(problems: Sequence[records.Problem]) -> dict[str, list[str]]:
    out = {k: [p.id for p in problems if kind(p) == k] for k in KINDS}
    out["all"] = [p.id for p in problems]
    return out


def accuracy_by_kind(
    arms: Mapping[str, Mapping[str, records.EvalResult]], problems: Sequence[records.Problem]
) -> dict[str, dict[str, float]]:
    """``{"trap": {arm: pass@1}, "plain": {...}, "all": {...}}`` on the held-out set."""
    groups = ids_by_kind(problems)
    return {k: {arm: float(reward_matrix(res, ids).mean()) if ids else float("nan")
                for arm, res in arms.items()}
            for k, ids in groups.items()}


def paired_table(
    arms: Mapping[str, Mapping[str, records.EvalResult]], problems: Sequence[records.Problem]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(differences, paired SEs, problem-clustered SEs) of each comparison, by kind."""
    groups = ids_by_kind(problems)
    diff, se, cse = {}, {}, {}
    for key, arm, control in COMPARISONS:
        if arm not in arms or control not in arms:
            continue
        diff[key], se[key], cse[key] = {}, {}, {}
        for k, ids in groups.items():
            a, b = reward_matrix(arms[arm], ids), reward_matrix(arms[control], ids)
            diff[key][k] = paired.mean_difference(a, b)
            se[key][k] = paired.paired_se(a, b)
            cse[key][k] = paired.clustered_se(a, b)
    return diff, se, cse


def trap_step_correct(problem: records.Problem, completion: str) -> bool:
    """Whether the attempt reaches the trap step with every step up to it right."""
    check = synthetic.check_attempt(problem, completion or "")
    return check.correct or check.first_error > int(problem.meta["trap_step"])


def trap_step_accuracy(
    arms: Mapping[str, Mapping[str, records.EvalResult]], problems: Sequence[records.Problem]
) -> dict[str, float]:
    """Per arm: share of held-out trap-problem samples whose trap step is computed right."""
    traps = [p for p in problems if kind(p) == "trap"]
    out = {}
    for arm, res in arms.items():
        hits = [trap_step_correct(p, c) for p in traps for c in res[p.id].completions]
        out[arm] = float(np.mean(hits)) if hits else float("nan")
    return out


def zero_advantage(stage_dir: pathlib.Path, problems: Mapping[str, records.Problem],
                   first_step: int = 1) -> dict[str, Any]:
    """Shares of RL groups (from step ``first_step`` on) whose G samples were all wrong or
    all correct (both give zero advantage), overall and on trap / plain problems."""
    rows = [r for r in rl.read_groups(stage_dir) if r["step"] >= first_step]
    counts = {k: [] for k in KINDS}
    for row in rows:
        for pid, c in zip(row["problem_ids"], row["num_correct"], strict=True):
            counts[kind(problems[pid])].append((c, row["n"]))

    def shares(pairs: list[tuple[int, int]]) -> dict[str, float | int]:
        if not pairs:
            return {"all_wrong": float("nan"), "all_correct": float("nan"), "groups": 0}
        return {"all_wrong": float(np.mean([c == 0 for c, _ in pairs])),
                "all_correct": float(np.mean([c == n for c, n in pairs])),
                "groups": len(pairs)}

    return {**shares(counts["trap"] + counts["plain"]),
            **{k: shares(v) for k, v in counts.items()}}


def trained_tokens_per_step(stage_dir: pathlib.Path) -> float:
    """Mean non-padding tokens per GRPO step (over its update epochs) from its metrics."""
    rows = [r for r in rundir.Metrics(stage_dir / "metrics.jsonl").read() if "train_tokens" in r]
    if not rows:
        raise ValueError(f"{stage_dir / 'metrics.jsonl'}: no GRPO steps with train_tokens")
    return float(np.mean([r["train_tokens"] for r in rows]))
