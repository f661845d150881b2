"""Splash attention: JAX's Pallas flash-attention kernel for TPU, behind `attention_impl=splash`.

Why this kernel: at 16K tokens the XLA attention holds a [T, S] score block per head, and even
the query-chunked form keeps [C, S] blocks plus their remat; splash tiles both queries and keys
(`BLOCK`), keeps only the per-row log-sum-exp for the backward pass, and skips the fully masked
tiles above the causal diagonal, so training memory is O(T) per head and the causal half of
the FLOPs is never spent.

How jaxint's mask maps onto it (`MaskInfo`):
  causality    a static `CausalMask` over positions; valid because splash only serves queries
               and keys that are the same positions (T == S, `attention.attend` checks),
               where `q_index` is `arange(T)`.
  packing      `SegmentIds(q, kv)` per row, the model's segment ids.
  padding      padding tokens get segment `PAD_SEGMENT`: real queries never see them, and a
               padding query sees other padding keys (at least itself), so no row of the
               softmax is empty (an empty row would be 0/0 in the kernel and NaN gradients).
  GQA          the MHA kernel maps query head n to kv head n // G, as
               `jax.nn.dot_product_attention` groups them.
The scale 1/sqrt(H) is applied to q before the kernel (splash takes pre-scaled queries).

Under a mesh the kernel runs inside `shard_map` with the batch split as `act_batch` and heads
as `act_heads` (`jaxint.parallel.rules`): a Pallas call is opaque to XLA's partitioner, which
would otherwise gather every operand onto each device. Off TPU it runs in Pallas interpret
mode: a slow reference used by the CPU parity tests, never a production path. A process-wide
`jax_default_matmul_precision="highest"` (the CPU tests set it) makes Mosaic refuse the
kernel's bfloat16 dots ("Bad lhs type": they would need float32 passes); TPU runs keep the default.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.experimental.pallas.ops.tpu import splash_attention as splash_lib
from jax.sharding import PartitionSpec

from jaxint.parallel import rules

LANES = 128  # the kernel's key tiles are multiples of the TPU lane width
BLOCKS = (512, 256, 128)  # largest first; 512 x 512 tiles are MaxText's choice at 8K-32K
PAD_SEGMENT = -1


def attend(
    q_BTNH: jax.Array, k_BTKH: jax.Array, v_BTKH: jax.Array, q_segment_BT: jax.Array,
    kv_segment_BT: jax.Array, *, interpret: bool,
) -> jax.Array:
    """Causal self-attention over one sequence per row; returns [B, T, N, H] in q's dtype.

    Args:
        q_BTNH, k_BTKH, v_BTKH: queries and keys/values at the same T positions.
        q_segment_BT, kv_segment_BT: int32 segment ids, `PAD_SEGMENT` for padding
            (`segments()` builds them from a `MaskInfo`).
        interpret: run the Pallas kernel in interpret mode (any backend; slow).
    """
    T, H = q_BTNH.shape[1], q_BTNH.shape[3]
    pad = (-T) % LANES
    if pad:
        q_BTNH, k_BTKH, v_BTKH = (_pad_seq(x, pad, 0) for x in (q_BTNH, k_BTKH, v_BTKH))
        q_segment_BT, kv_segment_BT = (
            _pad_seq(s, pad, PAD_SEGMENT) for s in (q_segment_BT, kv_segment_BT))
    q_BTNH = q_BTNH * jnp.asarray(1.0 / H**0.5, q_BTNH.dtype)
    out = _sharded(q_BTNH, k_BTKH, v_BTKH, q_segment_BT, kv_segment_BT, interpret)
    return out[:, :T]


def segments(
    valid_BT: jax.Array | None, q_segment_BT: jax.Array | None,
    kv_segment_BT: jax.Array | None, shape: tuple[int, int],
) -> tuple[jax.Array, jax.Array]:
    """Query and key segment ids [B, T] with padding folded in as `PAD_SEGMENT`.

    `valid_BT` is the key validity, which here is also the query's (same positions)."""
    zeros = jnp.zeros(shape, jnp.int32)
    valid = jnp.ones(shape, bool) if valid_BT is None else valid_BT

    def fold(segment: jax.Array | None) -> jax.Array:
        base = zeros if segment is None else segment.astype(jnp.int32)
        return jnp.where(valid, base, PAD_SEGMENT)

    return fold(q_segment_BT), fold(kv_segment_BT)


def _pad_seq(x: jax.Array, pad: int, value: int) -> jax.Array:
    widths = [(0, 0)] * x.ndim
    widths[1] = (0, pad)
    return jnp.pad(x, widths, constant_values=value)


def _sharded(q, k, v, q_seg, kv_seg, interpret: bool) -> jax.Array:
    """Runs `_local` per device under the current mesh (or directly without one)."""
    local = functools.partial(_local, interpret=interpret)
    mesh = rules.current_mesh()
    if mesh is None:
        return local(q, k, v, q_seg, kv_seg)
    q_spec = rules.spec_for(("act_batch", None, "act_heads", None), q.shape, mesh)
    kv_spec = rules.spec_for(("act_batch", None, "act_kv_heads", None), k.shape, mesh)
    if kv_spec[2] != q_spec[2]:
        # Too few kv heads to follow the query heads' split: give each query head its own
        # copy, so every device holds the kv heads its query heads read.
        groups = q.shape[2] // k.shape[2]
        k, v = jnp.repeat(k, groups, axis=2), jnp.repeat(v, groups, axis=2)
        kv_spec = q_spec
    seg_spec = PartitionSpec(q_spec[0], None)
    return jax.shard_map(
        local, mesh=mesh, in_specs=(q_spec, kv_spec, kv_spec, seg_spec, seg_spec),
        out_specs=q_spec, check_vma=False,
    )(q, k, v, q_seg, kv_seg)


def _local(q_BTNH, k_BTKH, v_BTKH, q_seg_BT, kv_seg_BT, *, interpret: bool) -> jax.Array:
    """The kernel on one device's rows and heads: heads-major layout, vmapped over rows."""
    T, N = q_BTNH.shape[1], q_BTNH.shape[2]
    kernel = _kernel(T, N, interpret)

    def one_row(q_NTH, k_KTH, v_KTH, q_seg_T, kv_seg_T):
        return kernel(q_NTH, k_KTH, v_KTH, splash_lib.SegmentIds(q=q_seg_T, kv=kv_seg_T))

    heads_major = functools.partial(jnp.swapaxes, axis1=1, axis2=2)
    out_BNTH = jax.vmap(one_row)(
        heads_major(q_BTNH), heads_major(k_BTKH), heads_major(v_BTKH), q_seg_BT, kv_seg_BT)
    return heads_major(out_BNTH)


def _kernel(T: int, N: int, interpret: bool) -> Callable:
    """The kernel for N heads over T positions (T a multiple of LANES).

    Built inside each trace, never cached here: its mask tables become arrays of the trace
    that builds it (a cached kernel would leak them into the next one); the numpy walk over
    the causal mask's tiles behind them is cached by JAX's own `_process_mask`."""
    block = next(b for b in BLOCKS if T % b == 0)
    sizes = splash_lib.BlockSizes(
        block_q=block, block_kv=block, block_kv_compute=block,
        block_q_dkv=block, block_kv_dkv=block, block_kv_dkv_compute=block,
        block_q_dq=block, block_kv_dq=block,
    )
    mask = splash_lib.MultiHeadMask([splash_lib.CausalMask((T, T))] * N)
    return splash_lib.make_splash_mha(
        mask, block_sizes=sizes, head_shards=1, q_seq_shards=1, interpret=interpret)
