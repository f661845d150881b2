"""Stage `sft`: fine-tune the policy on problem -> (prefix + intervention), no EOS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jax.sharding import Mesh

from jaxint import rundir
from jaxint.data import chat, records
from jaxint.intervene import targets
from jaxint.models import decoder
from jaxint.stages import intervene as intervene_stage
from jaxint.stages import verify as verify_stage
from jaxint.train import config as train_config
from jaxint.train import sft


def intervention_records(run_dir: rundir.RunDir) -> list[records.Intervention]:
    """The interventions to train on: the filter's kept ones when the filter ran, else all
    of the intervene stage's."""
    kept = run_dir.root / "filter" / "kept.jsonl"
    source = kept if run_dir.is_done("filter") and kept.is_file() else (
        run_dir.root / "intervene" / "interventions.jsonl")
    return intervene_stage.read_interventions(source)


def examples(
    tokenizer: Any, problems: Mapping[str, records.Problem],
    interventions: Sequence[records.Intervention],
) -> list[chat.Example]:
    """Token ids + loss masks: prompt = the bare problem; response = the stored target's
    prefix (steps 1..K-1) and intervention, both trained; no end-of-turn token (the model
    must not learn to stop right after an intervention)."""
    return [chat.render_sft(tokenizer, targets.sft_example(problems[rec.problem_id], rec))
            for rec in interventions]


def unique_targets(
    interventions: Sequence[records.Intervention],
) -> list[records.Intervention]:
    """The first record of each distinct (problem, SFT target), in order (`sft.unique_targets`).

    The key is the target as SFT renders it (prefix + intervention), so two proposals that
    differ only where SFT does not look (the original suffix, the proposal index) count once.
    """
    seen: set[tuple[str, str, str]] = set()
    out = []
    for rec in interventions:
        key = (rec.problem_id, rec.prefix, rec.intervention)
        if key not in seen:
            seen.add(key)
            out.append(rec)
    return out


def correct_rollouts(run_dir: rundir.RunDir) -> list[records.Attempt]:
    """The verified correct rollouts of the pool, one per (problem, sample): a solution the
    policy wrote several times is replayed as often, as the policy would sample it."""
    return verify_stage.correct_attempts(run_dir)


def solution_example(problem: records.Problem, solution: str) -> records.SFTExample:
    """A whole solution as SFT trains on it: problem -> solution + end of turn (replayed
    rollouts; the demo's pretraining corpus and reference solutions)."""
    return records.SFTExample(problem.id, problem.problem, (("solution", solution, True),),
                              add_eos=True)


def replay_examples(
    tokenizer: Any, problems: Mapping[str, records.Problem], rows: Sequence[records.Attempt],
) -> list[chat.Example]:
    """Whole correct rollouts (problem -> completion + end of turn) for `sft.replay_correct`."""
    return [chat.render_sft(tokenizer, solution_example(problems[a.problem_id],
                                                        a.completion or ""))
            for a in rows]


def training_examples(
    run_dir: rundir.RunDir, cfg: train_config.SFTConfig, tokenizer: Any,
    problems: Mapping[str, records.Problem],
) -> tuple[list[chat.Example], dict[str, int]]:
    """What SFT trains on: the interventions, plus the replayed correct rollouts when
    `sft.replay_correct`; and how many of each."""
    rows = intervention_records(run_dir)
    if cfg.unique_targets:
        rows = unique_targets(rows)
    if not rows:
        raise ValueError("sft: there are no interventions to train on (see intervene/stats.json)")
    out = examples(tokenizer, problems, rows)
    replay = correct_rollouts(run_dir) if cfg.replay_correct else []
    out += replay_examples(tokenizer, problems, replay)
    return out, {"examples": len(rows), "replay_examples": len(replay),
                 "example_tokens": sum(len(e.tokens) for e in out)}


def run(
    run_dir: rundir.RunDir, cfg: train_config.SFTConfig, *, model: decoder.Decoder,
    tokenizer: Any, problems: Mapping[str, records.Problem], mesh: Mesh | None = None,
    tokenizer_dir: str | None = None, progress: bool = True,
) -> tuple[rundir.Summary, decoder.Decoder]:
    """Trains (resuming from `sft/checkpoints`), exports `sft/hf`; returns (summary, model)."""
    train, counts = training_examples(run_dir, cfg, tokenizer, problems)
    trainer = sft.SFTTrainer(model, train, cfg, run_dir.stage("sft"), mesh=mesh)
    summary = trainer.run(run_dir.metrics("sft"), progress=progress)
    summary.update(counts)
    trainer.export(run_dir.root / "sft" / "hf", tokenizer_dir=tokenizer_dir)
    return summary, trainer.model()
