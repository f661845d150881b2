"""Stage `intervene`: proposes, parses and selects interventions for the failed attempts of
`verify`, resumably (the method is ``jaxint.intervene.proposals``).

Layout (``runs/NAME/``)::

    intervene/plan.json               fingerprint of the inputs and settings (resume guard)
    intervene/turn1-00000.jsonl       turn-1 solutions of the shard's problems (model interveners)
    intervene/proposals-00000.jsonl   every proposal: raw reply, parse result, rejection reason
    intervene/interventions.jsonl     one kept intervention per (problem, attempt), with target
    intervene/rejects.jsonl           items whose prompt did not fit ``max_prompt_tokens``
    intervene/stats.json              see ``intervene.stats``

Work is cut into deterministic shards of whole problems, so each problem's turn-1 solution is
sampled once. A finished shard is renamed into place atomically and skipped on a rerun; its
seed derives from (seed, shard index), so a resumed run writes exactly what an uninterrupted one
would. Changing the inputs or settings between a crash and the rerun is refused (``plan.json``).
The runner, not this module, marks the stage in the manifest.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from jaxint import configlib, rundir
from jaxint import progress as progress_lib
from jaxint.data import records
from jaxint.intervene import config as intervene_config
from jaxint.intervene import interveners, proposals, stats
from jaxint.intervene import steps as steps_lib
from jaxint.stages import guard

STAGE = "intervene"


def make_intervener(
    cfg: intervene_config.InterveneConfig, *, model: Any = None, tokenizer: Any = None,
    mesh: Any = None, progress: bool = True,
) -> interveners.Intervener:
    """The intervener ``cfg.intervener`` names.

    Args:
        cfg: Intervene settings.
        model, tokenizer: For ``policy``, the policy; for ``model``, the model loaded from
            ``cfg.intervener_path`` (the caller loads it); unused for ``oracle``.
        mesh: The mesh the model's parameters live on.
        progress: Show the sampler's progress bars.
    """
    if cfg.intervener == "oracle":
        return interveners.OracleIntervener()
    if model is None or tokenizer is None:
        raise ValueError(f"intervener {cfg.intervener!r} needs a model and its tokenizer")
    return interveners.ModelIntervener(
        model, tokenizer, cfg.sampling, seed=cfg.seed, mesh=mesh,
        template_dir=cfg.template_dir, max_prompt_tokens=cfg.max_prompt_tokens,
        progress=progress,
    )


def run(
    run: rundir.RunDir, cfg: intervene_config.InterveneConfig, *,
    problems: Mapping[str, records.Problem], attempts: Sequence[records.Attempt],
    intervener: interveners.Intervener, tokenizer: Any = None, progress: bool = True,
) -> rundir.Summary:
    """Proposes, parses and selects interventions for failed attempts; resumable.

    Args:
        run: The run directory.
        cfg: Intervene settings.
        problems: Problems by id (gold answers, reference solutions).
        attempts: The failed attempts (``verify``'s records); duplicates of a (problem_id,
            sample_index) are ignored after the first.
        intervener: Produces the raw proposals (see ``intervene.interveners``).
        tokenizer: Counts tokens for the ``token_budget`` splitter.
        progress: Show progress bars.

    Returns:
        The statistics (also in ``intervene/stats.json`` and the stage's metrics).
    """
    stage_dir = run.stage(STAGE)
    splitter = steps_lib.make_splitter(
        cfg.splitter, max_steps=cfg.max_steps, step_tokens=cfg.step_tokens, tokenizer=tokenizer
    )
    items = proposals.plan_items(problems, attempts, splitter)
    guard.guard_plan(stage_dir, guard.fingerprint(configlib.to_dict(cfg), items))
    written = rundir.Shards(stage_dir, "proposals")
    solutions = rundir.Shards(stage_dir, "turn1")
    rows: list[dict[str, Any]] = []
    for index, shard in enumerate(progress_lib.Bar(shard_by_problem(items, cfg.shard_size),
                                                   desc="intervene", unit="shard",
                                                   disable=not progress)):
        if written.done(index):
            rows.extend(rundir.read_jsonl(written.path(index)))
            continue
        batch_rows, batch_solutions = proposals.propose_shard(intervener, shard, cfg, salt=index)
        if batch_solutions:
            solutions.write(index, batch_solutions, safe_point=False)
        written.write(index, batch_rows)
        rows.extend(batch_rows)
    return _finish(run, stage_dir, rows, items)


def shard_by_problem(items: Sequence[interveners.Item], size: int) -> list[list[interveners.Item]]:
    """Shards of ``size`` problems each (with all their attempts), in item order."""
    by_problem: dict[str, list[interveners.Item]] = {}
    for item in items:
        by_problem.setdefault(item.problem.id, []).append(item)
    return [
        [item for pid in pids for item in by_problem[pid]]
        for pids in rundir.chunks(list(by_problem), size)
    ]


def _finish(
    run: rundir.RunDir, stage_dir: pathlib.Path, rows: list[dict[str, Any]],
    items: Sequence[interveners.Item],
) -> rundir.Summary:
    kept = proposals.kept_interventions(rows, items)
    summary = stats.proposal_stats(rows, kept)
    skipped = write_rejects(stage_dir, [
        TooLong(r["problem_id"], r["sample_index"], r.get("prompt_tokens"), r.get("detail", ""))
        for r in rows
        if r["proposal_index"] == 0 and r.get("rejected") == interveners.PROMPT_TOO_LONG])
    if skipped:
        summary["skipped_long_prompts"] = skipped
    write_outputs(stage_dir, "interventions.jsonl", kept, summary)
    run.metrics(STAGE).write(stats.flatten(summary))
    return summary


def read_interventions(path: pathlib.Path) -> list[records.Intervention]:
    """The records of an interventions file (``interventions.jsonl``, ``kept.jsonl``, or one
    a user wrote with only ``steps``, ``location`` and ``content``: see ``proposals.from_row``).

    Raises:
        FileNotFoundError: there is no such file.
        records.RecordError: a row makes no intervention (named by file and line).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no interventions (run the intervene stage first)")
    return rundir.read_records(path, records.Intervention, proposals.from_row)


def write_outputs(stage_dir: pathlib.Path, name: str, kept: Sequence[records.Intervention],
                  summary: Mapping[str, Any]) -> None:
    """The stage's kept records (``name``) and ``stats.json``, by the writing process only."""
    if rundir.is_writer():
        rundir.write_jsonl(stage_dir / name, kept)
        rundir.atomic_write_text(stage_dir / "stats.json", json.dumps(summary, indent=2))


class TooLong(NamedTuple):
    """An item (intervene) or target (filter) never sampled: its prompt was over the limit."""

    problem_id: str
    sample_index: int
    prompt_tokens: int | None
    detail: str


def write_rejects(stage_dir: pathlib.Path, rejects: Sequence[TooLong]) -> int:
    """Writes ``rejects.jsonl`` (one line per item whose prompt did not fit
    ``max_prompt_tokens``, with the reason and the lengths) and returns how many there were;
    rewritten on every run, so a rerun does not repeat a line."""
    rows = [{"problem_id": r.problem_id, "sample_index": r.sample_index,
             "reason": interveners.PROMPT_TOO_LONG, "prompt_tokens": r.prompt_tokens,
             "detail": r.detail} for r in rejects]
    path = stage_dir / "rejects.jsonl"
    if rows and rundir.is_writer():
        rundir.write_jsonl(path, rows)
    elif path.is_file() and rundir.is_writer():
        path.unlink()
    return len(rows)
