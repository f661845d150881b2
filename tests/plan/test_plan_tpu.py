"""`jaxint plan` for a TPU v5e 2x4 topology, compiled by libtpu on this CPU machine.

Skipped without libtpu (`pip install 'jaxint[plan]'`); forward functions only, since the TPU
compiler needs about a minute for a train step even of the tiny model.
"""

from __future__ import annotations

import pytest
from jax.sharding import PartitionSpec

from jaxint.plan import cli, topologies
from tests.plan.conftest import tiny_config

pytestmark = pytest.mark.skipif(
    not topologies.has_libtpu(),
    reason="libtpu is not installed (pip install 'jaxint[plan]' brings the TPU compiler)")


@pytest.fixture(scope="module")
def rows():
    cfg = tiny_config("plan.functions=[grpo_score,gen_decode]")
    return {r.result.name: r for r in cli.plan(cfg, topologies.get("v5e:2x4"))}


def test_tpu_figures(rows):
    for row in rows.values():
        r = row.result
        assert r.arguments > 0 and r.total > 0 and r.flops > 0
        assert row.hbm_bytes == int(15.75 * (1 << 30)) and row.fits


def test_tpu_shardings_follow_the_mesh(rows):
    params, batch = rows["grpo_score"].result.input_shardings[0]
    devices = {d.device_kind for s in [batch["tokens"]] for d in s.device_set}
    assert devices == {"TPU v5 lite"}
    assert batch["tokens"].spec == PartitionSpec("fsdp", None)
    cache = rows["gen_decode"].result.input_shardings[0][-1].cache_k  # (params, state)
    # [L, slots, K, S, H] (a scanned model's stacked cache): slots over fsdp, kv heads
    # over tensor.
    assert cache.spec == PartitionSpec(None, "fsdp", "tensor", None, None)



def test_qwen3_4b_prefill_fits_a_v5p_8():
    """The paper config's RL prefill on a v5p-8 (Qwen3-4B, 8 prompts x 8 samples into 64 slots
    of 16K): starting the samples scatters each prompt's KV into the donated cache. Copying
    rows one entry at a time in a `fori_loop` made the TPU compiler plan several copies of the
    whole cache (110 GiB of temporaries, refused); in place it is about 1 GiB."""
    from jaxint.plan import config as plan_config

    cfg = plan_config.load("configs/qwen3_4b_v5p-8.yaml", ["plan.functions=[rl_prefill]"])
    (row,) = cli.plan(cfg, topologies.get("v5p-8"))
    r = row.result
    assert r.error is None and row.fits
    assert r.temporaries < 4 * (1 << 30), r.temporaries
