"""Plumbing shared by the SFT and GRPO loops: placing host batches on the mesh, compiling
steps with stable shardings, host-side timers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxint.parallel import rules
from jaxint.train import state as state_lib


def mesh_context(mesh: Mesh | None):
    return contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh)


def place_batch(
    batch: dict[str, np.ndarray], mesh: Mesh | None, *, batch_dim: int = 0
) -> dict[str, jax.Array]:
    """Puts this process's slice of a batch onto the mesh, split over (data, fsdp) along
    `batch_dim`. Each process passes only its local rows (grain shards data per process)."""
    if mesh is None:
        return jax.device_put(batch)
    out = {}
    for key, local in batch.items():
        global_shape = list(local.shape)
        global_shape[batch_dim] *= jax.process_count()
        out[key] = jax.make_array_from_process_local_data(
            _batch_sharding(mesh, global_shape, batch_dim), np.asarray(local),
            tuple(global_shape))
    return out


def _batch_sharding(mesh: Mesh, shape: Sequence[int], batch_dim: int) -> NamedSharding:
    """`shape` split over the batch axes of the mesh along `batch_dim`, the rest replicated."""
    names: list[str | None] = [None] * len(shape)
    names[batch_dim] = "act_batch"
    return NamedSharding(mesh, rules.spec_for(names, shape, mesh))


def jit_train_step(step: Callable, state: Any, mesh: Mesh | None) -> Callable:
    """jit with the state donated and its output sharding pinned to the input's, so a long
    run never drifts into a different layout (or a recompile)."""
    if mesh is None:
        return jax.jit(step, donate_argnums=0)
    replicated = NamedSharding(mesh, PartitionSpec())
    return jax.jit(step, donate_argnums=0,
                   out_shardings=(state_lib.shardings(state, mesh), replicated))


def reshape_accumulation(batch: dict[str, np.ndarray], accumulation: int) -> dict[str, np.ndarray]:
    """[B, T] -> [A, B / A, T] for gradient accumulation."""
    return {k: v.reshape(accumulation, v.shape[0] // accumulation, *v.shape[1:])
            for k, v in batch.items()}


class Timer:
    """Accumulates wall time per named phase (rollout, scoring, training, ...)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t

    def pop(self) -> dict[str, float]:
        out, self.totals = self.totals, {}
        return out


def place_global(
    batch: dict[str, np.ndarray], mesh: Mesh | None, *, batch_dim: int = 0
) -> dict[str, jax.Array]:
    """Like `place_batch`, for data every process holds in full (RL rollouts are computed
    identically on every process): each device takes its slice of the global array."""
    if mesh is None:
        return jax.device_put(batch)
    out = {}
    for key, full in batch.items():
        sharding = _batch_sharding(mesh, full.shape, batch_dim)
        out[key] = jax.make_array_from_callback(full.shape, sharding, lambda idx, f=full: f[idx])
    return out
