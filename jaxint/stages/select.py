"""Stage `select`: keep the problems the policy cannot solve (PAPER.md step 1).

Each problem gets `select.samples` attempts (the paper: 64); a problem is kept when at most
`select.max_correct` of them are correct (the paper: 0). Attempts are sampled and scored by
the one sample-and-score path (`jaxint.sample_score`), shard by shard: shard k always
holds the same problems and uses seed (seed, k), so a resumed run writes exactly what an
uninterrupted one would, and SIGTERM stops the stage after the shard being committed.

Outputs in `select/`: `shard-*.jsonl` (every problem's count), `pool.jsonl` (the kept
problems' ids with their counts, in dataset order), `stats.json` (how many were kept and the
histogram of correct counts, i.e. of solve rates). `generate` and RL read the kept pool
(`kept_problems`) once this stage is done.
"""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Sequence
from typing import Any

from jax.sharding import Mesh

from jaxint import progress as progress_lib
from jaxint import rundir, sample_score
from jaxint.data import loaders, records
from jaxint.models import decoder
from jaxint.stages import config as stages_config

log = logging.getLogger(__name__)
POOL_FILE = "pool.jsonl"
STATS_FILE = "stats.json"


def _counts(
    chunk: Sequence[records.Problem], scored: Sequence[sample_score.Scored]
) -> list[records.SolveCount]:
    return [records.SolveCount(p.id, len(s.rewards), s.num_correct, skipped=s.skipped,
                               prompt_tokens=s.prompt_tokens if s.skipped else None)
            for p, s in zip(chunk, scored, strict=True)]


def run(
    run_dir: rundir.RunDir, cfg: stages_config.SelectConfig, *, model: decoder.Decoder,
    tokenizer: Any, problems: Sequence[records.Problem], mesh: Mesh | None = None,
    timeout_s: float = 10.0, progress: bool = True,
) -> rundir.Summary:
    """Scores every problem's attempts shard by shard, then writes the pool and stats."""
    problems = list(problems)[: cfg.limit] if cfg.limit else list(problems)
    shards = rundir.Shards(run_dir.stage("select"))
    metrics = run_dir.metrics("select")
    sampling_cfg = cfg.sampling.with_count(cfg.samples, max_prompt_tokens=cfg.max_prompt_tokens)
    parts = rundir.chunks(problems, cfg.shard_size)
    for k, chunk in enumerate(progress_lib.Bar(parts, desc="select", unit="shard",
                                               disable=not progress)):
        if shards.done(k):
            continue
        scored = sample_score.sample_and_score(
            model, tokenizer, [sample_score.Request(p.problem, None, p.answer) for p in chunk],
            sampling_cfg, seed=cfg.seed * 1_000_003 + k, mesh=mesh, timeout_s=timeout_s,
            progress=progress, desc="select")
        rows = _counts(chunk, scored)
        shards.write(k, rows)
        metrics.write({"shard": k, "of": len(parts),
                       "correct": sum(r.num_correct for r in rows)})
    return write_pool(run_dir, cfg, shards.read_records(records.SolveCount))


def stats(cfg: stages_config.SelectConfig,
          rows: Sequence[records.SolveCount]) -> rundir.Summary:
    """Counts of the kept pool and the histogram of correct attempts per scored problem."""
    scored = [r for r in rows if not r.skipped]
    hist = collections.Counter(r.num_correct for r in scored)
    kept = [r for r in scored if r.num_correct <= cfg.max_correct]
    rates = [r.num_correct / r.samples for r in scored if r.samples]
    return {
        "problems": len(rows), "scored": len(scored),
        "skipped_long_prompts": len(rows) - len(scored),
        "samples": cfg.samples, "max_correct": cfg.max_correct, "kept": len(kept),
        "kept_frac": len(kept) / len(scored) if scored else 0.0,
        "mean_solve_rate": sum(rates) / len(rates) if rates else 0.0,
        "num_correct_histogram": {str(c): hist[c] for c in sorted(hist)},
    }


def write_pool(
    run_dir: rundir.RunDir, cfg: stages_config.SelectConfig, rows: Sequence[records.SolveCount]
) -> rundir.Summary:
    """Writes `pool.jsonl` and `stats.json`; returns the stage summary."""
    summary = stats(cfg, rows)
    kept = [r for r in rows if not r.skipped and r.num_correct <= cfg.max_correct]
    if rundir.is_writer():
        rundir.write_jsonl(run_dir.stage("select") / POOL_FILE, kept)
        rundir.atomic_write_text(run_dir.stage("select") / STATS_FILE,
                                 json.dumps(summary, indent=2))
    run_dir.metrics("select").write({k: v for k, v in summary.items()
                                     if k != "num_correct_histogram"})
    return {k: summary[k] for k in ("problems", "kept", "kept_frac", "skipped_long_prompts",
                                    "mean_solve_rate")}


def kept_problems(
    run_dir: rundir.RunDir, problems: Sequence[records.Problem]
) -> list[records.Problem]:
    """`problems` restricted to select's kept pool when the select stage is done, else all.

    Raises:
        loaders.DataError: the pool names a problem the dataset lacks, or is empty.
    """
    if not run_dir.is_done("select"):
        return list(problems)
    path = run_dir.stage("select") / POOL_FILE
    ids = {r.problem_id for r in rundir.read_records(path, records.SolveCount)}
    known = {p.id for p in problems}
    missing = sorted(ids - known)
    if missing:
        raise loaders.DataError(f"{path}: problem id {missing[0]!r} is not in the dataset "
                                "(the data changed since select ran?)", file=str(path))
    if not ids:
        raise loaders.DataError(f"{path}: the kept pool is empty: no problem had at most "
                                "select.max_correct correct attempts", file=str(path))
    return [p for p in problems if p.id in ids]
