"""Joining a multi-host job through `jax.distributed` when the environment asks for it.

`choose` is a pure function of the config, the environment variables and one hardware probe,
so every branch is testable on a laptop with a faked environment; `maybe_initialize` acts on
its answer once per process and logs which path it took (a pod slice that silently ran as
one process per host is the hardest bug to spot from the logs).
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import jax

from jaxint.parallel import config as parallel_config

log = logging.getLogger(__name__)

# Google's PCI vendor id and the device ids of TPU chips (v3 ... tpu7x), as JAX's own
# `hardware_utils` lists them; read here so that the probe works without importing libtpu.
_GOOGLE_PCI_VENDOR = "0x1ae0"
_TPU_PCI_DEVICES = ("0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f", "0x0076")
_initialized = False


@dataclasses.dataclass(frozen=True)
class Choice:
    """How this process joins (or not) a `jax.distributed` job.

    Attributes:
        source: which rule matched: "off", "explicit" (config), "jaxint-env" (JAXINT_*),
            "slurm", "open-mpi", "tpu-multislice", "tpu-gke" (TPU_WORKER_HOSTNAMES),
            "cloud-tpu-vm" (JAX's metadata-server discovery), or "single-process".
        kwargs: arguments for `jax.distributed.initialize`; empty = JAX detects the cluster.
        initialize: whether to call `jax.distributed.initialize` at all.
    """

    source: str
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    initialize: bool = True

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.kwargs.items()) or "auto-detected by JAX"
        return f"{self.source}: " + (f"jax.distributed.initialize({args})"
                                     if self.initialize else "no jax.distributed job")


def _explicit_from_env(env: Mapping[str, str]) -> dict | None:
    addr = env.get("JAXINT_COORDINATOR")
    if not addr:
        return None
    try:
        return {
            "coordinator_address": addr,
            "num_processes": int(env["JAXINT_NUM_PROCESSES"]),
            "process_id": int(env["JAXINT_PROCESS_ID"]),
        }
    except KeyError as err:
        raise RuntimeError(
            f"JAXINT_COORDINATOR is set but {err.args[0]} is not; set JAXINT_NUM_PROCESSES "
            "and JAXINT_PROCESS_ID too"
        ) from None


def on_cloud_tpu_vm(env: Mapping[str, str] | None = None) -> bool:
    """True on a Cloud TPU VM: TPU chips on this host's PCI bus, and JAX allowed to ask the
    metadata server (JAX itself sets TPU_SKIP_MDS_QUERY when it finds no chips)."""
    env = os.environ if env is None else env
    if env.get("TPU_SKIP_MDS_QUERY") is not None:
        return False
    for vendor in glob.glob("/sys/bus/pci/devices/*/vendor"):
        try:
            if pathlib.Path(vendor).read_text().strip() != _GOOGLE_PCI_VENDOR:
                continue
            device = pathlib.Path(vendor).with_name("device").read_text().strip()
        except OSError:
            continue
        if device in _TPU_PCI_DEVICES:
            return True
    return False


def choose(cfg: parallel_config.DistributedConfig, env: Mapping[str, str],
           cloud_tpu_vm: Callable[[], bool]) -> Choice:
    """The first matching rule, most explicit first: config, JAXINT_*, cluster managers, TPU
    pods that name their workers in the environment, then a Cloud TPU VM (whose workers only
    the metadata server knows), else a plain single process."""
    if cfg.mode == "off":
        return Choice("off", initialize=False)
    if cfg.mode == "explicit":
        kwargs = {"coordinator_address": cfg.coordinator_address,
                  "num_processes": cfg.num_processes, "process_id": cfg.process_id}
        if cfg.local_device_ids is not None:
            kwargs["local_device_ids"] = list(cfg.local_device_ids)
        return Choice("explicit", kwargs)
    kwargs = _explicit_from_env(env)
    if kwargs is not None:
        return Choice("jaxint-env", kwargs)
    if "SLURM_JOB_ID" in env:
        return Choice("slurm")
    if "OMPI_COMM_WORLD_SIZE" in env:
        return Choice("open-mpi")
    if "MEGASCALE_COORDINATOR_ADDRESS" in env:
        return Choice("tpu-multislice")
    if "," in env.get("TPU_WORKER_HOSTNAMES", ""):
        return Choice("tpu-gke")
    if cloud_tpu_vm():
        return Choice("cloud-tpu-vm")
    return Choice("single-process", initialize=False)


def maybe_initialize(cfg: parallel_config.DistributedConfig | None = None) -> bool:
    """Calls `jax.distributed.initialize` once if this process is part of a multi-host job.

    Must run before anything touches a device. Returns True when the process joined a
    `jax.distributed` job. Single-host CPU/GPU runs (the common case, and all of CI) do
    nothing. On a Cloud TPU VM whose metadata names no cluster (e.g. a Colab TPU), JAX's
    detection finds nothing; that is logged and the run goes on as one process.
    """
    global _initialized
    cfg = cfg or parallel_config.DistributedConfig()
    if _initialized:
        return True
    choice = choose(cfg, os.environ, on_cloud_tpu_vm)
    log.info("distributed: %s", choice.describe())
    if not choice.initialize:
        return False
    try:
        jax.distributed.initialize(**choice.kwargs)
    except ValueError as err:
        if choice.source != "cloud-tpu-vm":
            raise
        log.warning("distributed: JAX found no TPU cluster on this Cloud TPU VM (%s); "
                    "running as a single process", err)
        return False
    _initialized = True
    return True
