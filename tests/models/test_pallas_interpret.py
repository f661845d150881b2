"""The interpreter fixes of `jaxint.models.pallas_interpret`, one tiny Pallas TPU kernel each,
against numpy computed by hand. Each of these kernels dies in jax 0.10.2's stock TPU interpret
mode (reads through a reshaped or bitcast ref: "'ReshapeTransform' object has no attribute
'indices'"; the masked store: "Out-of-bounds masked swap"), so each fails without the fix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu

from jaxint.models import pallas_interpret


def _call(kernel, out_shape, *args):
    with pallas_interpret.tpu_interpret_mode():
        return np.asarray(pl.pallas_call(kernel, out_shape=out_shape)(*args))


def test_install_is_idempotent_and_applies():
    assert pallas_interpret.install() is True
    assert pallas_interpret.install() is True


def test_read_through_a_reshaped_ref_then_a_strided_slice():
    """What the ragged kernel does to its KV buffer: reshape [pages, page, heads, H] to rows,
    then read every 4th row (one kv head of the combined k/v layout)."""
    x = np.arange(8 * 4 * 128, dtype=np.float32).reshape(8, 4, 128)

    def kernel(x_ref, o_ref):
        o_ref[...] = x_ref.reshape(32, 128)[1::4, :]

    got = _call(kernel, jax.ShapeDtypeStruct((8, 128), jnp.float32), x)
    np.testing.assert_array_equal(got, x[:, 1, :])


def test_read_through_a_bitcast_ref_packs_row_pairs():
    """A bfloat16 ref read as uint32: element (r, c) holds row 2r in its low 16 bits and row
    2r + 1 in its high 16 bits (the layout the kernel's `b << 16` / `b & 0xFFFF0000` unpack
    into k and v)."""
    x = np.random.default_rng(0).standard_normal((16, 128)).astype(ml_dtypes.bfloat16)

    def kernel(x_ref, o_ref):
        o_ref[...] = x_ref.bitcast(jnp.uint32)[...]

    got = _call(kernel, jax.ShapeDtypeStruct((8, 128), jnp.uint32), x)
    bits = x.view(np.uint16).astype(np.uint32)
    np.testing.assert_array_equal(got, bits[0::2] | (bits[1::2] << 16))


def test_bitcast_rows_round_trips_and_rejects_odd_rows():
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype(ml_dtypes.bfloat16)
    packed = pallas_interpret.bitcast_rows(x, np.uint32)
    assert packed.shape == (2, 3, 3)
    np.testing.assert_array_equal(
        pallas_interpret.bitcast_rows(packed, ml_dtypes.bfloat16).view(np.uint16),
        x.view(np.uint16))
    with pytest.raises(ValueError, match="5 rows do not pack by 2"):
        pallas_interpret.bitcast_rows(x[:, :5], np.uint32)


def test_masked_store_longer_on_axis_0_than_axis_1():
    """The kernel's accumulator stores: an in-bounds (8, 2, 128) masked store. Masked-off
    lanes keep what was there; masked-on lanes take the stored value."""
    v = np.random.default_rng(2).standard_normal((8, 2, 128)).astype(np.float32)

    def kernel(v_ref, o_ref):
        o_ref[...] = jnp.full(o_ref.shape, -1.0, jnp.float32)
        lane = jax.lax.broadcasted_iota(jnp.int32, o_ref.shape, 2)
        row = jax.lax.broadcasted_iota(jnp.int32, o_ref.shape, 0)
        pltpu.store(o_ref, v_ref[...], mask=(lane < 50) & (row != 3))

    got = _call(kernel, jax.ShapeDtypeStruct((8, 2, 128), jnp.float32), v)
    keep = (np.arange(128) < 50)[None, None, :] & (np.arange(8) != 3)[:, None, None]
    np.testing.assert_array_equal(got, np.where(keep, v, -1.0))


def test_store_through_a_reshaped_ref():
    x = np.random.default_rng(3).standard_normal((8, 128)).astype(np.float32)

    def kernel(x_ref, o_ref):
        o_ref[...] = jnp.zeros(o_ref.shape, jnp.float32)
        o_ref.reshape(32, 128)[2::4, :] = x_ref[...]

    got = _call(kernel, jax.ShapeDtypeStruct((8, 4, 128), jnp.float32), x)
    want = np.zeros((8, 4, 128), np.float32)
    want[:, 2, :] = x
    np.testing.assert_array_equal(got, want)


def test_plain_reads_and_stores_are_unchanged():
    """Indexer-only loads and unmasked stores go to the stock callbacks."""
    x = np.random.default_rng(4).standard_normal((8, 256)).astype(np.float32)

    def kernel(x_ref, o_ref):
        o_ref[:, :128] = x_ref[:, 128:] * 2.0
        o_ref[:, 128:] = x_ref[:, :128]

    got = _call(kernel, jax.ShapeDtypeStruct((8, 256), jnp.float32), x)
    np.testing.assert_array_equal(got, np.concatenate([x[:, 128:] * 2.0, x[:, :128]], 1))
