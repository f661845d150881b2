"""The "conditioning" measurement of PAPER.md: does an intervention make a failed problem solvable?

For each failed attempt with an intervention at step K, continuations are sampled from four
starts, with the same seed (common random numbers) and settings:

- ``problem``: the problem alone (a fresh rollout);
- ``prefix``: the attempt's steps ``1..K-1`` alone (the correct prefix, no step K; with K = 1
  this is the problem alone), which separates what the prefix contributes from what the
  replacement step does;
- ``original_step``: the attempt's steps ``1..K`` (prefix + the original, wrong step K);
- ``intervention``: the SFT target (prefix + the intervention).

Per condition it reports how many problems get at least one correct continuation and the mean
accuracy. The paper, on 334 never-solved problems with 32 continuations: 40 / 29 / 80 problems
for problem / original step / intervention, 0.098% / 0.071% / 1.56% accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jaxint import sample_score
from jaxint.data import records
from jaxint.intervene import steps as steps_lib

CONDITIONS = ("problem", "prefix", "original_step", "intervention")


def requests_for(
    problem: records.Problem, record: records.Intervention
) -> dict[str, sample_score.Request]:
    """The four requests of one intervention record (its steps, location and stored target)."""
    steps, k = record.steps, record.location
    partials = {
        "problem": None,
        "prefix": steps_lib.SEPARATOR.join(steps[: k - 1]) or None,
        "original_step": steps_lib.SEPARATOR.join(steps[:k]),
        "intervention": record.target,  # as stored, never rebuilt
    }
    return {
        name: sample_score.Request(problem.problem, partial, problem.answer)
        for name, partial in partials.items()
    }


def measure(
    model: Any, tokenizer: Any, problems: Mapping[str, records.Problem],
    interventions: Sequence[records.Intervention], sampling_cfg: Any, *, seed: int = 0,
    mesh: Any = None, timeout_s: float = 10.0, num_workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Runs the four conditions over intervention records; ``sampling_cfg.n`` samples each.

    Returns:
        ``{"num_interventions", "num_problems", "num_samples", "conditions": {name:
        {"problems_solved", "num_correct", "num_samples", "mean_accuracy"}}, "items": [...]}``
        where ``items`` holds each record's per-condition correct counts.
    """
    per_item = [requests_for(problems[r.problem_id], r) for r in interventions]
    results = {}
    for name in CONDITIONS:
        results[name] = sample_score.sample_and_score(
            model, tokenizer, [item[name] for item in per_item], sampling_cfg, seed=seed,
            mesh=mesh, timeout_s=timeout_s, num_workers=num_workers, progress=progress,
            desc=f"conditioning/{name}",
        )
    return summarise(interventions, {n: [s.rewards for s in r] for n, r in results.items()})


def summarise(
    interventions: Sequence[records.Intervention],
    rewards: Mapping[str, Sequence[Sequence[int]]],
) -> dict[str, Any]:
    """Aggregates per-condition rewards (``rewards[condition][item][sample]``)."""
    conditions = {}
    for name, per_item in rewards.items():
        pairs = zip(interventions, per_item, strict=True)
        solved = {r.problem_id for r, rw in pairs if sum(rw) > 0}
        correct = sum(sum(rw) for rw in per_item)
        samples = sum(len(rw) for rw in per_item)
        conditions[name] = {
            "problems_solved": len(solved), "num_correct": correct, "num_samples": samples,
            "mean_accuracy": correct / samples if samples else None,
        }
    items = [
        {"problem_id": r.problem_id, "sample_index": r.sample_index,
         **{name: int(sum(rewards[name][i])) for name in rewards}}
        for i, r in enumerate(interventions)
    ]
    return {
        "num_interventions": len(interventions),
        "num_problems": len({r.problem_id for r in interventions}),
        "conditions": conditions,
        "items": items,
    }
