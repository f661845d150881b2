"""Logical-axis rules, `shard()`, mesh resolution and the multi-host initializer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxint.parallel import config as parallel_config
from jaxint.parallel import distributed, rules
from jaxint.parallel import mesh as mesh_lib


def _mesh(data, fsdp, tensor):
    return mesh_lib.make_mesh(parallel_config.MeshConfig(data=data, fsdp=fsdp, tensor=tensor))


# ----------------------------------------------------------------------------- spec_for
def test_spec_for_maps_parameters_to_mesh_axes():
    mesh = _mesh(1, 2, 4)
    assert rules.spec_for(("embed", "mlp"), (64, 96), mesh) == P("fsdp", "tensor")
    assert rules.spec_for(("layers", "embed", "q_heads", "head_dim"), (3, 64, 8, 8), mesh) == P(
        None, "fsdp", "tensor", None
    )
    assert rules.spec_for(("norm",), (64,), mesh) == P(None)


def test_spec_for_drops_axes_that_do_not_divide():
    mesh = _mesh(1, 2, 4)
    # 2 kv heads cannot be split 4 ways: replicated instead of an uneven split.
    assert rules.spec_for(("embed", "kv_heads", "head_dim"), (64, 2, 8), mesh) == P(
        "fsdp", None, None
    )
    assert rules.spec_for(("embed", "mlp"), (63, 96), mesh) == P(None, "tensor")
    # Without a shape nothing is dropped.
    assert rules.spec_for(("embed", "kv_heads"), None, mesh) == P("fsdp", "tensor")


def test_spec_for_splits_batch_over_every_dividing_axis():
    mesh = _mesh(2, 4, 1)
    assert rules.spec_for(("act_batch", "act_seq"), (8, 5), mesh) == P(("data", "fsdp"), None)
    assert rules.spec_for(("act_batch",), (4,), mesh) == P("data")  # 2 divides, 2*4 does not
    assert rules.spec_for(("act_batch",), (3,), mesh) == P(None)


def test_spec_for_never_reuses_a_mesh_axis():
    mesh = _mesh(1, 2, 4)
    # mlp and vocab both map to tensor: only the first dimension gets it.
    assert rules.spec_for(("mlp", "vocab"), (96, 128), mesh) == P("tensor", None)
    assert rules.spec_for(("vocab", "mlp"), (128, 96), mesh) == P("tensor", None)
    # act_batch takes fsdp; embed (fsdp) comes after it and is left replicated.
    assert rules.spec_for(("act_batch", "embed"), (8, 64), mesh) == P("fsdp", None)
    for names in [("mlp", "vocab", "q_heads"), ("act_batch", "embed", "mlp", "kv_heads")]:
        spec = rules.spec_for(names, None, mesh)
        used = [a for entry in spec if entry for a in ((entry,) if isinstance(entry, str)
                                                        else entry)]
        assert len(used) == len(set(used)), spec


def test_spec_for_skips_size_one_axes_and_unknown_names_fail():
    mesh = _mesh(8, 1, 1)
    assert rules.spec_for(("embed", "mlp"), (64, 96), mesh) == P(None, None)
    assert rules.spec_for(("act_batch", None), (8, 3), mesh) == P("data", None)
    with pytest.raises(KeyError, match="no_such_axis"):
        rules.spec_for(("no_such_axis",), (4,), mesh)


# ----------------------------------------------------------------------------- shard()
def test_shard_is_a_no_op_without_a_mesh():
    x = jnp.ones((8, 4))
    assert rules.current_mesh() is None
    assert rules.shard(x, ("act_batch", "act_embed")) is x
    jaxpr = jax.make_jaxpr(lambda a: rules.shard(a, ("act_batch", "act_embed")))(x)
    assert "sharding_constraint" not in str(jaxpr)
    # Even a wrong rank passes through: without a mesh nothing is checked or constrained.
    assert rules.shard(x, ("act_batch",)) is x


def test_shard_constrains_under_a_mesh():
    mesh = _mesh(2, 4, 1)
    x = jnp.ones((8, 4))
    fn = jax.jit(lambda a: rules.shard(a * 2, ("act_batch", "act_embed")))
    with jax.set_mesh(mesh):
        assert rules.current_mesh() is not None
        assert "sharding_constraint" in str(jax.make_jaxpr(fn)(x))
        out = fn(x)
        with pytest.raises(ValueError, match="rank"):
            rules.shard(x, ("act_batch",))
    assert out.sharding.is_equivalent_to(NamedSharding(mesh, P(("data", "fsdp"), None)), 2)
    assert {s.data.shape for s in out.addressable_shards} == {(1, 4)}


# ----------------------------------------------------------------------------- mesh
def test_resolve_sizes_fills_the_free_axis():
    assert mesh_lib.resolve_sizes(parallel_config.MeshConfig(), 8) == (1, 8, 1)
    assert mesh_lib.resolve_sizes(parallel_config.MeshConfig(data=2, tensor=2), 8) == (2, 2, 2)
    assert mesh_lib.resolve_sizes(
        parallel_config.MeshConfig(data=-1, fsdp=2, tensor=2), 8) == (2, 2, 2)


def test_resolve_sizes_errors_name_the_mismatch():
    with pytest.raises(ValueError, match="not divisible by the fixed axes' product 3"):
        mesh_lib.resolve_sizes(parallel_config.MeshConfig(data=3), 8)
    with pytest.raises(ValueError, match="needs 4 devices, but 8 are available"):
        mesh_lib.resolve_sizes(parallel_config.MeshConfig(data=2, fsdp=2, tensor=1), 8)


def test_mesh_config_validation():
    with pytest.raises(ValueError, match=r"mesh\.tensor .* got 0"):
        parallel_config.MeshConfig(tensor=0)
    with pytest.raises(ValueError, match=r"mesh\.data .* got -2"):
        parallel_config.MeshConfig(data=-2)
    with pytest.raises(ValueError, match="at most one mesh axis may be -1"):
        parallel_config.MeshConfig(data=-1, fsdp=-1)


def test_make_mesh_axes_and_types():
    mesh = _mesh(2, -1, 2)
    assert mesh.axis_names == ("data", "fsdp", "tensor")
    assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    assert all(t == AxisType.Auto for t in mesh.axis_types)
    sub = mesh_lib.make_mesh(parallel_config.MeshConfig(fsdp=-1), devices=jax.devices()[:4])
    assert dict(sub.shape) == {"data": 1, "fsdp": 4, "tensor": 1}
    assert set(sub.devices.flat) == set(jax.devices()[:4])


# ----------------------------------------------------------------------------- distributed
_MARKERS = ("TPU_WORKER_HOSTNAMES", "MEGASCALE_COORDINATOR_ADDRESS", "SLURM_JOB_ID",
            "OMPI_COMM_WORLD_SIZE", "JAXINT_COORDINATOR", "JAXINT_NUM_PROCESSES",
            "JAXINT_PROCESS_ID")


@pytest.fixture
def clean_env(monkeypatch):
    """No launcher markers, and a jax.distributed.initialize that must never be reached."""
    for name in _MARKERS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(distributed, "_initialized", False)

    def forbidden(**kwargs):
        raise AssertionError(f"jax.distributed.initialize called with {kwargs}")

    monkeypatch.setattr(jax.distributed, "initialize", forbidden)
    return monkeypatch


def test_maybe_initialize_does_nothing_on_a_single_host(clean_env):
    assert distributed.maybe_initialize() is False
    assert distributed.maybe_initialize(parallel_config.DistributedConfig(mode="off")) is False
    clean_env.setenv("TPU_WORKER_HOSTNAMES", "localhost")  # a single-host TPU VM
    assert distributed.maybe_initialize() is False


def test_maybe_initialize_needs_all_coordinator_variables(clean_env):
    clean_env.setenv("JAXINT_COORDINATOR", "10.0.0.1:1234")
    with pytest.raises(RuntimeError, match="JAXINT_NUM_PROCESSES"):
        distributed.maybe_initialize()


def test_maybe_initialize_passes_explicit_settings(clean_env):
    calls = []
    clean_env.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    cfg = parallel_config.DistributedConfig(
        mode="explicit", coordinator_address="10.0.0.1:1234", num_processes=2, process_id=1)
    assert distributed.maybe_initialize(cfg) is True
    assert calls == [{"coordinator_address": "10.0.0.1:1234", "num_processes": 2,
                      "process_id": 1}]
    assert distributed.maybe_initialize(cfg) is True and len(calls) == 1  # only once


def test_distributed_config_validation():
    with pytest.raises(ValueError, match="auto|off|explicit"):
        parallel_config.DistributedConfig(mode="sometimes")
    with pytest.raises(ValueError, match="coordinator_address"):
        parallel_config.DistributedConfig(mode="explicit")
