"""Stage `filter`: scores every intervention's target by continuation (does the policy, started
from prefix + intervention, reach the answer?) and keeps the passing ones; resumable.

Layout (``runs/NAME/``)::

    filter/plan.json           fingerprint of the inputs and settings (resume guard)
    filter/shard-00000.jsonl   per intervention: num_samples, num_correct, kept, rewards
    filter/kept.jsonl          the interventions that passed, with their counts
    filter/rejects.jsonl       interventions whose prompt did not fit ``max_prompt_tokens``
    filter/stats.json

Shards are runs of consecutive interventions, each with a seed derived from (seed, shard index);
the scoring itself is ``jaxint.intervene.filter``. The runner marks the manifest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from jaxint import configlib, rundir, sample_score
from jaxint import progress as progress_lib
from jaxint.data import records
from jaxint.intervene import config as intervene_config
from jaxint.intervene import filter as filter_lib
from jaxint.intervene import seeds, stats
from jaxint.stages import guard
from jaxint.stages import intervene as intervene_stage

STAGE = "filter"


def run(
    run: rundir.RunDir, cfg: intervene_config.FilterConfig, *,
    problems: Mapping[str, records.Problem], interventions: Sequence[records.Intervention],
    model: Any, tokenizer: Any, mesh: Any = None, progress: bool = True,
) -> rundir.Summary:
    """Scores every intervention's target by continuation and keeps the passing ones.

    Args:
        run: The run directory.
        cfg: Filter settings (``enabled`` False keeps everything unscored).
        problems: Problems by id.
        interventions: The records of ``intervene/interventions.jsonl``, in that order.
        model, tokenizer: The policy that continues the targets.
        mesh: The mesh its parameters live on.
        progress: Show progress bars.

    Returns:
        The statistics (also in ``filter/stats.json`` and the stage's metrics).
    """
    stage_dir = run.stage(STAGE)
    unknown = sorted({r.problem_id for r in interventions} - set(problems))
    if cfg.enabled and unknown:
        raise ValueError(f"interventions name unknown problems: {unknown[:5]}")
    if not cfg.enabled:
        summary: rundir.Summary = {"enabled": False, "interventions": len(interventions),
                                   "kept": len(interventions)}
        return _finish(run, list(interventions), summary)
    keys = [(r.problem_id, r.sample_index, r.target) for r in interventions]
    guard.guard_plan(stage_dir, guard.fingerprint(configlib.to_dict(cfg), keys))
    shards = rundir.Shards(stage_dir, "shard")
    rows: list[records.Continuation] = []
    for index, batch in enumerate(progress_lib.Bar(
            rundir.chunks(list(interventions), cfg.shard_size), desc="filter", unit="shard",
            disable=not progress)):
        if shards.done(index):
            rows.extend(shards.read_records(records.Continuation, index))
            continue
        out = filter_lib.filter_batch(
            model, tokenizer, problems, batch, cfg, seed=seeds.derive(cfg.seed, index, STAGE),
            mesh=mesh, progress=progress,
        )
        shards.write(index, out)
        rows.extend(out)
    kept = [dataclasses.replace(rec, num_samples=row.num_samples, num_correct=row.num_correct)
            for rec, row in zip(interventions, rows, strict=True) if row.kept]
    summary = {"enabled": True, **stats.filter_stats(rows)}
    skipped = intervene_stage.write_rejects(stage_dir, [
        intervene_stage.TooLong(r.problem_id, r.sample_index, r.prompt_tokens, r.detail or "")
        for r in rows if r.rejected == sample_score.PROMPT_TOO_LONG])
    if skipped:
        summary["skipped_long_prompts"] = skipped
    return _finish(run, kept, summary)


def _finish(run: rundir.RunDir, kept: list[records.Intervention],
            summary: rundir.Summary) -> rundir.Summary:
    intervene_stage.write_outputs(run.stage(STAGE), "kept.jsonl", kept, summary)
    run.metrics(STAGE).write(stats.flatten(summary))
    return summary
