"""`distributed.mode: auto`: which launcher path each (faked) environment takes.

The environment and the Cloud TPU VM probe are passed in, so each branch is checked without a
cluster; `maybe_initialize` is then checked to act on the choice and to log it.
"""

from __future__ import annotations

import logging

import jax
import pytest

from jaxint.parallel import config as parallel_config
from jaxint.parallel import distributed

AUTO = parallel_config.DistributedConfig()
COORD = {"JAXINT_COORDINATOR": "10.0.0.1:8476", "JAXINT_NUM_PROCESSES": "4",
         "JAXINT_PROCESS_ID": "2"}


def _no_tpu() -> bool:
    return False


def _tpu() -> bool:
    return True


@pytest.mark.parametrize("env, tpu_vm, source, kwargs", [
    ({}, _no_tpu, "single-process", {}),
    ({"TPU_WORKER_HOSTNAMES": "localhost"}, _no_tpu, "single-process", {}),
    ({}, _tpu, "cloud-tpu-vm", {}),  # a pod slice made by hand: JAX asks the metadata server
    ({"TPU_WORKER_HOSTNAMES": "t0,t1,t2,t3"}, _no_tpu, "tpu-gke", {}),
    ({"MEGASCALE_COORDINATOR_ADDRESS": "t0"}, _tpu, "tpu-multislice", {}),
    ({"SLURM_JOB_ID": "123"}, _no_tpu, "slurm", {}),
    ({"OMPI_COMM_WORLD_SIZE": "2"}, _no_tpu, "open-mpi", {}),
    # JAXINT_* wins over everything the environment would detect
    ({**COORD, "SLURM_JOB_ID": "1"}, _tpu, "jaxint-env",
     {"coordinator_address": "10.0.0.1:8476", "num_processes": 4, "process_id": 2}),
])
def test_auto_choice_per_environment(env, tpu_vm, source, kwargs):
    choice = distributed.choose(AUTO, env, tpu_vm)
    assert choice.source == source
    assert choice.kwargs == kwargs
    assert choice.initialize == (source != "single-process")


def test_off_and_explicit_ignore_the_environment():
    off = distributed.choose(parallel_config.DistributedConfig(mode="off"), COORD, _tpu)
    assert (off.source, off.initialize) == ("off", False)
    cfg = parallel_config.DistributedConfig(
        mode="explicit", coordinator_address="gpu0:1", num_processes=2, process_id=0,
        local_device_ids=(0, 1))
    explicit = distributed.choose(cfg, COORD, _tpu)
    assert explicit.source == "explicit"
    assert explicit.kwargs == {"coordinator_address": "gpu0:1", "num_processes": 2,
                               "process_id": 0, "local_device_ids": [0, 1]}


def test_cloud_tpu_probe_respects_jax_skip_flag():
    assert distributed.on_cloud_tpu_vm({"TPU_SKIP_MDS_QUERY": "1"}) is False
    assert distributed.on_cloud_tpu_vm({}) is False  # this CI machine has no TPU chips


@pytest.fixture
def fresh(monkeypatch):
    for var in ("JAXINT_COORDINATOR", "JAXINT_NUM_PROCESSES", "JAXINT_PROCESS_ID",
                "TPU_WORKER_HOSTNAMES", "MEGASCALE_COORDINATOR_ADDRESS", "SLURM_JOB_ID",
                "OMPI_COMM_WORLD_SIZE", "TPU_SKIP_MDS_QUERY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(distributed, "_initialized", False)
    return monkeypatch


def test_maybe_initialize_on_a_tpu_vm_lets_jax_detect_and_logs_it(fresh, caplog):
    calls = []
    fresh.setattr(distributed, "on_cloud_tpu_vm", lambda env=None: True)
    fresh.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    with caplog.at_level(logging.INFO, logger=distributed.__name__):
        assert distributed.maybe_initialize(AUTO) is True
    assert calls == [{}]
    assert "cloud-tpu-vm: jax.distributed.initialize(auto-detected by JAX)" in caplog.text


def test_tpu_vm_without_a_cluster_runs_as_one_process(fresh, caplog):
    """A single TPU VM whose metadata names no workers (Colab): JAX raises ValueError."""
    def no_cluster(**kw):
        raise ValueError("coordinator_address should be defined.")

    fresh.setattr(distributed, "on_cloud_tpu_vm", lambda env=None: True)
    fresh.setattr(jax.distributed, "initialize", no_cluster)
    with caplog.at_level(logging.WARNING, logger=distributed.__name__):
        assert distributed.maybe_initialize(AUTO) is False
    assert "single process" in caplog.text


def test_a_failing_explicit_join_is_not_swallowed(fresh):
    def broken(**kw):
        raise ValueError("bad address")

    fresh.setenv("SLURM_JOB_ID", "7")
    fresh.setattr(jax.distributed, "initialize", broken)
    with pytest.raises(ValueError, match="bad address"):
        distributed.maybe_initialize(AUTO)
