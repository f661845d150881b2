"""The plan's pieces that need no compiler: config loading, FLOP counting, targets, OOM text."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxint import configlib
from jaxint.plan import compile as compile_lib
from jaxint.plan import config as plan_config
from jaxint.plan import flops, topologies

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


def test_full_run_config_loads_only_its_sections(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("model: {preset: Qwen3-1.7B}\nsft: {seq_len: 2048}\nverify: {anything: 1}\n")
    child = tmp_path / "run.yaml"
    child.write_text("base: base.yaml\nname: r\ndata: {path: x}\nmesh: {fsdp: 4, tensor: 2}\n"
                     "plan: {prompt_tokens: 300}\n")
    cfg = plan_config.load(child, ["sft.batch_size=32", "eval.n=4"])
    assert cfg.model.preset == "Qwen3-1.7B" and cfg.sft.seq_len == 2048
    assert cfg.sft.batch_size == 32 and cfg.mesh.tensor == 2 and cfg.plan.prompt_tokens == 300


def test_typo_in_a_read_section_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sft: {seq_lenn: 1}\n")
    with pytest.raises(configlib.ConfigError, match="seq_lenn") as err:
        plan_config.load(path)
    assert str(path) in str(err.value)


def test_unknown_function_is_rejected():
    with pytest.raises(configlib.ConfigError, match="plan.functions"):
        plan_config.load(None, ["plan.functions=[train]"])


def test_flops_multiply_scan_and_while_bodies():
    x = jax.ShapeDtypeStruct((4, 8), jnp.float32)
    w = jax.ShapeDtypeStruct((5, 8, 8), jnp.float32)
    one = 2 * 4 * 8 * 8

    def scanned(x, w):
        return jax.lax.scan(lambda c, wi: (c @ wi, None), x, w)[0]

    def looped(x, w):
        return jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] @ w[0]),
                                  (0, x))[1]

    assert flops.count(jax.make_jaxpr(scanned)(x, w)) == 5 * one
    assert flops.count(jax.make_jaxpr(looped)(x, w), while_trips=3) == 3 * one
    grad = jax.make_jaxpr(jax.grad(lambda x, w: jnp.sum(scanned(x, w)), argnums=(0, 1)))(x, w)
    assert flops.count(grad) == 3 * 5 * one  # forward + two backward matmuls per step


def test_flops_of_shard_map_and_pallas_bodies():
    """A shard_map body (per-shard shapes) counts once per shard: the same global figure as
    unsharded. A Pallas kernel counts its cost estimate, never its body times the caller's
    while trips (its loops are its own)."""
    from jax.experimental import pallas as pl
    from jax.sharding import Mesh, PartitionSpec

    x = jax.ShapeDtypeStruct((8, 8), jnp.float32)
    w = jax.ShapeDtypeStruct((8, 8), jnp.float32)
    mesh = Mesh(np.array(jax.devices()[:4]), ("data",))
    split = jax.shard_map(lambda a, b: a @ b, mesh=mesh,
                          in_specs=(PartitionSpec("data"), PartitionSpec()),
                          out_specs=PartitionSpec("data"))
    assert flops.count(jax.make_jaxpr(split)(x, w)) == 2 * 8 * 8 * 8

    def kernel(x_ref, w_ref, o_ref):
        o_ref[...] = jax.lax.fori_loop(0, 3, lambda i, c: c @ w_ref[...], x_ref[...])

    def looped(estimate):  # a decode-like while loop around a kernel with its own loop
        call = pl.pallas_call(kernel, jax.ShapeDtypeStruct((8, 8), jnp.float32),
                              cost_estimate=estimate, interpret=True)
        body = lambda t: (t[0] + 1, call(t[1], t[1]))  # noqa: E731
        return jax.make_jaxpr(lambda c: jax.lax.while_loop(lambda t: t[0] < 1, body, (0, c)))(x)

    est = pl.CostEstimate(flops=1234, transcendentals=0, bytes_accessed=0)
    assert flops.count(looped(est), while_trips=64) == 64 * 1234
    assert flops.count(looped(None), while_trips=64) == 0


def test_remat_recompute_is_counted():
    x = jax.ShapeDtypeStruct((4, 8), jnp.float32)
    w = jax.ShapeDtypeStruct((8, 8), jnp.float32)
    f = lambda x, w: jnp.sum(jnp.tanh(x @ w) @ w)  # noqa: E731
    plain = flops.count(jax.make_jaxpr(jax.grad(f))(x, w))
    remat = flops.count(jax.make_jaxpr(jax.grad(jax.checkpoint(f)))(x, w))
    assert remat > plain


def test_oom_message_is_parsed():
    msg = ("RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required for HLO "
           "temporaries (17.62G) exceeds available HBM (15.75G).")
    assert compile_lib.parse_oom(msg) == int(17.62 * (1 << 30))
    assert compile_lib.parse_oom("something else") is None


def test_targets_and_missing_libtpu_message(monkeypatch):
    assert topologies.get("v5p-8").num_devices == 4
    assert topologies.get("v5e:4x4").num_devices == 16
    with pytest.raises(KeyError, match="unknown topology"):
        topologies.get("v7x-8")
    monkeypatch.setattr(topologies, "has_libtpu", lambda: False)
    with pytest.raises(topologies.MissingLibtpu, match=r"pip install 'jaxint\[plan\]'"):
        topologies.devices(topologies.get("v5e-8"))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("qwen3_*.yaml")), ids=lambda p: p.name)
def test_sized_configs_load(path):
    """The sized configs are launch configs: they load as run configs and as plan configs."""
    cfg = plan_config.load(path)
    assert cfg.model.preset and cfg.model.scan_layers
    run_config = pytest.importorskip("jaxint.config")
    run_config.load(path)
