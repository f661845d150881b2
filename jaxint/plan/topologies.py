"""Target machines by name: their devices (for the compiler) and their per-chip figures.

TPU devices come from `jax.experimental.topologies.get_topology_desc`, which only needs libtpu
(no TPU): the compiler then runs exactly as it would on the slice. `cpu-8` is 8 fake CPU
devices (XLA_FLAGS must ask for them before jax starts; `jaxint.plan.cli` does that).
`h100x8` has no compiler here: it borrows an 8-device TPU topology's compile and is judged
against H100 figures (see `Target.estimated_with`).

Per-chip figures are the vendors' public numbers:
  v5e  https://cloud.google.com/tpu/docs/v5e   197 TFLOP/s bf16, 16 GB HBM2, 819 GB/s
  v5p  https://cloud.google.com/tpu/docs/v5p   459 TFLOP/s bf16, 95 GB HBM2e, 2765 GB/s
  v4   https://cloud.google.com/tpu/docs/v4    275 TFLOP/s bf16, 32 GiB HBM2, 1200 GB/s
  v6e  https://cloud.google.com/tpu/docs/v6e   918 TFLOP/s bf16, 32 GB, 1638 GB/s
  H100 SXM (NVIDIA H100 datasheet)              989 TFLOP/s bf16 dense, 80 GB HBM3, 3.35 TB/s
The HBM a plan is judged against is what the TPU compiler itself says it may use (read from
its out-of-memory message, libtpu 0.0.42.1): v5e 15.75 GiB, v5p 95.74 GiB, v4 30.75 GiB,
v6e 31.25 GiB, a little under the docs' capacities. H100: 80e9 bytes (74.5 GiB), leaving the
GPU runtime its share of the 79.6 GiB the card has.
"""

from __future__ import annotations

import dataclasses
import os

GIB = 1 << 30
CPU_DEVICES = 8


@dataclasses.dataclass(frozen=True)
class Chip:
    """Per-device figures used by the report (one JAX device = one chip, megacore on v4)."""

    name: str
    hbm_bytes: int
    peak_flops: float  # bf16 dense, per chip
    hbm_bandwidth: float  # bytes/s, per chip
    source: str


CHIPS = {
    "v5e": Chip("TPU v5e", int(15.75 * GIB), 197e12, 819e9,
                "https://cloud.google.com/tpu/docs/v5e"),
    "v5p": Chip("TPU v5p", int(95.74 * GIB), 459e12, 2765e9,
                "https://cloud.google.com/tpu/docs/v5p"),
    "v4": Chip("TPU v4", int(30.75 * GIB), 275e12, 1200e9, "https://cloud.google.com/tpu/docs/v4"),
    "v6e": Chip("TPU v6e", int(31.25 * GIB), 918e12, 1638e9,
                "https://cloud.google.com/tpu/docs/v6e"),
    "h100": Chip("NVIDIA H100 SXM", 80 * 10**9, 989e12, 3.35e12, "NVIDIA H100 datasheet"),
    # No meaningful peak: the CPU target exists to test the command, not to size a run.
    "cpu": Chip("CPU (fake devices)", 16 * GIB, 1e12, 100e9, "placeholder figures (test target)"),
}


@dataclasses.dataclass(frozen=True)
class Target:
    """A named machine: how to get its devices and which chip figures judge the plan.

    Attributes:
        topology: libtpu topology name ("v5e:2x4"), or None for the CPU target.
        chips_per_host: chips per host of the real slice (only changes process indices).
        chip_config: "megacore" for v4, so one device is one chip as on a real v4 VM.
        estimated_with: set when the compile is borrowed from another target (GPU figures).
    """

    name: str
    chip: Chip
    num_devices: int
    topology: str | None = None
    chips_per_host: tuple[int, int, int] = (2, 2, 1)
    chip_config: str = "default"
    estimated_with: str | None = None


TARGETS = {
    t.name: t for t in (
        Target("v5p-8", CHIPS["v5p"], 4, "v5p:2x2x1", (2, 2, 1)),
        Target("v4-8", CHIPS["v4"], 4, "v4:2x2x1", (2, 2, 1), "megacore"),
        Target("v5e-8", CHIPS["v5e"], 8, "v5e:2x4", (2, 4, 1)),
        Target("v5e-16", CHIPS["v5e"], 16, "v5e:4x4", (2, 2, 1)),
        Target("v5e-256", CHIPS["v5e"], 256, "v5e:16x16", (2, 2, 1)),
        Target("v6e-8", CHIPS["v6e"], 8, "v6e:2x4", (2, 4, 1)),
        Target("h100x8", CHIPS["h100"], 8, "v5p:2x2x2", (2, 2, 1), estimated_with="v5p:2x2x2"),
        Target("cpu-8", CHIPS["cpu"], CPU_DEVICES),
    )
}


class MissingLibtpu(RuntimeError):
    """A TPU target was asked for but libtpu (which holds the TPU compiler) is not installed."""


def get(name: str) -> Target:
    """The target called `name`; a libtpu topology string ("v5e:2x4") is accepted too."""
    if name in TARGETS:
        return TARGETS[name]
    if ":" in name:
        family = name.split(":")[0]
        if family not in CHIPS:
            raise KeyError(f"unknown TPU family in topology {name!r}")
        dims = [int(d) for d in name.split(":")[1].split("x")]
        n = 1
        for d in dims:
            n *= d
        return Target(name, CHIPS[family], n, name,
                      chip_config="megacore" if family == "v4" else "default")
    raise KeyError(f"unknown topology {name!r}; known: {', '.join(TARGETS)} or a libtpu "
                   "topology string such as v5e:2x4")


def has_libtpu() -> bool:
    """Whether the TPU compiler is importable (pip install 'jaxint[plan]')."""
    import importlib.util

    return importlib.util.find_spec("libtpu") is not None


def ensure_cpu_devices(count: int = CPU_DEVICES) -> None:
    """Asks XLA for `count` CPU devices; effective only before jax starts its backends."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def devices(target: Target) -> list:
    """The target's devices, in the order `Mesh` should reshape them.

    Raises:
        MissingLibtpu: a TPU target without libtpu installed (the message says what to install).
        RuntimeError: cpu-8 in a process whose CPU backend already started with fewer devices.
    """
    import jax

    if target.topology is None:
        cpus = jax.devices("cpu")
        if len(cpus) < target.num_devices:
            raise RuntimeError(
                f"{target.name} needs {target.num_devices} CPU devices but jax started with "
                f"{len(cpus)}; set XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{target.num_devices} before jax is imported (the `jaxint plan` command does)")
        return cpus[: target.num_devices]
    if not has_libtpu():
        import jax.version

        raise MissingLibtpu(
            f"topology {target.name} needs the TPU compiler (libtpu), which is not installed. "
            f"Install it with: pip install 'jaxint[plan]'  (= jax[tpu]=={jax.version.__version__}"
            ", no TPU needed)")
    from jax.experimental import topologies

    # libtpu takes a machine-wide lock file when it loads; a compile-only process must not
    # be refused because another jax process on this machine loaded libtpu first.
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    desc = topologies.get_topology_desc(
        platform="tpu", topology_name=target.topology, chip_config_name=target.chip_config,
        chips_per_host_bounds=target.chips_per_host, num_slices=1,
    )
    devs = list(desc.devices)
    if len(devs) != target.num_devices:
        raise RuntimeError(f"{target.name}: libtpu gave {len(devs)} devices, expected "
                           f"{target.num_devices}")
    return devs
