"""The train state (parameters, optimizer state, step) and its shardings."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxint.parallel import sharding


@struct.dataclass
class TrainState:
    """Everything a step updates. Parameters are an nnx.State (float32 by default); the
    optimizer moments mirror their structure, so they inherit the parameters' shardings."""

    params: nnx.State
    opt_state: Any
    step: jax.Array


def create(params: nnx.State, tx: optax.GradientTransformation, mesh: Mesh | None) -> TrainState:
    """A fresh state; with a mesh the optimizer state is created already sharded."""
    if mesh is None:
        # Committed to the parameters' device like a restored state is, so a resumed run
        # hits the same compiled programs instead of compiling them again.
        device = jax.tree.leaves(params)[0].devices().pop()
        return jax.device_put(TrainState(params, tx.init(params), jnp.zeros((), jnp.int32)),
                              device)
    abstract = jax.eval_shape(lambda p: TrainState(p, tx.init(p), jnp.zeros((), jnp.int32)), params)
    out = shardings(abstract, mesh)
    return jax.jit(lambda p: TrainState(p, tx.init(p), jnp.zeros((), jnp.int32)),
                   out_shardings=out)(params)


def shardings(tree: Any, mesh: Mesh) -> Any:
    """Shardings for any pytree of (abstract) arrays and nnx Variables: variables follow their
    logical axes, everything else (step counters, scalars) is replicated."""
    replicated = NamedSharding(mesh, PartitionSpec())

    def one(x: Any) -> Any:
        if isinstance(x, nnx.Variable):
            return x.replace(sharding.variable_sharding(x, mesh))
        return replicated

    return jax.tree.map(one, tree, is_leaf=lambda x: isinstance(x, nnx.Variable))


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) of a concrete tree: the restore target."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree
    )
