"""Attention through `jax.nn.dot_product_attention` or a fused kernel, with a compact mask.

The mask is never passed around as a [B, T, S] array: `MaskInfo` holds the index of each query
in the key sequence (causality), which keys are valid (padding), and optional segment ids
(packed examples). Each implementation builds the mask it needs, so the "chunked"
implementation only ever materialises one [B, 1, C, S] block and "splash" none.

Implementations (`ModelConfig.attention_impl`):
  xla      XLA's fused einsum-softmax-einsum; memory O(T * S) per head.
  cudnn    cuDNN fused attention (GPU, bf16/fp16): flash-style, memory O(T).
  splash   JAX's Pallas flash-attention kernel for TPU (`jaxint.models.splash`): memory O(T),
           the causal upper half skipped; off TPU it runs in Pallas interpret mode (tests).
  chunked  queries in blocks of `attention_chunk` under `jax.checkpoint`: memory
           O(C * S), works on every backend, for long prefill and 16K-token training.
  auto     splash on TPU, cudnn on GPU for half-precision inputs; elsewhere chunked when T
           exceeds the chunk, else xla.
The fused kernels serve self-attention over one sequence (training, scoring, and a prefill
whose keys are exactly its queries); queries at an offset in a longer cache fall back to
chunked (or xla when short), since the kernels' causal mask is static.

`attend_cached` serves the KV-cached path, whose keys and values are kv-heads-major
[B, K, S, H] (`jaxint.models.kv_cache`): a decode step (one query per row) runs two batched
dots that read the cache in place; a prefill goes through `attend`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxint.models import splash


@struct.dataclass
class MaskInfo:
    """Which keys each query may see.

    Attributes:
        q_index: [B, T] int32, index of each query in the key sequence; key j is visible to
            query t iff j <= q_index[b, t] (causality) and the conditions below hold.
        kv_valid: [B, S] bool or None, False for padding keys.
        q_segment: [B, T] int32 or None, packed-example id of each query.
        kv_segment: [B, S] int32 or None; keys are visible only within the same segment.
    """

    q_index: jax.Array
    kv_valid: jax.Array | None = None
    q_segment: jax.Array | None = None
    kv_segment: jax.Array | None = None

    def block(self, num_keys: int) -> jax.Array:
        """The boolean mask [B, 1, T, S] for these queries over `num_keys` keys."""
        kv_index = jnp.arange(num_keys, dtype=jnp.int32)
        mask = kv_index[None, None, :] <= self.q_index[:, :, None]
        if self.kv_valid is not None:
            mask &= self.kv_valid[:, None, :num_keys]
        if self.q_segment is not None:
            mask &= self.q_segment[:, :, None] == self.kv_segment[:, None, :num_keys]
        return mask[:, None]

    def query_slice(self, start: int | jax.Array, size: int) -> MaskInfo:
        """The same description restricted to queries [start, start + size)."""

        def cut(x: jax.Array | None) -> jax.Array | None:
            return None if x is None else jax.lax.dynamic_slice_in_dim(x, start, size, axis=1)

        return MaskInfo(cut(self.q_index), self.kv_valid, cut(self.q_segment), self.kv_segment)


FUSED = ("splash",)  # kernels whose causal mask is static: queries and keys at the same positions


def platform() -> str:
    """The platform the code is being compiled for: the current mesh's devices when a mesh is
    set (`jaxint plan` compiles for TPU from a CPU process), else the default backend."""
    mesh = jax.sharding.get_abstract_mesh()
    device = None if mesh.empty else mesh.abstract_device
    return device.platform if device is not None else jax.default_backend()


def resolve_impl(impl: str, dtype: jnp.dtype, num_queries: int, chunk: int) -> str:
    """Picks the implementation for `impl="auto"` (see module docstring)."""
    if impl != "auto":
        return impl
    target = platform()
    if target == "tpu":
        return "splash"
    if target == "gpu" and dtype in (jnp.bfloat16, jnp.float16):
        return "cudnn"
    return "chunked" if num_queries > chunk else "xla"


def attend(
    q_BTNH: jax.Array, k_BSKH: jax.Array, v_BSKH: jax.Array, mask: MaskInfo, *,
    impl: str = "auto", chunk: int = 1024,
) -> jax.Array:
    """Grouped-query attention; returns [B, T, N, H] in q's dtype."""
    T, S = q_BTNH.shape[1], k_BSKH.shape[1]
    impl = resolve_impl(impl, q_BTNH.dtype, T, chunk)
    if impl in FUSED and T != S:
        impl = "chunked"  # queries at an offset in a longer cache (see module docstring)
    if impl == "splash":
        return _splash(q_BTNH, k_BSKH, v_BSKH, mask)
    if impl == "chunked" and T > chunk:
        return _chunked(q_BTNH, k_BSKH, v_BSKH, mask, chunk)
    impl = "xla" if impl == "chunked" else impl
    return jax.nn.dot_product_attention(
        q_BTNH, k_BSKH, v_BSKH, mask=mask.block(S), implementation=impl
    )


