"""The TPU ragged paged attention kernel (the paged cache's decode path on TPU), run in
Pallas' TPU interpret mode on CPU, against the gather path every other backend uses.

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


def test_ragged_kernel_in_interpret_mode_matches_gather_path():
    from jax.experimental.pallas import tpu as pltpu

    want_o, want_pool = jax.jit(lambda: _attend(paged_cache.Paging()))()
    try:
        with pltpu.force_tpu_interpret_mode():
            got_o, got_pool = _attend(paged_cache.Paging(kernel=True, interpret=True))
            got_o = np.asarray(got_o)
    except NotImplementedError as err:  # pragma: no cover - names the limitation if any
        pytest.skip(f"ragged paged attention cannot run in TPU interpret mode here: {err}")
    np.testing.assert_array_equal(np.asarray(got_pool), np.asarray(want_pool))
    np.testing.assert_allclose(got_o, np.asarray(want_o), atol=2e-5, rtol=1e-5)
    # The new token was written where the table says: slot 1's position 3 is page 4, row 3.
    k = np.asarray(_inputs()[1])
    np.testing.assert_array_equal(np.asarray(want_pool)[4, 3, 0::2], k[1, 0])
