"""The GRPO loop: rollouts with the current training parameters, verifier rewards, recomputed
old log-probs, advantages from the configured credit assignment (`rl.credit`: group advantages
by default), clipped updates over mini-batches; resumable."""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from jaxint import rundir, sample_score
from jaxint.data import pipelines, records
from jaxint.intervene import seeds
from jaxint.models import decoder
from jaxint.parallel import host
from jaxint.sampling import api as sampling_api
from jaxint.sampling import config as sampling_config
from jaxint.sampling import engine as engine_lib
from jaxint.train import checkpoint as ckpt_lib
from jaxint.train import config as train_config
from jaxint.train import grpo, grpo_step, loop_utils, optim, rollouts, shell
from jaxint.train import state as state_lib
from jaxint.train.credit import passes as passes_lib
from jaxint.train.credit import registry as credit
from jaxint.train.credit import types as credit_types

log = logging.getLogger(__name__)
GROUPS_FILE = "groups.jsonl"


def sampler_config(cfg: train_config.GRPOConfig,
                   stop_token_ids: Sequence[int] = ()) -> sampling_config.SamplingConfig:
    """Rollout sampling settings (also what `jaxint plan` sizes); the trainer stops
    generation at the chat template's end of turn."""
    return cfg.sampling.with_count(cfg.samples_per_prompt, stop_token_ids=stop_token_ids)


