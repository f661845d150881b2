"""Mesh and multi-host settings (frozen, validated)."""

from __future__ import annotations

import dataclasses

AXES = ("data", "fsdp", "tensor")


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Sizes of the three mesh axes; exactly one may be -1 (= all remaining devices).

    `data` replicates parameters and splits the batch; `fsdp` splits both the batch and the
    parameters (ZeRO-3 style); `tensor` splits heads and the MLP width (Megatron style).
    """

    data: int = 1
    fsdp: int = -1
    tensor: int = 1

    def __post_init__(self) -> None:
        sizes = {a: getattr(self, a) for a in AXES}
        for axis, size in sizes.items():
            if size == 0 or size < -1:
                raise ValueError(f"mesh.{axis} must be a positive size or -1, got {size}")
        if sum(1 for s in sizes.values() if s == -1) > 1:
            raise ValueError(f"at most one mesh axis may be -1, got {sizes}")


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """How this process joins a multi-host job.

    `mode="auto"` (the default) initialises `jax.distributed` when the environment says so:
    the JAXINT_COORDINATOR variables, SLURM, Open MPI, a TPU pod that names its workers
    (MEGASCALE_*/TPU_WORKER_HOSTNAMES), or any Cloud TPU VM, where JAX discovers the slice's
    workers from the metadata server (`jaxint.parallel.distributed.choose` has the order);
    "off" never does; "explicit" uses the fields below (GPU nodes without a cluster manager).
    """

    mode: str = "auto"
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    local_device_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "off", "explicit"):
            raise ValueError(f"distributed.mode must be auto|off|explicit, got {self.mode!r}")
        if self.mode == "explicit" and (
            self.coordinator_address is None or self.num_processes is None
            or self.process_id is None
        ):
            raise ValueError(
                "distributed.mode=explicit needs coordinator_address, num_processes and process_id"
            )
