"""The SFT loop: examples in, checkpoints + metrics + an HF export out; resumable."""

from __future__ import annotations

import logging
import pathlib
import random
import time
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from jaxint import rundir
from jaxint.data import pipelines
from jaxint.models import decoder
from jaxint.parallel import host
from jaxint.train import checkpoint as ckpt_lib
from jaxint.train import config as train_config
from jaxint.train import loop_utils, optim, sft_batching, sft_step, shell
from jaxint.train import state as state_lib

log = logging.getLogger(__name__)


def split_eval(examples: Sequence[Any], fraction: float, seed: int) -> tuple[list, list]:
    """Deterministic held-out split (at least one training example is kept)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = min(int(len(examples) * fraction), max(0, len(examples) - 1))
    held = set(order[:n_eval])
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held])


def _local_batch(cfg: train_config.SFTConfig) -> int:
    count = jax.process_count()
    if cfg.batch_size % count:
        raise ValueError(f"sft.batch_size ({cfg.batch_size}) must divide over {count} processes")
    return cfg.batch_size // count


def steps_per_epoch(examples: Sequence[Any], cfg: train_config.SFTConfig) -> int:
    """Optimizer steps in one pass: ceil(N / batch_size) when batch_size counts examples;
    with `pack_rows` packing decides it, so it is counted on the host."""
    if cfg.batching != "pack_rows":
        return sft_batching.steps_per_epoch(len(examples), cfg.batch_size)
    ds = pipelines.sft_batches(examples, batch_size=_local_batch(cfg), seq_len=cfg.seq_len,
                               mode="pack", seed=cfg.seed, num_epochs=1)
    return max(1, sum(1 for _ in ds))


def train_batches(examples: Sequence[Any], cfg: train_config.SFTConfig) -> Any:
    """The endless, resumable (get_state / set_state) iterator of this process's batches."""
    if cfg.batching == "pack_rows":
        return iter(pipelines.sft_batches(examples, batch_size=_local_batch(cfg),
                                          seq_len=cfg.seq_len, mode="pack", seed=cfg.seed,
                                          num_epochs=None))
    return sft_batching.ExampleBatches(
        pipelines.prepare(examples, cfg.seq_len), batch_size=cfg.batch_size,
        seq_len=cfg.seq_len, mode=cfg.batching, seed=cfg.seed, accumulation=cfg.accumulation,
        process_index=jax.process_index(), process_count=jax.process_count())


class SFTTrainer(shell.Shell):
    """Owns the train state, the compiled steps, the data iterator and the checkpoints.

    The trainer takes over the model passed in: its parameter buffers are donated to the
    first update, so use `trainer.model()` (or the export) afterwards, not the old object.
    """

    name = "SFT"

    def __init__(self, model: decoder.Decoder, examples: Sequence[Any], cfg: train_config.SFTConfig,
                 out_dir: str | pathlib.Path, *, mesh: Mesh | None = None):
        host.require_mesh_if_multiprocess(mesh, "SFTTrainer")
        self.cfg, self.mesh = cfg, mesh
        self.out_dir = pathlib.Path(out_dir)
        self.train_examples, self.eval_examples = split_eval(examples, cfg.eval_fraction, cfg.seed)
        if not self.train_examples:
            raise ValueError("SFT needs at least one training example")
        self.total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch(self.train_examples, cfg)
        self.tx = optim.make(cfg.optimizer, self.total_steps)
        self.graphdef, params = nnx.split(model)
        self.model_config = model.config
        with loop_utils.mesh_context(mesh):
            self.state = state_lib.create(params, self.tx, mesh)
        self.data = train_batches(self.train_examples, cfg)
        self.checkpoints = ckpt_lib.Checkpointer(self.out_dir / "checkpoints", cfg.checkpoint)
        self.step = 0
        self._train_step = loop_utils.jit_train_step(
            sft_step.make_train_step(self.graphdef, self.tx), self.state, mesh)
        self._eval_step = jax.jit(sft_step.make_eval_step(self.graphdef))

    def resumable_data(self) -> Any:
        return self.data

    def train_step(self) -> tuple[dict[str, jax.Array], int]:
        """One optimizer step; returns device metrics (not fetched: no host sync) and the
        number of real (non-padding) tokens processed on this process."""
        host = next(self.data)
        real_tokens = int(np.count_nonzero(host["segment_ids"]))
        batch = loop_utils.reshape_accumulation(host, self.cfg.accumulation)
        with loop_utils.mesh_context(self.mesh):
            batch = loop_utils.place_batch(batch, self.mesh, batch_dim=1)
            self.state, metrics = self._train_step(self.state, batch)
        self.step += 1
        return metrics, real_tokens

    def eval_loss(self) -> float | None:
        """Mean NLL per trained token on the held-out examples."""
        if not self.eval_examples:
            return None
        ds = pipelines.sft_batches(self.eval_examples, batch_size=_local_batch(self.cfg),
                                   seq_len=self.cfg.seq_len,
                                   mode="pad" if self.cfg.batching == "examples" else "pack",
                                   seed=self.cfg.seed, shuffle=False, num_epochs=1)
        nll = tokens = 0.0
        with loop_utils.mesh_context(self.mesh):
            for batch in ds:
                out = host.fetch(self._eval_step(
                    self.state.params, loop_utils.place_batch(batch, self.mesh)))
                nll, tokens = nll + float(out["nll"]), tokens + float(out["tokens"])
        return nll / max(tokens, 1.0)

    def run(self, metrics: rundir.Metrics, *, progress: bool = True) -> dict[str, Any]:
        """Trains to `total_steps`, checkpointing and evaluating on the way."""
        schedule = optim.schedule(self.cfg.optimizer, self.total_steps)
        last: dict[str, float] = {}
        t0, tokens = 0.0, 0

        def one_step(bar: Any) -> None:
            nonlocal last, t0, tokens
            t0 = t0 or time.perf_counter()  # from the first step on, after any restore
            m, n_tokens = self.train_step()
            tokens += n_tokens * jax.process_count()
            if self.step % self.cfg.log_every == 0 or self.step == self.total_steps:
                m = {k: float(v) for k, v in host.fetch(m).items()}
                last = {"step": self.step, "loss": m["loss"], "grad_norm": m["grad_norm"],
                        "lr": float(schedule(self.step - 1)), "trained_tokens": m["tokens"],
                        "tokens_per_s": tokens / (time.perf_counter() - t0)}
                if self.step % self.cfg.eval_every == 0:
                    last["eval_loss"] = self.eval_loss()
                metrics.write(last)
                bar.set_postfix(loss=f"{m['loss']:.4f}")

        self.loop(metrics, self.total_steps, one_step, desc="sft", progress=progress)
        final = {"steps": self.step, "train_loss": last.get("loss"), "eval_loss": self.eval_loss(),
                 "tokens_per_s": last.get("tokens_per_s")}
        metrics.write({"final": True, **final})
        return final
