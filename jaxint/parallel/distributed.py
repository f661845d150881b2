"""Joining a multi-host job through `jax.distributed` when the environment asks for it."""

from __future__ import annotations

import logging
import os

import jax

from jaxint.parallel import config as config_lib

log = logging.getLogger(__name__)

# Environment markers of launchers that `jax.distributed.initialize()` can read by itself.
_AUTO_MARKERS = (
    "TPU_WORKER_HOSTNAMES",  # multi-host Cloud TPU VM
    "MEGASCALE_COORDINATOR_ADDRESS",  # multi-slice TPU
    "SLURM_JOB_ID",
    "OMPI_COMM_WORLD_SIZE",
)
_initialized = False


def _explicit_from_env() -> dict | None:
    addr = os.environ.get("JAXINT_COORDINATOR")
    if not addr:
        return None
    try:
        return {
            "coordinator_address": addr,
            "num_processes": int(os.environ["JAXINT_NUM_PROCESSES"]),
            "process_id": int(os.environ["JAXINT_PROCESS_ID"]),
        }
    except KeyError as err:
        raise RuntimeError(
            f"JAXINT_COORDINATOR is set but {err.args[0]} is not; set JAXINT_NUM_PROCESSES "
            "and JAXINT_PROCESS_ID too"
        ) from None


def _tpu_multihost() -> bool:
    hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
    return "," in hosts


def maybe_initialize(cfg: config_lib.DistributedConfig | None = None) -> bool:
    """Calls `jax.distributed.initialize` once if this process is part of a multi-host job.

    Must run before anything touches a device. Returns True when the process joined a
    multi-process job. Single-host runs (the common case, and all of CI) do nothing.
    """
    global _initialized
    cfg = cfg or config_lib.DistributedConfig()
    if _initialized or cfg.mode == "off":
        return _initialized
    kwargs: dict | None = None
    if cfg.mode == "explicit":
        kwargs = {
            "coordinator_address": cfg.coordinator_address,
            "num_processes": cfg.num_processes,
            "process_id": cfg.process_id,
        }
        if cfg.local_device_ids is not None:
            kwargs["local_device_ids"] = list(cfg.local_device_ids)
    else:
        kwargs = _explicit_from_env()
        if kwargs is None and not (
            _tpu_multihost() or any(m in os.environ for m in _AUTO_MARKERS[1:])
        ):
            return False
    log.info("jax.distributed.initialize(%s)", kwargs or "auto-detected")
    jax.distributed.initialize(**(kwargs or {}))
    _initialized = True
    return True
