"""GRPO's jitted device functions: scoring sequences (old / reference log-probs) and one
optimizer update over a mini-batch with gradient accumulation."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxint.train import accumulate, grpo, logprobs
from jaxint.train import config as train_config
from jaxint.train import state as state_lib
from jaxint.train.credit import grpo_lambda

Batch = dict[str, jax.Array]


def _token_logprobs(graphdef, params, batch: Batch, chunk: int, with_entropy: bool):
    model = nnx.merge(graphdef, params)
    return logprobs.sequence_logprobs(
        model, batch["tokens"], positions=batch["positions"], segment_ids=batch["segment_ids"],
        chunk=chunk, with_entropy=with_entropy,
    )


def make_score_fn(graphdef: nnx.GraphDef, chunk: int) -> Callable:
    """(params, batch [B, T]) -> (log-probs [B, T-1], entropies [B, T-1]), no gradient."""

    def score(params: nnx.State, batch: Batch) -> tuple[jax.Array, jax.Array]:
        lp, ent = _token_logprobs(graphdef, params, batch, chunk, True)
        return lp, ent

    return score


def make_update_fn(
    graphdef: nnx.GraphDef, tx: optax.GradientTransformation, cfg: train_config.GRPOConfig
) -> Callable:
    """(state, mini-batch with leaves [A, micro, ...]) -> (state, metrics).

    The batch holds tokens/positions/segment_ids/loss_mask [A, m, T], old_logp and
    (optionally) ref_logp [A, m, T-1], advantages [A, m] (one per sequence) or [A, m, T-1]
    (one per token, aligned with old_logp). Normalisers are those of the whole mini-batch, so
    accumulation does not change the update. `rl.credit: grpo_lambda` traces the log-ratios.
    """
    trace = grpo_lambda.make_trace(cfg.grpo_lambda) if cfg.credit == "grpo_lambda" else None

    def update(state: state_lib.TrainState, batch: Batch) -> tuple[state_lib.TrainState, dict]:
        mask_all = batch["loss_mask"][..., 1:]
        token_norm = jnp.sum(mask_all)
        if cfg.aggregation in ("seq_mean_token_sum_norm", "sum"):
            seq_norm = mask_all.shape[0] * mask_all.shape[1]  # constant: every row counts
        else:
            seq_norm = jnp.sum(jnp.any(mask_all > 0, axis=-1))
        max_tokens = mask_all.shape[-1]

        def loss_fn(params: nnx.State, mb: Batch) -> tuple[jax.Array, dict]:
            # Entropies only when the bonus uses them (they cost a softmax per chunk).
            lp, ent = _token_logprobs(graphdef, params, mb, cfg.logprob_chunk,
                                      cfg.entropy_coef > 0)
            return grpo.policy_loss(
                lp, mb["old_logp"], mb["advantages"], mb["loss_mask"][:, 1:],
                eps_low=cfg.eps_low, eps_high=cfg.eps_high, aggregation=cfg.aggregation,
                ref_logp=mb.get("ref_logp"), kl_coef=cfg.kl_coef,
                kl_estimator=cfg.kl_estimator, entropy=ent, entropy_coef=cfg.entropy_coef,
                max_tokens=max_tokens,
                token_normalizer=token_norm, seq_normalizer=seq_norm, loss=cfg.loss,
                trace=trace,
            )

        state, grads, losses, ms = accumulate.apply_accumulated(state, tx, batch, loss_fn)
        weights = jnp.sum(mask_all, axis=(1, 2)) / jnp.maximum(token_norm, 1.0)
        metrics = {k: jnp.sum(v * weights) for k, v in ms.items() if k != "pg_loss"}
        metrics.update(loss=jnp.sum(losses), grad_norm=optax.tree.norm(grads))
        return state, metrics

    return update