class GRPOTrainer(shell.Shell):
    """Owns the train state, the (optional) frozen reference, the engine and the prompts.

    The trainer takes over the model passed in: its parameter buffers are donated to the
    first update, so use `trainer.model()` (or the export) afterwards, not the old object.
    """

    name = "GRPO"

    def __init__(
        self, model: decoder.Decoder, tokenizer: Any, problems: Sequence[records.Problem],
        cfg: train_config.GRPOConfig, out_dir: str | pathlib.Path, *, mesh: Mesh | None = None,
        verify_timeout_s: float = 10.0,
    ):
        if not problems:
            raise ValueError("GRPO needs at least one training problem")
        credit.check_problems(cfg, problems)
        host.require_mesh_if_multiprocess(mesh, "GRPOTrainer")
        self.cfg, self.mesh, self.tokenizer = cfg, mesh, tokenizer
        self.out_dir = pathlib.Path(out_dir)
        self.verify_timeout_s = verify_timeout_s
        self.model_config = model.config
        self.graphdef, params = nnx.split(model)
        updates = cfg.steps * cfg.update_epochs * (cfg.prompts_per_step // cfg.mini_batch_prompts)
        self.tx = optim.make(cfg.optimizer, updates)
        with loop_utils.mesh_context(mesh):
            # The reference exists only when it is used; it must be a copy because the
            # train state's buffers are donated at every update.
            self.ref_params = jax.tree.map(jnp.copy, params) if cfg.kl_coef > 0 else None
            self.frozen_params = self.ref_params
            if self.frozen_params is None and credit.needs_frozen(cfg):
                self.frozen_params = jax.tree.map(jnp.copy, params)
            self.state = state_lib.create(params, self.tx, mesh)
        settings = sampler_config(cfg, sampling_api.end_of_turn_ids(tokenizer))
        self.engine = engine_lib.Engine(self.graphdef, model.config, settings, mesh=mesh,
                                        tokenizer=tokenizer)
        self._engines = {settings.n: self.engine}
        self.prompts = iter(pipelines.prompt_pipeline(
            list(problems), seed=cfg.seed, shuffle=True, process_index=0, process_count=1))
        self.checkpoints = ckpt_lib.Checkpointer(self.out_dir / "checkpoints", cfg.checkpoint)
        self.step = 0
        self._score = jax.jit(grpo_step.make_score_fn(self.graphdef, cfg.logprob_chunk))
        self._update = loop_utils.jit_train_step(
            grpo_step.make_update_fn(self.graphdef, self.tx, cfg), self.state, mesh)
        self.timer = loop_utils.Timer()

    def resumable_data(self) -> Any:
        return self.prompts

    # ------------------------------------------------------------------ one step
    def _micro_batches(self, batch: dict[str, np.ndarray], size: int):
        B = batch["tokens"].shape[0]
        for i in range(0, B, size):
            yield {k: v[i : i + size] for k, v in batch.items()}

    def _score_all(
        self, params: nnx.State, batch: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log-probs and entropies of every sequence, micro-batch by micro-batch."""
        size = self.cfg.micro_batch_size or batch["tokens"].shape[0]
        lps, ents = [], []
        keys = ("tokens", "positions", "segment_ids")
        for mb in self._micro_batches({k: batch[k] for k in keys}, size):
            lp, ent = self._score(params, loop_utils.place_global(mb, self.mesh))
            lps.append(lp)
            ents.append(ent)
        lps, ents = host.fetch((lps, ents))
        return np.concatenate(lps), np.concatenate(ents)

    def _updates(self, batch: dict[str, np.ndarray]) -> list[dict[str, float]]:
        cfg = self.cfg
        group_seqs = cfg.mini_batch_prompts * cfg.samples_per_prompt
        keys = ["tokens", "positions", "segment_ids", "loss_mask", "old_logp", "advantages"]
        if self.ref_params is not None:
            keys.append("ref_logp")
        out = []
        for _ in range(cfg.update_epochs):
            for mb in self._micro_batches({k: batch[k] for k in keys}, group_seqs):
                mb = loop_utils.reshape_accumulation(mb, cfg.accumulation)
                placed = loop_utils.place_global(mb, self.mesh, batch_dim=1)
                self.state, m = self._update(self.state, placed)
                out.append(m)
        return [{k: float(v) for k, v in m.items()} for m in host.fetch(out)]

    def train_step(self) -> dict[str, float]:
        """One GRPO step; returns its metrics."""
        cfg = self.cfg
        problems = [next(self.prompts) for _ in range(cfg.prompts_per_step)]
        with loop_utils.mesh_context(self.mesh):
            with self.timer.phase("rollout"):
                params = sampling_api.cast_params(self.state.params, self.model_config)
                prompts, samples = sample_score.sample(
                    self.engine, params, self.tokenizer, problems,
                    seed=cfg.seed * 1_000_003 + self.step)
                del params
            with self.timer.phase("scoring"):
                ro = sample_score.score(problems, prompts, samples, timeout_s=self.verify_timeout_s)
            with self.timer.phase("training"):
                zero = np.asarray(grpo.zero_advantage_groups(jnp.asarray(ro.rewards)))
                batch = rollouts.training_batch(
                    ro, None, mask_truncated=cfg.mask_truncated,
                    drop_groups=zero if cfg.drop_zero_adv_groups else None)
                batch["old_logp"], entropy = self._score_all(self.state.params, batch)
                if self.ref_params is not None:
                    batch["ref_logp"], _ = self._score_all(self.ref_params, batch)
            with self.timer.phase("credit"):
                assigned = self._credit(ro, batch)
                batch["advantages"] = rollouts.place_advantages(
                    ro, assigned.advantages, batch["tokens"].shape[1])
            with self.timer.phase("training"):
                updates = self._updates(batch)
        self.step += 1
        self._log_groups(ro)
        return {**self._metrics(ro, batch, entropy, zero, updates), **_cost(assigned)}

    def _credit(self, ro: sample_score.Rollouts, batch: dict[str, np.ndarray]
                ) -> credit_types.Credit:
        """This step's advantages from `rl.credit`, with the extra passes it asks for."""
        cfg = self.cfg
        outcome = np.asarray(grpo.advantages(
            jnp.asarray(ro.rewards), std_normalize=cfg.std_normalize,
            batch_normalize=cfg.batch_normalize))
        scored = credit_types.Scored(ro, outcome,
                                     rollouts.completion_logprobs(ro, batch["old_logp"]))
        passes = passes_lib.EnginePasses(
            tokenizer=self.tokenizer, engine=self._engine,
            sampling_params=lambda: sampling_api.cast_params(self.state.params,
                                                             self.model_config),
            score=self._score_all,
            params={"policy": self.state.params, "frozen": self.frozen_params},
            seed=seeds.derive(cfg.seed, "credit", self.step),
            timeout_s=self.verify_timeout_s)
        return credit.assign(cfg, scored, passes)

    def _engine(self, n: int) -> engine_lib.Engine:
        """An engine with the rollout settings sampling n continuations per prompt."""
        if n not in self._engines:
            self._engines[n] = engine_lib.Engine(
                self.graphdef, self.model_config, dataclasses.replace(self.engine.cfg, n=n),
                mesh=self.mesh, tokenizer=self.tokenizer)
        return self._engines[n]

    def _log_groups(self, ro: sample_score.Rollouts) -> None:
        """One row per step in `groups.jsonl`: which problems were sampled and how many of
        their G samples were correct, so an analysis can tell *which* groups carried no
        signal (all wrong: the regime InT targets; all correct) by any problem property."""
        if not rundir.is_writer():
            return
        row = {"step": self.step, "n": int(ro.rewards.shape[1]),
               "problem_ids": [p.id for p in ro.problems],
               "num_correct": [int(c) for c in ro.rewards.sum(axis=1)]}
        with open(self.out_dir / GROUPS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def _metrics(self, ro: sample_score.Rollouts, batch, entropy, zero,
                 updates) -> dict[str, float]:
        mask = batch["loss_mask"][:, 1:]
        n = max(float(mask.sum()), 1.0)
        times = self.timer.pop()
        lengths = [len(s.tokens) for g in ro.samples for s in g]
        train_tokens = float(batch["segment_ids"].sum()) * self.cfg.update_epochs
        m = {
            "step": self.step, "reward_mean": float(ro.rewards.mean()),
            "pass_rate": float((ro.rewards.max(axis=1) > 0).mean()),
            **{k: float(v) for k, v in grpo.zero_advantage_split(jnp.asarray(ro.rewards)).items()},
            "response_len_mean": float(np.mean(lengths)),
            "truncated_frac": float(np.mean(
                [s.finish_reason == "length" for g in ro.samples for s in g])),
            "entropy": float((entropy * mask).sum() / n),
            "sampler_logprob_gap": float(
                (np.abs(batch["sampler_logp"] - batch["old_logp"]) * mask).sum() / n),
            "train_tokens": train_tokens,
            "rollout_tokens": float(ro.num_tokens),
            "rollout_tokens_per_s": ro.num_tokens / max(times.get("rollout", 0.0), 1e-9),
            "train_tokens_per_s": train_tokens / max(times.get("training", 0.0), 1e-9),
            **{f"time_{k}_s": v for k, v in times.items()},
        }
        for key in ("loss", "grad_norm", "clip_frac", "kl", "ratio_mean"):
            vals = [u[key] for u in updates if key in u]
            if vals:
                m[key] = float(np.mean(vals))
        m.setdefault("kl", 0.0)
        return m

    # ------------------------------------------------------------------ the loop
    def run(self, metrics: rundir.Metrics, *, progress: bool = True) -> dict[str, Any]:
        def one_step(bar: Any) -> None:
            m = self.train_step()
            metrics.write(m)
            bar.set_postfix(reward=f"{m['reward_mean']:.3f}", zero_adv=f"{m['zero_adv_frac']:.2f}")

        self.loop(metrics, self.cfg.steps, one_step, desc="grpo", progress=progress)
        return summarize(metrics.read(), steps=self.step)


def _cost(assigned: credit_types.Credit) -> dict[str, float]:
    """What the credit assignment cost beyond the rollouts, and its own metrics."""
    return {"extra_tokens": float(assigned.extra_tokens),
            "extra_forward_tokens": float(assigned.extra_forward_tokens),
            **{f"credit_{k}": v for k, v in assigned.metrics.items()}}


def read_groups(out_dir: str | pathlib.Path) -> list[dict[str, Any]]:
    """The rows of `OUT_DIR/groups.jsonl` by step; a step logged twice (redone after a
    restore) keeps its last row, and a torn last line is ignored."""
    path = pathlib.Path(out_dir) / GROUPS_FILE
    if not path.is_file():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # only a kill mid-write leaves one, and that step is redone
        by_step[int(row["step"])] = row
    return [by_step[k] for k in sorted(by_step)]


def summarize(history: Sequence[dict[str, Any]], *, steps: int | None = None) -> dict[str, Any]:
    """Means over the whole run of the metrics the report and the demo table use.

    The step count is the trainer's (`steps`, from its checkpoint) when given, never the
    number of rows: rows are de-duplicated by step (the last one wins) and rows past
    `steps` are ignored, so a metrics file written across a kill cannot inflate it.
    """
    by_step: dict[Any, dict[str, Any]] = {}
    for h in history:
        if "reward_mean" in h and (steps is None or h.get("step", 0) <= steps):
            by_step[h.get("step", len(by_step))] = h
    rows = list(by_step.values())
    if not rows:
        return {"steps": steps or 0}
    mean = lambda k: float(np.mean([h[k] for h in rows if k in h]))  # noqa: E731
    steps = len(rows) if steps is None else steps
    split = {k: mean(k) for k in ("all_wrong_frac", "all_correct_frac")
             if any(k in h for h in rows)}  # older metrics files lack the split
    cost = {k: float(sum(h.get(k, 0.0) for h in rows))  # totals; older files lack them
            for k in ("extra_tokens", "extra_forward_tokens", "time_credit_s",
                      "rollout_tokens", "train_tokens")
            if any(k in h for h in rows)}
    return {"steps": steps, "reward_mean": mean("reward_mean"),
            "zero_adv_frac": mean("zero_adv_frac"), **split, "pass_rate": mean("pass_rate"),
            "final_reward_mean": float(rows[-1]["reward_mean"]), **cost}
