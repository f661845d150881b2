"""Stage `sft`: fine-tune the policy on problem -> (prefix + intervention), no EOS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jax.sharding import Mesh

from jaxint import rundir
from jaxint.data import chat, records
from jaxint.intervene import targets
from jaxint.models import decoder
from jaxint.train import config as train_config
from jaxint.train import sft


def intervention_records(run_dir: rundir.RunDir) -> list[dict[str, Any]]:
    """The interventions to train on: the filter's kept ones when the filter ran, else all
    of the intervene stage's."""
    kept = run_dir.root / "filter" / "kept.jsonl"
    if run_dir.is_done("filter") and kept.is_file():
        return list(rundir.read_jsonl(kept))
    source = run_dir.root / "intervene" / "interventions.jsonl"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no interventions (run the intervene stage first)")
    return list(rundir.read_jsonl(source))


def examples(
    tokenizer: Any, problems: Mapping[str, records.Problem], rows: Sequence[Mapping[str, Any]],
) -> list[chat.Example]:
    """Token ids + loss masks: prompt = the bare problem; response = steps 1..K-1 and the
    intervention, both trained; no end-of-turn token (the model must not learn to stop
    right after an intervention)."""
    out = []
    for row in rows:
        prefix, intervention = targets.target_parts(row["steps"], row["location"], row["content"])
        messages, segments = targets.sft_messages(
            problems[row["problem_id"]].problem, prefix, intervention)
        out.append(chat.render_example(tokenizer, messages, segments, add_eos=False))
    return out


def run(
    run_dir: rundir.RunDir, cfg: train_config.SFTConfig, *, model: decoder.Decoder,
    tokenizer: Any, problems: Mapping[str, records.Problem], mesh: Mesh | None = None,
    tokenizer_dir: str | None = None, progress: bool = True,
) -> tuple[dict[str, Any], decoder.Decoder]:
    """Trains (resuming from `sft/checkpoints`), exports `sft/hf`; returns (summary, model)."""
    rows = intervention_records(run_dir)
    if not rows:
        raise ValueError("sft: there are no interventions to train on (see intervene/stats.json)")
    trainer = sft.SFTTrainer(model, examples(tokenizer, problems, rows), cfg,
                             run_dir.stage("sft"), mesh=mesh)
    summary = trainer.run(run_dir.metrics("sft"), progress=progress)
    summary["examples"] = len(rows)
    trainer.export(run_dir.root / "sft" / "hf", tokenizer_dir=tokenizer_dir)
    return summary, trainer.model()
