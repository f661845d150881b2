"""The continuation filter (PAPER.md step 8): keep an intervention the policy can finish.

From problem + target (an unfinished assistant message) sample n continuations; keep the
intervention when at least ``min_correct`` of the full responses are correct. The paper found
4.3% of continuations correct and kept interventions for 26.6% of problems; the filter helped
(202 vs 196 of 235 problems solved after training).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jaxint import sample_score
from jaxint.data import records
from jaxint.intervene import config as intervene_config


def keep(num_correct: int, min_correct: int) -> bool:
    """The keep rule: at least ``min_correct`` correct sample_score."""
    return num_correct >= min_correct


def filter_batch(
    model: Any, tokenizer: Any, problems: Mapping[str, records.Problem],
    interventions: Sequence[records.Intervention], cfg: intervene_config.FilterConfig, *,
    seed: int,
    mesh: Any = None, progress: bool = True,
) -> list[records.Continuation]:
    """Scores the interventions' targets; one record per intervention, in order.

    Args:
        model: The policy (a jaxint decoder).
        tokenizer: Its tokenizer.
        problems: Problems by id (problem text and gold answer).
        interventions: The intervention records whose stored targets are continued.
        cfg: Filter settings (samples, keep threshold, sampling, scoring).
        seed: The seed of this batch's sampling call.
        mesh: The mesh the parameters live on.

    Returns:
        The scored continuations; a target whose prompt exceeds ``filter.max_prompt_tokens``
        is not sampled and its record (not kept) has ``rejected="prompt_too_long"``, with
        ``prompt_tokens`` and ``detail``.
    """
    requests = [
        sample_score.Request(problems[r.problem_id].problem, r.target,
                              problems[r.problem_id].answer)
        for r in interventions
    ]
    scored = sample_score.sample_and_score(
        model, tokenizer, requests, cfg.continuation_sampling(), seed=seed, mesh=mesh,
        timeout_s=cfg.score_timeout_s, num_workers=cfg.score_workers, progress=progress,
        desc="filter",
    )
    return [_row(r, s, cfg) for r, s in zip(interventions, scored, strict=True)]


def _row(record: records.Intervention, s: sample_score.Scored,
         cfg: intervene_config.FilterConfig) -> records.Continuation:
    detail = None
    if s.skipped is not None:  # never sampled: the reason travels with the record
        detail = (f"prompt has {s.prompt_tokens} tokens > filter.max_prompt_tokens="
                  f"{cfg.max_prompt_tokens}")
    return records.Continuation(
        record.problem_id, record.sample_index, record.location, rewards=tuple(s.rewards),
        lengths=tuple(s.lengths), first_correct=s.first_correct,
        kept=s.skipped is None and keep(s.num_correct, cfg.min_correct),
        rejected=s.skipped, prompt_tokens=s.prompt_tokens if s.skipped else None,
        detail=detail)
