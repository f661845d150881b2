"""Stage `rl`: GRPO from the current policy (the SFT model in InT, the base model for the
RL-only baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jax.sharding import Mesh

from jaxint import rundir
from jaxint.data import records
from jaxint.models import decoder
from jaxint.train import config as train_config
from jaxint.train import rl


def run(
    run_dir: rundir.RunDir, cfg: train_config.GRPOConfig, *, model: decoder.Decoder,
    tokenizer: Any, problems: Sequence[records.Problem], mesh: Mesh | None = None,
    stage: str = "rl", tokenizer_dir: str | None = None, verify_timeout_s: float = 10.0,
    progress: bool = True,
) -> tuple[rundir.Summary, decoder.Decoder]:
    """Trains into `STAGE/` (resumable), exports `STAGE/hf`; returns (summary, model)."""
    trainer = rl.GRPOTrainer(model, tokenizer, problems, cfg, run_dir.stage(stage), mesh=mesh,
                             verify_timeout_s=verify_timeout_s)
    summary = trainer.run(run_dir.metrics(stage), progress=progress)
    trainer.export(run_dir.root / stage / "hf", tokenizer_dir=tokenizer_dir)
    return summary, trainer.model()