def _splash(q_BTNH: jax.Array, k_BTKH: jax.Array, v_BTKH: jax.Array, mask: MaskInfo) -> jax.Array:
    """The TPU kernel (interpret mode elsewhere: the CPU tests' reference run)."""
    target = platform()
    if target == "gpu":
        raise ValueError("model.attention_impl=splash is a TPU kernel; on GPU use cudnn or auto")
    B, T = q_BTNH.shape[:2]
    q_seg, kv_seg = splash.segments(mask.kv_valid, mask.q_segment, mask.kv_segment, (B, T))
    return splash.attend(q_BTNH, k_BTKH, v_BTKH, q_seg, kv_seg, interpret=target != "tpu")


def attend_cached(
    q_BTNH: jax.Array, k_BKSH: jax.Array, v_BKSH: jax.Array, mask: MaskInfo, *,
    impl: str = "auto", chunk: int = 1024,
) -> jax.Array:
    """Grouped-query attention over a kv-heads-major cache; returns [B, T, N, H]."""
    if q_BTNH.shape[1] == 1:
        return _decode(q_BTNH, k_BKSH, v_BKSH, mask)
    k, v = jnp.swapaxes(k_BKSH, 1, 2), jnp.swapaxes(v_BKSH, 1, 2)
    return attend(q_BTNH, k, v, mask, impl=impl, chunk=chunk)


def _decode(q_B1NH: jax.Array, k_BKSH: jax.Array, v_BKSH: jax.Array, mask: MaskInfo) -> jax.Array:
    """One query per row, as `jax.nn.dot_product_attention` computes it (float32 logits,
    scale after the dot, softmax in float32, probabilities cast to the value dtype).

    The scores dot keeps the cache as its major operand ([B, K, S, G] out: XLA:CPU's dot is
    slower with the small q major), then the logits are turned to [B, K, G, S], positions
    minor, so the softmax's max and sum and the second dot run along the minor axis. With
    the softmax over [B, K, S, G] (G = 4 queries per kv head minor) attention took 2x as
    long at 128 positions and 1.2x at 1,024 (4 layers, 16 rows, XLA:CPU; attention was a
    fifth of a small model's decode step).
    """
    B, _, N, H = q_B1NH.shape
    K, S = k_BKSH.shape[1], k_BKSH.shape[2]
    q = q_B1NH.reshape(B, K, N // K, H)
    logits = jnp.einsum("BKSH,BKGH->BKSG", k_BKSH, q, preferred_element_type=jnp.float32)
    logits = jnp.swapaxes(logits, 2, 3)  # [B, K, G, S]
    logits = logits * jnp.float32(1.0 / H**0.5)
    visible = mask.block(S)[:, 0, 0][:, None, None, :]  # [B, 1, 1, S]
    logits = jnp.where(visible, logits, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(logits, axis=-1).astype(v_BKSH.dtype)
    out = jnp.einsum("BKGS,BKSH->BKGH", probs, v_BKSH, preferred_element_type=jnp.float32)
    return out.reshape(B, 1, N, H).astype(q_B1NH.dtype)


def _chunked(
    q_BTNH: jax.Array, k_BSKH: jax.Array, v_BSKH: jax.Array, mask: MaskInfo, chunk: int
) -> jax.Array:
    """Query-blocked attention; each block is rematerialised in the backward pass."""
    B, T, N, H = q_BTNH.shape
    pad = (-T) % chunk
    if pad:
        q_BTNH = jnp.pad(q_BTNH, ((0, 0), (0, pad), (0, 0), (0, 0)))
        mask = _pad_queries(mask, pad)
    num_blocks = (T + pad) // chunk

    @jax.checkpoint
    def one_block(i: jax.Array) -> jax.Array:
        q = jax.lax.dynamic_slice_in_dim(q_BTNH, i * chunk, chunk, axis=1)
        m = mask.query_slice(i * chunk, chunk).block(k_BSKH.shape[1])
        return jax.nn.dot_product_attention(q, k_BSKH, v_BSKH, mask=m, implementation="xla")

    out = jax.lax.map(one_block, jnp.arange(num_blocks))  # [blocks, B, C, N, H]
    out = jnp.moveaxis(out, 0, 1).reshape(B, num_blocks * chunk, N, H)
    return out[:, :T]


def _pad_queries(mask: MaskInfo, pad: int) -> MaskInfo:
    def grow(x: jax.Array | None) -> jax.Array | None:
        return None if x is None else jnp.pad(x, ((0, 0), (0, pad)), mode="edge")

    return MaskInfo(grow(mask.q_index), mask.kv_valid, grow(mask.q_segment), mask.kv_segment)
