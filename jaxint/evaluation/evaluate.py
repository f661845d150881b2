"""`jaxint eval`: sample n completions per problem, score them, report pass@k."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import Any

from jax.sharding import Mesh

from jaxint import progress as progress_lib
from jaxint import rundir, sample_score
from jaxint.data import records
from jaxint.evaluation import config as eval_config
from jaxint.evaluation import passk
from jaxint.models import decoder
from jaxint.sampling import api as sampling_api
from jaxint.sampling import engine as engine_lib


def _shard_records(
    engine: engine_lib.Engine, params, tokenizer, problems: Sequence[records.Problem],
    cfg: eval_config.EvalConfig, shard: int, progress: bool,
) -> list[records.EvalResult]:
    prompts, samples = sample_score.sample(engine, params, tokenizer, problems,
                                           seed=cfg.seed * 1_000_003 + shard, progress=progress)
    ro = sample_score.score(problems, prompts, samples, timeout_s=cfg.verify_timeout_s)
    return [records.EvalResult(p.id, p.answer, tuple(rewards.astype(int).tolist()),
                               tuple(reasons), tuple(len(s.tokens) for s in group),
                               tuple(s.text for s in group))
            for p, group, rewards, reasons in zip(problems, samples, ro.rewards, ro.reasons)]


def _finished(shards: rundir.Shards, k: int, chunk: Sequence[records.Problem]) -> bool:
    """Shard k is done only if it holds exactly this chunk's problems: a rerun with another
    problem list, `limit` or shard size must not take a stale shard for finished work."""
    if not shards.done(k):
        return False
    done = shards.read_records(records.EvalResult, k)
    return [r.problem_id for r in done] == [p.id for p in chunk]


def summarize(results: Sequence[records.EvalResult], ks: Sequence[int]) -> dict[str, Any]:
    counts = [(r.n, r.num_correct) for r in results]
    summary = {"problems": len(results),
               "pass@1": passk.mean_pass_at_k(counts, 1) if counts else 0.0,
               "solved": sum(1 for _, c in counts if c > 0)}
    for k in ks:
        summary[f"pass@{k}"] = passk.mean_pass_at_k(counts, k)
    return summary


def evaluate(
    model: decoder.Decoder, tokenizer: Any, problems: Sequence[records.Problem],
    cfg: eval_config.EvalConfig, out_dir: str | pathlib.Path, *, mesh: Mesh | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluates shard by shard into `out_dir` (resumable); returns the summary.

    Per-problem results go to `out_dir/results-*.jsonl`, the summary to `summary.json`.
    pass@1 is the mean reward over all samples (= the unbiased pass@1).
    """
    out = pathlib.Path(out_dir)
    problems = list(problems)[: cfg.limit] if cfg.limit else list(problems)
    shards = rundir.Shards(out, "results")
    graphdef, params = sampling_api.sampling_params(model)
    settings = cfg.sampling.with_count(cfg.n,
                                       stop_token_ids=sampling_api.end_of_turn_ids(tokenizer))
    engine = engine_lib.Engine(graphdef, model.config, settings, mesh=mesh, tokenizer=tokenizer)
    chunks = rundir.chunks(problems, cfg.shard_size)
    for k, chunk in enumerate(progress_lib.Bar(chunks, desc="eval", unit="shard",
                                               disable=not progress)):
        if not _finished(shards, k, chunk):
            shards.write(k, _shard_records(engine, params, tokenizer, chunk, cfg, k, progress))
    # Only this run's shards: others on disk may hold problems it was not asked about.
    results = [r for k in range(len(chunks)) if shards.done(k)
               for r in shards.read_records(records.EvalResult, k)]
    summary = {"dataset": cfg.dataset, "n": cfg.n, **summarize(results, cfg.ks)}
    if rundir.is_writer():
        rundir.atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def table(summary: dict[str, Any]) -> str:
    """A one-row Markdown table of a summary."""
    cols = [k for k in summary if k.startswith("pass@")]
    head = "| dataset | problems | solved | " + " | ".join(cols) + " |"
    sep = "|---" * (3 + len(cols)) + "|"
    row = (f"| {summary.get('dataset', '')} | {summary['problems']} | {summary['solved']} | "
           + " | ".join(f"{100 * summary[c]:.2f}" for c in cols) + " |")
    return "\n".join([head, sep, row])
