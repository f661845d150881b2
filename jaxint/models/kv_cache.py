"""The dense KV cache the decoder writes and the sampler keeps: layout and access.

Each layer's keys (and values) are [B, K, S, H]: batch, kv heads, sequence, head dim. A cache
is either one stacked array [L, B, K, S, H] (scanned layers, which index it by layer) or a
tuple of L per-layer arrays (unrolled layers).

Why kv heads before the sequence: decode attention is two batched dots with batch dims
(B, K). XLA:CPU needs batch dims major, so with a [B, S, K, H] cache it transposed every
layer's whole visible cache at every decode step (about as long as all weight matmuls of the
bench model). With [B, K, S, H] both dots read the cache in place.

Why per-layer arrays: a layer sliced out of a stacked cache inside the decode loop is a copy
on XLA:CPU (a slice is not a view there); separate arrays are read and updated in place.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Cache = jax.Array | tuple[jax.Array, ...]

AXES = ("cache_batch", "cache_kv_heads", "cache_seq", "cache_head_dim")
STACKED_AXES = ("cache_layers", *AXES)


def zeros(
    num_layers: int, batch: int, length: int, kv_heads: int, head_dim: int, dtype: jnp.dtype,
    *, per_layer: bool,
) -> Cache:
    """An empty cache (see module docstring for the two forms)."""
    shape = (batch, kv_heads, length, head_dim)
    if per_layer:
        return tuple(jnp.zeros(shape, dtype) for _ in range(num_layers))
    return jnp.zeros((num_layers, *shape), dtype)


def is_per_layer(cache: Cache) -> bool:
    return isinstance(cache, (tuple, list))


def length(cache: Cache) -> int:
    """S, the positions one row can hold."""
    return (cache[0] if is_per_layer(cache) else cache).shape[-2]


def axes(cache: Cache) -> tuple[str, ...]:
    """Logical axis names of one array of this cache."""
    return AXES if is_per_layer(cache) else STACKED_AXES


def write(
    cache: jax.Array, index: jax.Array | None, new_BTKH: jax.Array, q_index_BT: jax.Array
) -> jax.Array:
    """Writes T new entries per row at positions q_index[b, t] (out of range: dropped).

    Args:
        cache: one layer's [B, K, S, H] (index None) or the stacked [L, B, K, S, H].
        index: the layer within a stacked cache.
    """
    B, T, K, _ = new_BTKH.shape
    rows = jnp.arange(B)[:, None, None]
    heads = jnp.arange(K)[None, :, None]
    where = (rows, heads, q_index_BT[:, None, :])
    if index is not None:
        where = (index, *where)
    return cache.at[where].set(jnp.swapaxes(new_BTKH, 1, 2).astype(cache.dtype), mode="drop")


def read(cache: jax.Array, index: jax.Array | None, kv_len: int) -> jax.Array:
    """One layer's first `kv_len` positions, [B, K, kv_len, H] (no copy when kv_len == S
    and the cache is per layer)."""
    if index is not None:
        cache = jax.lax.dynamic_index_in_dim(cache, index, 0, keepdims=False)
    return cache if kv_len == cache.shape[2] else cache[:, :, :kv_len]


def row(cache: Cache, r: jax.Array | int) -> Cache:
    """Batch row r of a cache, keeping a batch axis of 1."""
    return jax.tree.map(
        lambda x: jax.lax.dynamic_index_in_dim(x, r, x.ndim - 4, keepdims=True), cache)


def copy_rows(cache: Cache, src: Cache, dest_slots: jax.Array) -> Cache:
    """Copies src row r into cache slot dest_slots[r, j] (its first P positions) for every
    sample column j; entries >= B are dropped. `src` has the cache's form with P <= S.

    One scatter per sample column: a prompt's KV is never materialised once per sample (a
    forked prompt with 32 samples costs 32 one-row scatters, not a [32, P] tensor). Measured
    with `jaxint plan`: Qwen3-4B's RL prefill on a v5p-8 needs 1.0 GiB of temporaries this way,
    and the compiler refused a `fori_loop` of per-entry slice updates (over 100 GiB planned).
    On a tiny stacked-cache model on v5e:2x4 the scatters planned more temporaries than the
    loop (408 MB against 138 MB, cache 68 MB), so this is the better form at scale, not free.
    """

    def one(c: jax.Array, s: jax.Array) -> jax.Array:
        lead = (slice(None),) * (c.ndim - 4)
        window = lead + (slice(None), slice(None), slice(0, s.shape[-2]))
        for j in range(dest_slots.shape[1]):
            at = lead + (dest_slots[:, j],) + window[len(lead) + 1:]
            c = c.at[at].set(s.astype(c.dtype), mode="drop")
        return c

    if is_per_layer(cache):
        return tuple(one(c, s) for c, s in zip(cache, src, strict=True))
    return one(cache, src)
