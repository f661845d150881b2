"""The resumable intervene and filter stages that ``jaxint intervene`` / ``jaxint run`` call.

Layout (``runs/NAME/``)::

    intervene/plan.json               fingerprint of the inputs and settings (resume guard)
    intervene/turn1-00000.jsonl       turn-1 solutions of the shard's problems (model interveners)
    intervene/proposals-00000.jsonl   every proposal: raw reply, parse result, rejection reason
    intervene/interventions.jsonl     one kept intervention per (problem, attempt), with target
    intervene/stats.json              see ``intervene.stats``
    filter/shard-00000.jsonl          per intervention: num_samples, num_correct, kept, rewards
    filter/kept.jsonl                 the interventions that passed, with their counts
    filter/stats.json

Work is cut into deterministic shards (intervene: whole problems, so each problem's turn-1
solution is sampled once; filter: consecutive interventions). A finished shard is renamed into
place atomically and skipped on a rerun; its seed derives from (seed, shard index), so a
resumed run writes exactly what an uninterrupted one would. Changing the inputs or settings
between a crash and the rerun is refused (``plan.json``), since the shards would no longer
line up.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from jaxint import configlib, rundir
from jaxint import progress as progress_lib
from jaxint.data import records, synthetic
from jaxint.intervene import config as config_lib
from jaxint.intervene import filter as filter_lib
from jaxint.intervene import interveners, parsing, seeds, stats, targets
from jaxint.intervene import steps as steps_lib

INTERVENE, FILTER = "intervene", "filter"


# ----------------------------------------------------------------------------- intervene


def make_intervener(
    cfg: config_lib.InterveneConfig, *, model: Any = None, tokenizer: Any = None,
    sampling_base: Any = None, mesh: Any = None, progress: bool = True,
) -> interveners.Intervener:
    """The intervener ``cfg.intervener`` names.

    Args:
        cfg: Intervene settings.
        model, tokenizer: For ``policy``, the policy; for ``model``, the model loaded from
            ``cfg.intervener_path`` (the caller loads it); unused for ``oracle``.
        sampling_base: Engine settings (slots, chunk size) to start from.
        mesh: The mesh the model's parameters live on.
        progress: Show the sampler's progress bars.
    """
    if cfg.intervener == "oracle":
        return interveners.OracleIntervener()
    if model is None or tokenizer is None:
        raise ValueError(f"intervener {cfg.intervener!r} needs a model and its tokenizer")
    return interveners.ModelIntervener(
        model, tokenizer, cfg.sampling(sampling_base), seed=cfg.seed, mesh=mesh,
        template_dir=cfg.template_dir, max_prompt_tokens=cfg.max_prompt_tokens,
        progress=progress,
    )


def run_intervene(
    run: rundir.RunDir, cfg: config_lib.InterveneConfig, *,
    problems: Mapping[str, records.Problem], attempts: Sequence[Mapping[str, Any]],
    intervener: interveners.Intervener, tokenizer: Any = None, progress: bool = True,
) -> dict[str, Any]:
    """Proposes, parses and selects interventions for failed attempts; resumable.

    Args:
        run: The run directory.
        cfg: Intervene settings.
        problems: Problems by id (gold answers, reference solutions).
        attempts: Failed-attempt records ``{"problem_id", "sample_index", "completion", ...}``;
            duplicates of a (problem_id, sample_index) are ignored after the first.
        intervener: Produces the raw proposals (see ``intervene.interveners``).
        tokenizer: Counts tokens for the ``token_budget`` splitter.
        progress: Show progress bars.

    Returns:
        The statistics (also in ``intervene/stats.json`` and the stage's metrics).
    """
    stage_dir = run.stage(INTERVENE)
    run.mark(INTERVENE, "running")
    splitter = steps_lib.make_splitter(
        cfg.splitter, max_steps=cfg.max_steps, step_tokens=cfg.step_tokens, tokenizer=tokenizer
    )
    items = plan_items(problems, attempts, splitter)
    plan = shard_by_problem(items, cfg.shard_size)
    _guard_plan(stage_dir, _fingerprint(configlib.to_dict(cfg), items))
    proposals = rundir.Shards(stage_dir, "proposals")
    solutions = rundir.Shards(stage_dir, "turn1")
    rows: list[dict[str, Any]] = []
    for index, shard in enumerate(progress_lib.Bar(plan, desc="intervene", unit="shard",
                                                   disable=not progress)):
        if proposals.done(index):
            rows.extend(rundir.read_jsonl(proposals.path(index)))
            continue
        batch_rows, batch_solutions = propose_shard(intervener, shard, cfg, salt=index)
        if batch_solutions:
            solutions.write(index, batch_solutions, safe_point=False)
        proposals.write(index, batch_rows)
        rows.extend(batch_rows)
    return _finish_intervene(run, stage_dir, rows, items)


def plan_items(
    problems: Mapping[str, records.Problem], attempts: Sequence[Mapping[str, Any]],
    splitter: steps_lib.Splitter,
) -> list[interveners.Item]:
    """Deduplicated attempts as items, sorted by (problem_id, sample_index).

    Raises:
        ValueError: an attempt lacks a field or names an unknown problem.
    """
    chosen: dict[tuple[str, int], Mapping[str, Any]] = {}
    for i, attempt in enumerate(attempts):
        missing = [k for k in ("problem_id", "sample_index", "completion") if k not in attempt]
        if missing:
            raise ValueError(f"attempt {i}: missing fields {missing}")
        if attempt["problem_id"] not in problems:
            raise ValueError(f"attempt {i}: unknown problem_id {attempt['problem_id']!r}")
        chosen.setdefault((str(attempt["problem_id"]), int(attempt["sample_index"])), attempt)
    items = []
    for pid, sidx in sorted(chosen):
        steps = tuple(splitter.split(chosen[pid, sidx]["completion"]))
        items.append(interveners.Item(problems[pid], sidx, steps))
    return items


def shard_by_problem(items: Sequence[interveners.Item], size: int) -> list[list[interveners.Item]]:
    """Shards of ``size`` problems each (with all their attempts), in item order."""
    by_problem: dict[str, list[interveners.Item]] = {}
    for item in items:
        by_problem.setdefault(item.problem.id, []).append(item)
    return [
        [item for pid in pids for item in by_problem[pid]]
        for pids in rundir.chunks(list(by_problem), size)
    ]


def propose_shard(
    intervener: interveners.Intervener, items: Sequence[interveners.Item],
    cfg: config_lib.InterveneConfig, *, salt: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Proposal rows (k per item, in item then proposal order) and turn-1 records."""
    k = cfg.proposals_per_attempt
    ready = [item for item in items if item.steps]
    batch = interveners.ProposalBatch([], [])
    if ready:
        batch = intervener.propose(ready, k, salt=salt)
    replies = {(it.problem.id, it.sample_index): (t, inf)
               for it, t, inf in zip(ready, batch.texts, batch.info, strict=True)}
    # The echo check compares against the templates the prompts were built from (a model
    # intervener's own, possibly replaced ones); the oracle has none and uses the shipped.
    templates = getattr(intervener, "templates", None)
    rows = []
    for item in items:
        texts, info = replies.get((item.problem.id, item.sample_index), ([], {}))
        skipped = stats.NO_STEPS if not item.steps else info.get("skipped")
        base = _row_base(item, info)
        if skipped:
            rows.extend({**base, "proposal_index": j, "raw": "", "rejected": skipped,
                         "detail": info.get("detail", ""), "content": None, "location": None}
                        for j in range(k))
            continue
        for j, text in enumerate(texts):
            gold = item.problem.answer if cfg.check_leaks else None
            proposal = parsing.parse(text, num_steps=len(item.steps), gold_answer=gold,
                                     templates=templates, leak_rule=cfg.leak_rule)
            rows.append({**base, "proposal_index": j, "raw": text, **proposal.to_dict()})
    return rows, batch.solutions


def _row_base(item: interveners.Item, info: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "problem_id": item.problem.id, "sample_index": item.sample_index,
        "num_steps": len(item.steps), "true_location": _true_location(item),
        **{k: v for k, v in info.items() if k not in ("skipped", "detail")},
    }


def _true_location(item: interveners.Item) -> int | None:
    """The exact first wrong step where it is known (synthetic problems), else None."""
    if item.problem.source != synthetic.SOURCE or "ops" not in item.problem.meta:
        return None
    return synthetic.check_steps(item.problem, item.steps).first_error


def _finish_intervene(
    run: rundir.RunDir, stage_dir: pathlib.Path, rows: list[dict[str, Any]],
    items: Sequence[interveners.Item],
) -> dict[str, Any]:
    by_key = {(it.problem.id, it.sample_index): it for it in items}
    kept = [_intervention(row, by_key[row["problem_id"], row["sample_index"]])
            for row in targets.first_accepted(rows)]
    summary = stats.proposal_stats(rows, kept)
    skipped = _write_rejects(stage_dir, [r for r in rows if r["proposal_index"] == 0])
    if skipped:
        summary["skipped_long_prompts"] = skipped
    if rundir.is_writer():
        rundir.write_jsonl(stage_dir / "interventions.jsonl", kept)
        rundir.atomic_write_text(stage_dir / "stats.json", json.dumps(summary, indent=2))
    run.metrics(INTERVENE).write(stats.flatten(summary))
    run.mark(INTERVENE, "done", summary=_headline(summary))
    return summary


def _intervention(row: Mapping[str, Any], item: interveners.Item) -> dict[str, Any]:
    prefix, intervention = targets.target_parts(item.steps, row["location"], row["content"])
    return {
        "problem_id": row["problem_id"], "sample_index": row["sample_index"],
        "proposal_index": row["proposal_index"], "location": row["location"],
        "content": row["content"], "num_steps": len(item.steps), "steps": list(item.steps),
        "prefix": prefix, "intervention": intervention, "target": prefix + intervention,
    }


# ----------------------------------------------------------------------------- filter


def run_filter(
    run: rundir.RunDir, cfg: config_lib.FilterConfig, *,
    problems: Mapping[str, records.Problem], interventions: Sequence[Mapping[str, Any]],
    model: Any, tokenizer: Any, mesh: Any = None, sampling_base: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Scores every intervention's target by continuation and keeps the passing ones; resumable.

    Args:
        run: The run directory.
        cfg: Filter settings (``enabled`` False keeps everything unscored).
        problems: Problems by id.
        interventions: Records of ``intervene/interventions.jsonl``, in that order.
        model, tokenizer: The policy that continues the targets.
        mesh: The mesh its parameters live on.
        sampling_base: Engine settings (slots, chunk size) to start from.
        progress: Show progress bars.

    Returns:
        The statistics (also in ``filter/stats.json`` and the stage's metrics).
    """
    stage_dir = run.stage(FILTER)
    run.mark(FILTER, "running")
    records_ = [dict(r) for r in interventions]
    unknown = sorted({r["problem_id"] for r in records_} - set(problems))
    if cfg.enabled and unknown:
        raise ValueError(f"interventions name unknown problems: {unknown[:5]}")
    if not cfg.enabled:
        return _finish_filter(run, stage_dir, records_, None)
    keys = [(r["problem_id"], r["sample_index"], r["target"]) for r in records_]
    _guard_plan(stage_dir, _fingerprint(configlib.to_dict(cfg), keys))
    shards = rundir.Shards(stage_dir, "shard")
    rows: list[dict[str, Any]] = []
    for index, batch in enumerate(progress_lib.Bar(
            rundir.chunks(records_, cfg.shard_size), desc="filter", unit="shard",
            disable=not progress)):
        if shards.done(index):
            rows.extend(rundir.read_jsonl(shards.path(index)))
            continue
        out = filter_lib.filter_batch(
            model, tokenizer, problems, batch, cfg, seed=seeds.derive(cfg.seed, index, FILTER),
            mesh=mesh, sampling_base=sampling_base, progress=progress,
        )
        shards.write(index, out)
        rows.extend(out)
    return _finish_filter(run, stage_dir, records_, rows)


def _finish_filter(
    run: rundir.RunDir, stage_dir: pathlib.Path, records_: list[dict[str, Any]],
    rows: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    if rows is None:
        kept = records_
        summary: dict[str, Any] = {"enabled": False, "interventions": len(kept),
                                   "kept": len(kept)}
    else:
        kept = [{**rec, "num_samples": row["num_samples"], "num_correct": row["num_correct"]}
                for rec, row in zip(records_, rows, strict=True) if row["kept"]]
        summary = {"enabled": True, **stats.filter_stats(rows)}
        skipped = _write_rejects(stage_dir, rows)
        if skipped:
            summary["skipped_long_prompts"] = skipped
    if rundir.is_writer():
        rundir.write_jsonl(stage_dir / "kept.jsonl", kept)
        rundir.atomic_write_text(stage_dir / "stats.json", json.dumps(summary, indent=2))
    run.metrics(FILTER).write(stats.flatten(summary))
    run.mark(FILTER, "done", summary=summary)
    return summary


# ----------------------------------------------------------------------------- helpers


def _write_rejects(stage_dir: pathlib.Path, rows: Sequence[Mapping[str, Any]]) -> int:
    """Writes ``rejects.jsonl`` (one line per item whose prompt did not fit
    ``max_prompt_tokens``, with the reason and the lengths) and returns how many there were;
    rewritten on every run, so a rerun does not repeat a line."""
    rejects = [
        {"problem_id": r["problem_id"], "sample_index": r["sample_index"],
         "reason": interveners.PROMPT_TOO_LONG, "prompt_tokens": r.get("prompt_tokens"),
         "detail": r.get("detail", "")}
        for r in rows if r.get("rejected") == interveners.PROMPT_TOO_LONG
    ]
    path = stage_dir / "rejects.jsonl"
    if rejects and rundir.is_writer():
        rundir.write_jsonl(path, rejects)
    elif path.is_file() and rundir.is_writer():
        path.unlink()
    return len(rejects)


def _headline(summary: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("proposals", "accepted", "parse_rate", "leak_rate", "interventions",
            "problems_with_intervention")
    return {k: summary[k] for k in (*keys, "skipped_long_prompts") if k in summary}


def _fingerprint(cfg: Mapping[str, Any], work: Any) -> str:
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode())
    for unit in work:
        if isinstance(unit, interveners.Item):
            unit = (unit.problem.id, unit.sample_index, unit.steps)
        digest.update(json.dumps(unit, ensure_ascii=False).encode())
    return digest.hexdigest()


def _guard_plan(stage_dir: pathlib.Path, fingerprint: str) -> None:
    """Refuses to resume shards made from other inputs or settings."""
    path = stage_dir / "plan.json"
    if path.is_file():
        previous = json.loads(path.read_text()).get("fingerprint")
        if previous != fingerprint:
            raise RuntimeError(
                f"{stage_dir}: inputs or settings differ from the run that wrote these shards; "
                f"delete {stage_dir} to start this stage over"
            )
    elif rundir.is_writer():
        rundir.atomic_write_text(path, json.dumps({"fingerprint": fingerprint}))
