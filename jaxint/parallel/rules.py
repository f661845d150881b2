"""The one table that maps logical axis names to mesh axes, and `shard()`.

Parameter names: vocab, embed, mlp, q_heads, kv_heads, head_dim, layers.
Activation names carry an `act_` prefix so that a parameter's `embed` (split over fsdp) and an
activation's embedding dimension (replicated, its batch being split over fsdp) never collide.
Cache names carry a `cache_` prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
from jax.sharding import NamedSharding, PartitionSpec

MeshAxes = tuple[str, ...]

RULES: dict[str, MeshAxes] = {
    # parameters
    "vocab": ("tensor",),
    "embed": ("fsdp",),
    "mlp": ("tensor",),
    "q_heads": ("tensor",),
    "kv_heads": ("tensor",),
    "head_dim": (),
    "layers": (),
    "norm": (),
    # activations
    "act_batch": ("data", "fsdp"),
    "act_seq": (),
    # The residual stream between layers (what a scanned, rematerialised stack saves per layer):
    # its sequence split over tensor, so each tensor shard keeps 1/t of it; XLA gathers it
    # for the projections (sequence parallelism). Attention and MLP activations use act_seq.
    "act_res_seq": ("tensor",),
    "act_embed": (),
    "act_mlp": ("tensor",),
    "act_heads": ("tensor",),
    "act_kv_heads": ("tensor",),
    "act_head_dim": (),
    "act_vocab": ("tensor",),
    # KV cache
    "cache_layers": (),
    "cache_batch": ("data", "fsdp"),
    "cache_seq": (),
    "cache_kv_heads": ("tensor",),
    "cache_head_dim": (),
}


def _axis_sizes(mesh: jax.sharding.Mesh | jax.sharding.AbstractMesh) -> dict[str, int]:
    return dict(zip(mesh.axis_names, mesh.axis_sizes))


def spec_for(
    names: Sequence[str | None],
    shape: Sequence[int] | None,
    mesh: jax.sharding.Mesh | jax.sharding.AbstractMesh,
) -> PartitionSpec:
    """PartitionSpec for an array whose dimensions carry logical `names`.

    A mesh axis is used for a dimension only if the mesh has it with size > 1, it is not
    already used by an earlier dimension, and (when `shape` is given) the dimension stays
    divisible. So 2 kv heads on a 4-way tensor axis are replicated instead of failing; the
    compiler would otherwise reject the uneven split.
    """
    sizes = _axis_sizes(mesh)
    used: set[str] = set()
    spec = []
    for i, name in enumerate(names):
        if name is None:
            spec.append(None)
            continue
        if name not in RULES:
            raise KeyError(f"logical axis {name!r} has no rule in jaxint.parallel.rules.RULES")
        picked: list[str] = []
        extent = 1
        for axis in RULES[name]:
            size = sizes.get(axis, 1)
            if size == 1 or axis in used:
                continue
            if shape is not None and shape[i] % (extent * size):
                continue
            picked.append(axis)
            extent *= size
        used.update(picked)
        spec.append(None if not picked else picked[0] if len(picked) == 1 else tuple(picked))
    return PartitionSpec(*spec)


def named_sharding(
    names: Sequence[str | None], shape: Sequence[int] | None, mesh: jax.sharding.Mesh
) -> NamedSharding:
    """`NamedSharding` of an array with logical `names` on a concrete mesh."""
    return NamedSharding(mesh, spec_for(names, shape, mesh))


def current_mesh() -> jax.sharding.AbstractMesh | None:
    """The mesh set by `jax.set_mesh`, or None when code runs without one."""
    mesh = jax.sharding.get_abstract_mesh()
    return None if mesh.empty else mesh


def shard(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
    """Constrains activation `x` to the sharding its logical `names` imply.

    A no-op when no mesh is set, so single-device code and tests need no mesh at all.
    """
    mesh = current_mesh()
    if mesh is None:
        return x
    if len(names) != x.ndim:
        raise ValueError(
            f"shard(): {len(names)} names {tuple(names)} for an array of rank {x.ndim}")
    return jax.lax.with_sharding_constraint(x, spec_for(names, x.shape, mesh))
