"""The SFT loss and jitted train/eval steps (pure functions of the train state and a batch)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxint.models import decoder
from jaxint.train import accumulate, logprobs
from jaxint.train import state as state_lib

Batch = dict[str, jax.Array]


def masked_nll_sum(model: decoder.Decoder, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """(sum of -log p over trained tokens, number of trained tokens) for a [B, T] batch.

    `loss_mask[:, t] = 1` means token t is trained (predicted from tokens < t); padding and
    prompt tokens have 0, so they get exactly zero gradient.
    """
    lp, _ = logprobs.sequence_logprobs(
        model, batch["tokens"], positions=batch["positions"], segment_ids=batch["segment_ids"],
    )
    mask = batch["loss_mask"][:, 1:].astype(jnp.float32)
    return -jnp.sum(lp * mask), jnp.sum(mask)


def make_train_step(
    graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
) -> Callable[[state_lib.TrainState, Batch], tuple[state_lib.TrainState, dict]]:
    """A step over a batch shaped [A, micro, T]: gradients of A micro-batches are summed
    (lax.scan, one compiled micro-step) and normalised by the batch's trained-token count, so
    accumulation gives the same update as one big batch (token-mean loss)."""

    def step(state: state_lib.TrainState, batch: Batch) -> tuple[state_lib.TrainState, dict]:
        total = jnp.maximum(jnp.sum(batch["loss_mask"][:, :, 1:]), 1.0)

        def loss_fn(params: nnx.State, mb: Batch) -> tuple[jax.Array, tuple[()]]:
            nll, _ = masked_nll_sum(nnx.merge(graphdef, params), mb)
            return nll / total, ()

        state, grads, losses, _ = accumulate.apply_accumulated(state, tx, batch, loss_fn)
        metrics = {"loss": jnp.sum(losses), "grad_norm": optax.tree.norm(grads),
                   "tokens": total}
        return state, metrics

    return step


def make_eval_step(graphdef: nnx.GraphDef) -> Callable[[nnx.State, Batch], dict]:
    """Summed NLL and token count of a [B, T] batch (held-out loss)."""

    def step(params: nnx.State, batch: Batch) -> dict:
        nll, n = masked_nll_sum(nnx.merge(graphdef, params), batch)
        return {"nll": nll, "tokens": n}

    return step
