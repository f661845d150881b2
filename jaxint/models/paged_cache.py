"""The paged KV cache: one pool of fixed-size pages shared by all slots, and attention over it.

Layout. Each layer's pool is [P, page_size, 2K, H]: pages, position within a page, kv heads
*combined* (keys at even, values at odd indices), head dim. That is the layout of JAX's TPU
ragged paged attention kernel (`jax.experimental.pallas.ops.tpu.ragged_paged_attention`), so
the TPU path reads the pool in place, and one token's keys and values are one scatter. A pool
is one stacked array [L, P, ps, 2K, H] (scanned layers) or a tuple of L arrays (unrolled), as
the dense cache (`jaxint.models.kv_cache`).

Page table. [B, M] int32: slot b's position s lives in page table[b, s // ps] at offset
s % ps. An unused entry holds the sentinel P_local (one past the last page of the slot's
shard): writes through it are dropped, reads are clamped to a real page and masked, so a
free or finished slot can never touch a page another slot owns.

Sharding. Pages are split over (data, fsdp) like the slots, combined kv heads over tensor.
Each slot shard owns a contiguous block of P / n pages and its slots' table entries are ids
*local* to that block (the host allocator, `jaxint.sampling.pages`, keeps one free list per
shard), so the write and the attention run per shard under `shard_map` with no
communication: a replicated pool would cost every data-parallel device the whole pool.

Attention. Elsewhere than TPU (and whenever `Paging.kernel` is off) a slot's pages are
gathered into the [B, K, S, H] view the dense decode uses and attended by the very same
`attention.attend_cached` (float32 logits, the same scale and masking), so paged and dense
decode are the same computation on the same values. On TPU the ragged kernel reads the pages
in place (flash-style online softmax: equal up to float rounding).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from jaxint.models import attention as attention_lib
from jaxint.parallel import rules

Cache = jax.Array | tuple[jax.Array, ...]

AXES = ("cache_batch", "cache_seq", "cache_kv_heads", "cache_head_dim")
STACKED_AXES = ("cache_layers", *AXES)


@dataclasses.dataclass(frozen=True)
class Paging:
    """Static settings of paged decode (hashable: part of the compiled function's key).

    Attributes:
        kernel: decode attention through the TPU ragged paged attention kernel (else the
            gather path). `kernel_for` picks it from the devices.
        interpret: run that kernel in Pallas' TPU interpret mode (tests on CPU), with the
            interpreter fixes of `pallas_interpret` it needs.
    """

    kernel: bool = False
    interpret: bool = False


# The kernel keeps its softmax statistics as [rows, 128] lane tiles and broadcasts them over
# head_dim by whole tiles (`broadcast_to_shape` in the kernel asserts head_dim % 128 == 0), so
# a model whose heads are narrower (Qwen2.5-0.5B and SmolLM2: 64) cannot use it on TPU.
KERNEL_HEAD_DIM_MULTIPLE = 128


def kernel_for(platform: str, head_dim: int) -> Paging:
    """The TPU kernel on TPU devices for heads it can tile, the gather path otherwise."""
    return Paging(kernel=platform == "tpu" and head_dim % KERNEL_HEAD_DIM_MULTIPLE == 0)


def zeros(
    num_layers: int, pages: int, page_size: int, kv_heads: int, head_dim: int,
    dtype: jnp.dtype, *, per_layer: bool,
) -> Cache:
    """An empty pool (zeros: a masked page must never hold a NaN, 0 * NaN is NaN)."""
    shape = (pages, page_size, 2 * kv_heads, head_dim)
    if per_layer:
        return tuple(jnp.zeros(shape, dtype) for _ in range(num_layers))
    return jnp.zeros((num_layers, *shape), dtype)


def is_per_layer(pool: Cache) -> bool:
    return isinstance(pool, (tuple, list))


def _layer_shape(pool: Cache) -> tuple[int, ...]:
    return (pool[0] if is_per_layer(pool) else pool).shape[-4:]


def page_size(pool: Cache) -> int:
    return _layer_shape(pool)[1]


def spec(shape: tuple[int, ...], mesh) -> PartitionSpec:
    """PartitionSpec of one pool array (per-layer or stacked): pages over data/fsdp, combined
    kv heads over tensor only where the kv heads themselves divide (a split must never
    separate a head's key from its value)."""
    kv_shape = (*shape[:-2], shape[-2] // 2, shape[-1])
    names = STACKED_AXES if len(shape) == 5 else AXES
    return rules.spec_for(names, kv_shape, mesh)


def constrain(pool: Cache) -> Cache:
    """Pins the pool's sharding (no-op without a mesh)."""
    mesh = rules.current_mesh()
    if mesh is None:
        return pool
    return jax.tree.map(
        lambda x: jax.lax.with_sharding_constraint(x, spec(x.shape, mesh)), pool)


def combine(k_BTKH: jax.Array, v_BTKH: jax.Array) -> jax.Array:
    """[..., T, K, H] keys and values -> [..., T, 2K, H], keys at even heads (kernel order)."""
    *lead, K, H = k_BTKH.shape
    return jnp.stack([k_BTKH, v_BTKH], axis=-2).reshape(*lead, 2 * K, H)


# ------------------------------------------------------------------ per shard
def _locate(table_BM: jax.Array, pos_BT: jax.Array, page_size: int, num_pages: int):
    """(page, offset) of positions; positions past the table map to the sentinel page."""
    M = table_BM.shape[1]
    slot_page = pos_BT // page_size
    page = jnp.take_along_axis(table_BM, jnp.clip(slot_page, 0, M - 1), axis=1)
    page = jnp.where((slot_page < M) & (pos_BT >= 0), page, num_pages)
    return page, pos_BT % page_size


def _scatter(pool: jax.Array, index, table_BM, pos_BT, kv_BT2KH) -> jax.Array:
    """Writes kv at positions pos (one layer, or `index` of a stacked pool; sentinel pages
    and positions past the table are dropped). With `index` == "all", kv is [L, B, T, 2K, H]
    and every layer of a stacked pool is written."""
    num_pages, ps = pool.shape[-4], pool.shape[-3]
    page, offset = _locate(table_BM, pos_BT, ps, num_pages)
    if index is None:
        where = (page, offset)
    elif isinstance(index, str):
        where = (slice(None), page, offset)
    else:
        where = (index, page, offset)
    return pool.at[where].set(kv_BT2KH.astype(pool.dtype), mode="drop")


def _gather(pool: jax.Array, index, table_BM: jax.Array, kv_len: int):
    """A slot's first ceil(kv_len / ps) pages as dense keys and values [B, K, S, H]."""
    num_pages, ps, K2, H = pool.shape[-4:]
    n = min(math.ceil(kv_len / ps), table_BM.shape[1])
    ids = jnp.minimum(table_BM[:, :n], num_pages - 1)  # sentinel: any real page, masked
    pages = pool[ids] if index is None else pool[index, ids]  # [B, n, ps, 2K, H]
    B = ids.shape[0]
    kv = pages.reshape(B, n * ps, K2 // 2, 2, H)
    return jnp.swapaxes(kv[..., 0, :], 1, 2), jnp.swapaxes(kv[..., 1, :], 1, 2)


def kernel_args(q_B1NH: jax.Array, pool: jax.Array, table_BM: jax.Array,
                q_index_B1: jax.Array, index: jax.Array | None = None) -> tuple[tuple, dict]:
    """The arguments of `ragged_paged_attention` (and of its pure-JAX reference
    `ref_ragged_paged_attention`, same signature) for one decode query per slot over one
    layer's pages (already holding the new token): B sequences of one query each, slot b
    seeing positions <= q_index[b], sentinel table entries clamped to a real page (past
    kv_len, never read).

    Args:
        pool: one layer's [P, ps, 2K, H] (index None), or the stacked [L, P, ps, 2K, H] and
            the layer `index`. A stacked pool is handed over whole as L * P pages (merging
            the two leading axes is free) with the layer's page ids offset by index * P:
            `pool[index]` inside the scanned layers would copy the layer's whole pool at
            every layer of every decode step, since a kernel operand must be a buffer.
    """
    B, _, _, H = q_B1NH.shape
    P = pool.shape[-4]
    ids = jnp.minimum(table_BM, P - 1).astype(jnp.int32)
    if index is not None:
        pool = pool.reshape(-1, *pool.shape[-3:])
        ids = ids + jnp.asarray(index, jnp.int32) * P
    args = (q_B1NH[:, 0], pool, (q_index_B1[:, 0] + 1).astype(jnp.int32), ids,
            jnp.arange(B + 1, dtype=jnp.int32), jnp.array([B], jnp.int32))
    return args, {"sm_scale": 1.0 / H**0.5}


def _kernel_attend(q_B1NH, pool, index, table_BM, q_index_B1, interpret: bool) -> jax.Array:
    """Decode attention (one query per slot) with the TPU ragged paged attention kernel."""
    from jax.experimental.pallas.ops.tpu.ragged_paged_attention import kernel as rpa

    from jaxint.models import pallas_interpret

    args, kwargs = kernel_args(q_B1NH, pool, table_BM, q_index_B1, index)
    call = lambda: rpa.ragged_paged_attention(  # noqa: E731
        *args, **kwargs, num_kv_pages_per_block=min(8, table_BM.shape[1]),
        num_queries_per_block=8)
    if interpret:
        with pallas_interpret.tpu_interpret_mode():
            return call()[:, None]
    return call()[:, None]


def _write_attend_local(paging: Paging, kv_len: int, impl: str, chunk: int, q, k, v, pool,
                        table, q_index, index):
    pool = _scatter(pool, index, table, q_index, combine(k, v))
    if paging.kernel and q.shape[1] == 1:
        return _kernel_attend(q, pool, index, table, q_index, paging.interpret), pool
    keys, values = _gather(pool, index, table, kv_len)
    o = attention_lib.attend_cached(
        q, keys.astype(q.dtype), values.astype(q.dtype),
        attention_lib.MaskInfo(q_index=q_index), impl=impl, chunk=chunk)
    return o, pool


# ------------------------------------------------------------------ public
def write_and_attend(
    q_BTNH: jax.Array, k_BTKH: jax.Array, v_BTKH: jax.Array, pool: jax.Array,
    index: jax.Array | None, table_BM: jax.Array, q_index_BT: jax.Array, *, kv_len: int,
    paging: Paging, impl: str = "auto", chunk: int = 1024,
) -> tuple[jax.Array, jax.Array]:
    """Writes the new tokens' keys and values into their pages, then attends each query to
    its slot's positions <= its own. Returns (out [B, T, N, H], pool).

    Args:
        pool: one layer's [P, ps, 2K, H] (index None) or the stacked [L, P, ps, 2K, H].
        table_BM: page table (local ids, see module docstring); q_index_BT: positions.
        kv_len: static bound on the visible positions (a multiple of ps is exact).
    """
    def local(q, k, v, pool, table, q_index, *index_arg):
        return _write_attend_local(paging, kv_len, impl, chunk, q, k, v, pool, table, q_index,
                                   index_arg[0] if index_arg else None)

    args = (q_BTNH, k_BTKH, v_BTKH, pool, table_BM, q_index_BT)
    extra = () if index is None else (jnp.asarray(index, jnp.int32),)
    mesh = rules.current_mesh()
    if mesh is None:
        return local(*args, *extra)
    s = spec(pool.shape, mesh)
    pages_axis, heads_axis = s[-4], s[-2]
    act = PartitionSpec(pages_axis, None, heads_axis, None)
    rows = PartitionSpec(pages_axis, None)
    in_specs = (act, act, act, s, rows, rows) + ((PartitionSpec(),) if extra else ())
    return jax.shard_map(local, in_specs=in_specs, out_specs=(act, s), check_vma=False)(
        *args, *extra)


def write_prompts(
    pool: Cache, src_k: Cache, src_v: Cache, table_BM: jax.Array, src_row_B: jax.Array,
    write_from_B: jax.Array,
) -> Cache:
    """Copies prefilled prompts into slots' pages: slot b gets row src_row[b] of the dense
    prefill cache (b x P positions) at positions [write_from[b], P); src_row >= b rows: no
    write. A forked sample whose shard already holds the prompt's full pages starts at their
    end (they are shared, written once); its partly filled last page is its own copy.

    Args:
        pool: the pool in either form; src_k, src_v: the prefill's dense cache in the
            matching form ([b, K, P, H] per layer, or stacked [L, b, K, P, H]).
    """
    def local(pool, sk, sv, table, src_row, write_from):
        b, P = sk.shape[-4], sk.shape[-2]
        kv = combine(jnp.swapaxes(sk, -2, -3), jnp.swapaxes(sv, -2, -3))  # [.., b, P, 2K, H]
        rows = jnp.take(kv, jnp.clip(src_row, 0, b - 1), axis=kv.ndim - 4)  # [.., B, P, 2K, H]
        pos = jnp.arange(P, dtype=jnp.int32)[None, :]
        pos = jnp.where((pos >= write_from[:, None]) & (src_row[:, None] < b), pos, -1)
        return _scatter(pool, "all" if pool.ndim == 5 else None, table, pos, rows)

    def one(p, sk, sv):
        mesh = rules.current_mesh()
        args = (p, sk, sv, table_BM, src_row_B, write_from_B)
        if mesh is None:
            return local(*args)
        s = spec(p.shape, mesh)
        pages_axis, heads_axis = s[-4], s[-2]
        src = PartitionSpec(*(None,) * (sk.ndim - 3), heads_axis, None, None)  # all rows
        slots = PartitionSpec(pages_axis)
        return jax.shard_map(
            local, in_specs=(s, src, src, PartitionSpec(pages_axis, None), slots, slots),
            out_specs=s, check_vma=False)(*args)

    if is_per_layer(pool):
        return tuple(one(p, sk, sv) for p, sk, sv in zip(pool, src_k, src_v, strict=True))
    return one(pool, src_k, src_v)
