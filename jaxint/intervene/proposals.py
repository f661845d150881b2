"""The intervene method from failed attempts to kept interventions: attempts become items
(a problem, its attempt split into steps), an intervener proposes k replies per item, each reply
is parsed into a proposal row, and the first accepted proposal of an item becomes its
intervention record (with the SFT target built here, once).

The resumable driver that shards this work into a run directory is ``jaxint.stages.intervene``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jaxint.data import records, synthetic
from jaxint.intervene import config as intervene_config
from jaxint.intervene import interveners, parsing, stats, targets
from jaxint.intervene import steps as steps_lib


def plan_items(
    problems: Mapping[str, records.Problem], attempts: Sequence[records.Attempt],
    splitter: steps_lib.Splitter,
) -> list[interveners.Item]:
    """Deduplicated attempts, their completions split into steps, sorted by (problem_id,
    sample_index).

    Raises:
        ValueError: an attempt names an unknown problem.
    """
    chosen: dict[tuple[str, int], records.Attempt] = {}
    for i, attempt in enumerate(attempts):
        if attempt.problem_id not in problems:
            raise ValueError(f"attempt {i}: unknown problem_id {attempt.problem_id!r}")
        chosen.setdefault((attempt.problem_id, attempt.sample_index), attempt)
    items = []
    for pid, sidx in sorted(chosen):
        steps = tuple(splitter.split(chosen[pid, sidx].completion or ""))
        items.append(interveners.Item(problems[pid], sidx, steps))
    return items


def propose_shard(
    intervener: interveners.Intervener, items: Sequence[interveners.Item],
    cfg: intervene_config.InterveneConfig, *, salt: int,
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


def kept_interventions(
    rows: Sequence[Mapping[str, Any]], items: Sequence[interveners.Item]
) -> list[records.Intervention]:
    """The first accepted proposal of every item, as an intervention record with its target."""
    by_key = {(it.problem.id, it.sample_index): it for it in items}
    out = []
    for row in targets.first_accepted(rows):
        item = by_key[row["problem_id"], row["sample_index"]]
        keys = ("problem_id", "sample_index", "proposal_index", "location", "content")
        out.append(from_row({**{k: row[k] for k in keys}, "steps": list(item.steps)}))
    return out


def from_row(row: Mapping[str, Any]) -> records.Intervention:
    """An intervention row (`interventions.jsonl`, `filter/kept.jsonl`, or a hand-made file
    with just `problem_id`, `sample_index`, `steps`, `location`, `content`) as a record.

    The one place an SFT target is built: a row that already holds its `prefix` and
    `intervention` keeps them as written; for one that does not, they are made here.

    Raises:
        ValueError: a key is missing, or the location or content cannot make a target.
    """
    if "prefix" not in row or "intervention" not in row:
        missing = [k for k in ("steps", "location", "content") if k not in row]
        if missing:
            raise records.RecordError(f"intervention row lacks {missing}")
        prefix, intervention = targets.target_parts(row["steps"], int(row["location"]),
                                                    row["content"])
        row = {**row, "prefix": prefix, "intervention": intervention}
    return records.Intervention.from_json(row)
