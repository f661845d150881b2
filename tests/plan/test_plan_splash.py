"""Splash attention compiled ahead of time for a TPU v5e 2x4 topology (libtpu, no TPU).

Checks that the kernel reaches the TPU compiler as a Mosaic custom call (not the interpret-mode
lowering the CPU tests use), once per device under `shard_map`, and that the tiny model's
scoring and training steps compile with it. Skipped without libtpu.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxint.models import attention
from jaxint.parallel import config as parallel_config
from jaxint.parallel import mesh as mesh_lib
from jaxint.plan import cli, topologies
from tests.plan.conftest import tiny_config

pytestmark = pytest.mark.skipif(
    not topologies.has_libtpu(),
    reason="libtpu is not installed (pip install 'jaxint[plan]' brings the TPU compiler)")


@pytest.fixture(autouse=True)
def default_precision():
    """tests/conftest.py asks for "highest" matmul precision (float32 parity on CPU); Mosaic
    refuses bfloat16 kernel dots at that precision, and a TPU run uses the default."""
    with jax.default_matmul_precision("default"):
        yield


def _tpu_mesh():
    devices = topologies.devices(topologies.get("v5e:2x4"))
    return mesh_lib.make_mesh(parallel_config.MeshConfig(data=1, fsdp=4, tensor=2),
                              devices=devices)


def test_splash_lowers_to_a_mosaic_kernel_per_device():
    mesh = _tpu_mesh()
    B, T, N, K, H = 8, 1024, 8, 4, 128
    qs = NamedSharding(mesh, PartitionSpec("fsdp", None, "tensor", None))
    q = jax.ShapeDtypeStruct((B, T, N, H), jnp.bfloat16, sharding=qs)
    k = jax.ShapeDtypeStruct((B, T, K, H), jnp.bfloat16, sharding=qs)
    seg = jax.ShapeDtypeStruct((B, T), jnp.int32, sharding=NamedSharding(
        mesh, PartitionSpec("fsdp", None)))

    def loss(q, k, v, seg):
        mask = attention.MaskInfo(
            q_index=jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32), (B, T)),
            kv_valid=seg > 0, q_segment=seg, kv_segment=seg)
        return attention.attend(q, k, v, mask, impl="splash").astype(jnp.float32).sum()

    with jax.set_mesh(mesh):
        lowered = jax.jit(jax.grad(loss, argnums=(0, 1, 2))).trace(q, k, k, seg).lower()
    text = lowered.as_text()
    assert "tpu_custom_call" in text  # forward, dq and dkv kernels
    assert "shard_map" in text or "manual" in text.lower()
    compiled = lowered.compile()
    assert compiled.as_text().count("tpu_custom_call") >= 3  # survived SPMD partitioning


def test_tiny_model_steps_compile_with_splash():
    cfg = tiny_config("model.attention_impl=splash", "plan.functions=[grpo_score,sft_step]")
    rows = {r.result.name: r for r in cli.plan(cfg, topologies.get("v5e:2x4"))}
    for row in rows.values():
        assert row.result.error is None and row.fits
