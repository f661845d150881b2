"""Abstract inputs of the real steps: `jax.ShapeDtypeStruct`s that carry the shardings the
run would give them, so the compiler sees exactly the run's layout and nothing is allocated.

The shardings come from the same places the trainers and the engine take them from
(`train.state.shardings`, `parallel.rules.spec_for` for batches and the KV cache), never from
a copy of their rules.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxint.models import build, kv_cache, paged_cache
from jaxint.models import config as model_config
from jaxint.parallel import rules
from jaxint.sampling import state as decode_state
from jaxint.train import state as state_lib


def _attach(tree: Any, shardings: Any) -> Any:
    """`tree`'s shape/dtype leaves with the matching leaf of `shardings` attached."""
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)


def model(cfg: model_config.ModelConfig) -> tuple[nnx.GraphDef, nnx.State]:
    """(graph definition, parameters as ShapeDtypeStructs without shardings)."""
    return nnx.split(build.abstract(cfg))


def params(abstract_params: nnx.State, mesh: Mesh, dtype: str | None = None) -> nnx.State:
    """Parameters with their logical shardings, optionally cast (the sampler's copy)."""
    if dtype is not None:
        abstract_params = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, jnp.dtype(dtype)), abstract_params)
    return _attach(abstract_params, state_lib.shardings(abstract_params, mesh))


def train_state(
    abstract_params: nnx.State, tx: optax.GradientTransformation, mesh: Mesh
) -> state_lib.TrainState:
    """The train state (parameters, optimizer moments, step) as the trainers shard it."""
    tree = jax.eval_shape(
        lambda p: state_lib.TrainState(p, tx.init(p), jnp.zeros((), jnp.int32)), abstract_params)
    return _attach(tree, state_lib.shardings(tree, mesh))


def batch(
    fields: dict[str, tuple[tuple[int, ...], Any]], mesh: Mesh, *, batch_dim: int
) -> dict[str, jax.ShapeDtypeStruct]:
    """A batch split over (data, fsdp) along `batch_dim`, as `loop_utils.place_*` place it."""
    out = {}
    for key, (shape, dtype) in fields.items():
        names: list[str | None] = [None] * len(shape)
        names[batch_dim] = "act_batch"
        spec = rules.spec_for(names, shape, mesh)
        out[key] = jax.ShapeDtypeStruct(shape, jnp.dtype(dtype), sharding=NamedSharding(mesh, spec))
    return out


def replicated(shape: tuple[int, ...], dtype: Any, mesh: Mesh) -> jax.ShapeDtypeStruct:
    """A small host-made input (prompt ids, slot indices): every device holds all of it."""
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.ShapeDtypeStruct(shape, jnp.dtype(dtype), sharding=sharding)


def decoder_state(
    cfg: model_config.ModelConfig, slots: int, cache_len: int, chunk_steps: int, dtype: str,
    mesh: Mesh, pool_pages: int = 0, page_size: int = 0,
) -> decode_state.DecodeState:
    """The sampler's state (KV cache + slot bookkeeping) sharded as `state.constrain` pins it
    (paged: a pool of `pool_pages` pages of `page_size` tokens instead of dense rows)."""
    tree = jax.eval_shape(lambda: decode_state.init(
        cfg, slots, cache_len, chunk_steps, jnp.dtype(dtype), pool_pages, page_size))

    def sharded(names: tuple, x: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
        spec = rules.spec_for(names, x.shape, mesh)
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=NamedSharding(mesh, spec))

    def field(name: str):  # a cache is one stacked array or a tuple of per-layer arrays
        value = getattr(tree, name)
        if name == "cache_k" and tree.paged:
            return jax.tree.map(lambda x: jax.ShapeDtypeStruct(
                x.shape, x.dtype, sharding=NamedSharding(mesh, paged_cache.spec(x.shape, mesh))),
                value)
        if name in ("cache_k", "cache_v"):
            return jax.tree.map(lambda x: sharded(kv_cache.axes(value), x), value)
        return sharded(decode_state.SLOT_AXES + (None,) * (value.ndim - 1), value)

    return tree.replace(**{f: field(f) for f in (
        "cache_k", "cache_v", "tokens", "lengths", "generated", "budget", "active", "stopped",
        "keys", "out_tokens", "out_logprobs", "out_count")})


def device_bytes(tree: Any) -> int:
    """Bytes one device holds of a tree of sharded ShapeDtypeStructs (the largest shard)."""
    total = 0
    for x in jax.tree.leaves(tree):
        shape = x.sharding.shard_shape(x.shape) if x.sharding is not None else x.shape
        total += math.prod(shape) * jnp.dtype(x.dtype).itemsize
    return total
