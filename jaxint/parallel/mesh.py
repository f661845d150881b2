"""Building a `jax.sharding.Mesh` from a `MeshConfig`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

from jaxint.parallel import config as parallel_config


def resolve_sizes(cfg: parallel_config.MeshConfig, num_devices: int) -> tuple[int, int, int]:
    """Returns (data, fsdp, tensor) with the -1 axis filled in; errors name the mismatch."""
    sizes = [getattr(cfg, a) for a in parallel_config.AXES]
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if num_devices % known:
            raise ValueError(
                f"mesh {dict(zip(parallel_config.AXES, sizes))}: {num_devices} devices are not "
                f"divisible by the fixed axes' product {known}"
            )
        sizes[sizes.index(-1)] = num_devices // known
    if math.prod(sizes) != num_devices:
        raise ValueError(
            f"mesh {dict(zip(parallel_config.AXES, sizes))} needs {math.prod(sizes)} devices, "
            f"but {num_devices} are available"
        )
    return tuple(sizes)  # type: ignore[return-value]


def make_mesh(
    cfg: parallel_config.MeshConfig | None = None, devices: Sequence[jax.Device] | None = None
) -> Mesh:
    """A (data, fsdp, tensor) mesh over `devices` (default: all devices of all processes).

    Axis types are Auto (classic GSPMD propagation with sharding constraints), not the newer
    Explicit default of `jax.make_mesh`, because the model code uses logical constraints.
    `jax.make_mesh` orders devices for the physical topology (ICI rings on TPU), so `tensor`,
    the innermost axis, gets the fastest links.
    """
    cfg = cfg or parallel_config.MeshConfig()
    devices = list(devices) if devices is not None else jax.devices()
    sizes = resolve_sizes(cfg, len(devices))
    types = (AxisType.Auto,) * 3
    if devices == jax.devices():
        return jax.make_mesh(sizes, parallel_config.AXES, axis_types=types)
    return Mesh(np.asarray(devices).reshape(sizes), parallel_config.AXES, axis_types=types)
