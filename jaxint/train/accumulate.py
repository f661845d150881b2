"""The one gradient-accumulation step both trainers compile: a batch with a leading
accumulation axis [A, micro, ...] is folded by `lax.scan` (one compiled micro-step), the
gradients summed and applied once, so A micro-batches give the update of one big batch when the
loss is normalised by whole-batch counts (which the caller's loss closes over)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxint.train import state as state_lib

Batch = dict[str, jax.Array]
# (params, micro-batch) -> (loss, aux): `aux` is any pytree of per-micro-batch values.
LossFn = Callable[[nnx.State, Batch], tuple[jax.Array, Any]]


def apply_accumulated(
    state: state_lib.TrainState, tx: optax.GradientTransformation, batch: Batch,
    loss_fn: LossFn,
) -> tuple[state_lib.TrainState, nnx.State, jax.Array, Any]:
    """One optimizer update over the A micro-batches of `batch`.

    Returns:
        (new state, summed gradients, losses [A], aux with a leading [A] axis).
    """

    def micro(grads: nnx.State, mb: Batch) -> tuple[nnx.State, tuple[jax.Array, Any]]:
        (loss, aux), g = jax.value_and_grad(loss_fn, has_aux=True)(state.params, mb)
        return jax.tree.map(jnp.add, grads, g), (loss, aux)

    zeros = jax.tree.map(jnp.zeros_like, state.params)
    grads, (losses, aux) = jax.lax.scan(micro, zeros, batch)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return state_lib.TrainState(params, opt_state, state.step + 1), grads, losses, aux
