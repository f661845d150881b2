"""Shardings of NNX states from their parameters' `logical_axes` metadata."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxint.parallel import rules


def _is_variable(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def logical_axes(var: nnx.Variable) -> tuple[str | None, ...] | None:
    """The logical axis names a variable was created with, or None."""
    return var.get_metadata().get("logical_axes")


def variable_sharding(var: nnx.Variable, mesh: Mesh) -> NamedSharding:
    """Target sharding of one variable; variables without names are replicated."""
    names = logical_axes(var)
    if names is None:
        return NamedSharding(mesh, PartitionSpec())
    return rules.named_sharding(names, var.get_value().shape, mesh)


def state_shardings(state: Any, mesh: Mesh) -> Any:
    """A tree shaped like `state` (an nnx.State or pytree of Variables) holding shardings.

    Usable as `out_shardings` of a jit that returns `state`, or leaf by leaf in device_put.
    """
    return jax.tree.map(
        lambda v: v.replace(variable_sharding(v, mesh)) if _is_variable(v) else v,
        state, is_leaf=_is_variable,
    )
