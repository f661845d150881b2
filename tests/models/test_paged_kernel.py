"""The TPU ragged paged attention kernel (the paged cache's decode path on TPU), run in
Pallas' TPU interpret mode on CPU, against the gather path every other backend uses. (The
engine runs it end to end in tests/sampling/test_paged.py.)

Tiny shapes, but the real layout: 3 slots at different lengths over a shared pool of
16-token pages, pages scattered (not in order), one slot sharing its first page with another,
unused table entries holding the sentinel, GQA with 2 query heads per kv head.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxint.models import paged_cache

B, N, K, H, PS, PAGES, M = 3, 4, 2, 128, 16, 12, 4


def _inputs():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((B, 1, N, H)).astype(np.float32)
    k = rng.standard_normal((B, 1, K, H)).astype(np.float32)
    v = rng.standard_normal((B, 1, K, H)).astype(np.float32)
    pool = rng.standard_normal((PAGES, PS, 2 * K, H)).astype(np.float32)
    table = np.full((B, M), PAGES, np.int32)  # sentinel: no page
    table[0, :3] = [7, 2, 9]
    table[1, :1] = [4]
    table[2, :4] = [7, 0, 11, 5]  # shares page 7 (its first 16 positions) with slot 0
    q_index = np.array([[40], [3], [60]], np.int32)  # the new token's position per slot
    return tuple(map(jnp.asarray, (q, k, v, pool, table, q_index)))


def _attend(paging: paged_cache.Paging):
    q, k, v, pool, table, q_index = _inputs()
    return paged_cache.write_and_attend(q, k, v, pool, None, table, q_index, kv_len=M * PS,
                                        paging=paging)


def test_kernel_arguments_match_the_gather_path():
    """What the kernel is handed means what the gather path computes: the kernel module's own
    pure-JAX reference (`ref_ragged_paged_attention`, the kernel's signature and semantics)
    on exactly `paged_cache.kernel_args` over the written pool equals the gather path. Runs
    everywhere; it is what holds the TPU path's plumbing (kv lengths, page table, sentinel
    clamping, cu_q_lens, scale, the combined k/v layout) independently of the kernel run
    below."""
    from jax.experimental.pallas.ops.tpu.ragged_paged_attention import kernel as rpa

    q, _, _, _, table, q_index = _inputs()
    want_o, pool = jax.jit(lambda: _attend(paged_cache.Paging()))()
    args, kwargs = paged_cache.kernel_args(q, pool, table, q_index)
    got = rpa.ref_ragged_paged_attention(*args, **kwargs)
    np.testing.assert_allclose(np.asarray(got)[:, None], np.asarray(want_o), atol=2e-5,
                               rtol=1e-5)
    # The new token was written where the table says: slot 1's position 3 is page 4, row 3.
    k = np.asarray(_inputs()[1])
    np.testing.assert_array_equal(np.asarray(pool)[4, 3, 0::2], k[1, 0])


def test_stacked_pool_is_handed_over_whole_with_offset_page_ids():
    """Scanned layers keep one stacked pool [L, P, ...]: the kernel gets it whole as L * P
    pages with layer i's ids offset by i * P (no per-layer slice, which would copy the
    layer's pool at every step), and the kernel's reference on those arguments equals the
    gather path over the stacked pool at layer 1 (layers 0 and 2 hold other values)."""
    from jax.experimental.pallas.ops.tpu.ragged_paged_attention import kernel as rpa

    q, k, v, pool, table, q_index = _inputs()
    rng = np.random.default_rng(1)
    others = [jnp.asarray(rng.standard_normal(pool.shape).astype(np.float32)) for _ in range(2)]
    stacked = jnp.stack([others[0], pool, others[1]])
    want_o, written = jax.jit(lambda p: paged_cache.write_and_attend(
        q, k, v, p, jnp.int32(1), table, q_index, kv_len=M * PS, paging=paged_cache.Paging()))(
        stacked)
    args, kwargs = paged_cache.kernel_args(q, written, table, q_index, jnp.int32(1))
    assert args[1].shape == (3 * PAGES, PS, 2 * K, H)
    got = rpa.ref_ragged_paged_attention(*args, **kwargs)
    np.testing.assert_allclose(np.asarray(got)[:, None], np.asarray(want_o), atol=2e-5,
                               rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(written)[0], np.asarray(others[0]))


@pytest.mark.parametrize("dtype,atol", [(jnp.float32, 2e-5), (jnp.bfloat16, 1.6e-2)])
def test_ragged_kernel_in_interpret_mode_matches_gather_path(dtype, atol):
    """The kernel itself, unmodified, in Pallas' TPU interpret mode (with the interpreter
    fixes of `pallas_interpret`: stock jax 0.10.2 dies on the kernel's reshaped and bitcast
    KV buffer reads and its masked stores), against the gather path: the same written pool
    and the same outputs. bfloat16 takes the kernel's packed path (the pool read as uint32,
    k and v unpacked from the low and high halves); its tolerance is one bfloat16 step at
    the outputs' largest magnitude (2.3 here: a step of 2^-6; measured 2^-7)."""
    def cast(inputs):
        return tuple(x.astype(dtype) if x.dtype == jnp.float32 else x for x in inputs)

    def attend(paging):
        q, k, v, pool, table, q_index = cast(_inputs())
        return paged_cache.write_and_attend(q, k, v, pool, None, table, q_index,
                                            kv_len=M * PS, paging=paging)

    want_o, want_pool = jax.jit(lambda: attend(paged_cache.Paging()))()
    got_o, got_pool = attend(paged_cache.Paging(kernel=True, interpret=True))
    assert got_o.dtype == dtype
    np.testing.assert_array_equal(np.asarray(got_pool), np.asarray(want_pool))
    np.testing.assert_allclose(np.asarray(got_o, np.float32), np.asarray(want_o, np.float32),
                               atol=atol, rtol=1e-5)


def test_kernel_only_on_tpu_for_heads_it_can_tile():
    """The kernel tiles head_dim by 128 lanes: a 64-wide head (Qwen2.5-0.5B, SmolLM2) trips
    its `broadcast_to_shape` assertion, so TPU runs of such models take the gather path."""
    assert paged_cache.kernel_for("tpu", 128).kernel
    assert paged_cache.kernel_for("tpu", 256).kernel
    assert not paged_cache.kernel_for("tpu", 64).kernel
    assert not paged_cache.kernel_for("cpu", 128).kernel
    assert not paged_cache.kernel_for("gpu", 128).kernel
