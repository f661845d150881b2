"""Bringing (small) device results to the host on every process of a multi-host job."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def fetch(tree: Any) -> Any:
    """numpy copies of a pytree of arrays, in one transfer when every array is addressable
    here; arrays spanning other hosts' devices are gathered (a collective: every process must
    call it)."""
    leaves = jax.tree.leaves(tree)
    if all(x.is_fully_addressable for x in leaves):
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return jax.tree.map(lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True)),
                        tree)


def require_mesh_if_multiprocess(mesh: Any, what: str) -> None:
    """A multi-process job must compute on the global mesh; without one each process would
    silently train its own copy of the model."""
    if mesh is None and jax.process_count() > 1:
        raise ValueError(f"{what}: a mesh is required when running with "
                         f"{jax.process_count()} processes")
