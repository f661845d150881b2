"""Benchmark suites: several bundled evaluation sets run with one model, reported as one table.

The ``paper`` suite is the InT paper's results table (shared/PAPER.md): IMO-AnswerBench (v2)
and HMMT November 2025 by pass@1 (mean accuracy over the n samples), AMO-Bench and Apex
Shortlist by pass@8 estimated from the n samples. Each benchmark is an ordinary ``evaluate``
run in its own sub-directory (resumable, with its own ``summary.json``); the suite adds
``suite_<name>.json`` and the table, benchmarks as columns as in the paper.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Sequence
from typing import Any

from jaxint import rundir
from jaxint.data import config as data_config
from jaxint.data import loaders, records
from jaxint.evaluation import config as eval_config
from jaxint.evaluation import evaluate


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One column of a suite's table.

    Attributes:
        dataset: The bundled short name.
        title: The column heading (the paper's).
        k: The reported metric is pass@k (k = 1: mean accuracy over the samples).
    """

    dataset: str
    title: str
    k: int


SUITES: dict[str, tuple[Benchmark, ...]] = {
    "paper": (
        Benchmark("imo-answerbench", "IMO-AnswerBench", 1),
        Benchmark("hmmt-nov25", "HMMT Nov 2025", 1),
        Benchmark("amo", "AMO-Bench pass@8", 8),
        Benchmark("apex", "Apex Shortlist pass@8", 8),
    ),
}

# Printed under the table: what makes these numbers differ from the paper's.
_NOTES = {
    "amo": "AMO-Bench: the 39 parser-gradable of its 50 problems (the paper used all 50)",
}


def benchmark_config(cfg: eval_config.EvalConfig, bench: Benchmark) -> eval_config.EvalConfig:
    """``cfg`` for one benchmark: its dataset, and the suite's k among the pass@k columns
    (when the n samples allow it)."""
    ks = {k for k in cfg.ks if k <= cfg.n} | ({bench.k} if bench.k <= cfg.n else set())
    return dataclasses.replace(cfg, dataset=bench.dataset, ks=tuple(sorted(ks)), suite=None)


def load(bench: Benchmark) -> list[records.Problem]:
    """The benchmark's problems, never decontaminated, with surrounding whitespace stripped
    (some Apex items end with a newline the prompt should not carry)."""
    problems = loaders.load_problems(
        data_config.DatasetConfig(path=bench.dataset, decontaminate=False))
    return [dataclasses.replace(p, problem=p.problem.strip()) for p in problems]


def run(
    model: Any, tokenizer: Any, suite: str, cfg: eval_config.EvalConfig,
    out_dir: str | pathlib.Path, *, label: str = "model", mesh: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluates every benchmark of ``suite`` into ``out_dir/<dataset>/``; writes and returns
    the suite summary (see :func:`summarize`)."""
    out = pathlib.Path(out_dir)
    summaries = {}
    for bench in benchmarks(suite):
        summaries[bench.dataset] = evaluate.evaluate(
            model, tokenizer, load(bench), benchmark_config(cfg, bench), out / bench.dataset,
            mesh=mesh, progress=progress)
    summary = summarize(suite, summaries, n=cfg.n, label=label)
    if rundir.is_writer():
        rundir.atomic_write_text(out / f"suite_{suite}.json", json.dumps(summary, indent=2))
    return summary


def benchmarks(suite: str) -> tuple[Benchmark, ...]:
    if suite not in SUITES:
        raise ValueError(f"unknown eval suite {suite!r}; known: {sorted(SUITES)}")
    return SUITES[suite]


def summarize(suite: str, summaries: dict[str, dict[str, Any]], *, n: int,
              label: str) -> dict[str, Any]:
    """The suite summary: per benchmark its metric name and value (``None`` when n < k),
    problem count and full ``evaluate`` summary."""
    columns = []
    for bench in benchmarks(suite):
        one = summaries[bench.dataset]
        columns.append({
            "dataset": bench.dataset, "title": bench.title, "metric": f"pass@{bench.k}",
            "value": one.get(f"pass@{bench.k}") if bench.k <= n else None,
            "problems": one["problems"], "summary": one,
        })
    return {"suite": suite, "model": label, "n": n, "benchmarks": columns}


def table(summaries: Sequence[dict[str, Any]]) -> str:
    """One Markdown table, a row per suite summary (model), benchmarks as columns, values in
    percent with two decimals as in the paper; notes on comparability follow."""
    first = summaries[0]["benchmarks"]
    head = "| model | " + " | ".join(b["title"] for b in first) + " |"
    rows = [head, "|---" * (1 + len(first)) + "|"]
    for summary in summaries:
        cells = [_cell(b, summary["n"]) for b in summary["benchmarks"]]
        rows.append(f"| {summary['model']} | " + " | ".join(cells) + " |")
    n = summaries[0]["n"]
    counts = ", ".join(f"{b['title'].split(' pass@')[0]} {b['problems']}" for b in first)
    rows.append(f"\nn = {n} samples per problem; problems: {counts}.")
    rows += [note for name, note in _NOTES.items() if any(b["dataset"] == name for b in first)]
    return "\n".join(rows)


def _cell(bench: dict[str, Any], n: int) -> str:
    if bench["value"] is None:
        return f"n/a ({bench['metric']} needs n >= {bench['metric'][5:]}, n = {n})"
    return f"{100 * bench['value']:.2f}"


def flat_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """``{"<dataset>/<metric>": value}`` of a suite summary, for metric writers (numbers
    only)."""
    return {f"{b['dataset']}/{b['metric']}": b["value"] for b in summary["benchmarks"]
            if b["value"] is not None}
