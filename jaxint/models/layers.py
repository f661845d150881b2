"""Building blocks of the decoder: RMSNorm, rotary embeddings, attention, gated MLP.

Every parameter carries `logical_axes` metadata (see `jaxint.parallel.rules`); activations are
constrained with `shard()`. Parameters of the layer stack have a leading `layers` axis (L):
`Block` holds all L layers at once so that scanned and unrolled execution share one layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxint.models import attention as attention_lib
from jaxint.models import config as model_config
from jaxint.parallel import rules

Initializer = Callable[[jax.Array, Sequence[int], jnp.dtype], jax.Array]


def make_param(
    rngs: nnx.Rngs, init: Initializer, shape: Sequence[int], names: Sequence[str], dtype: str
) -> nnx.Param:
    """A parameter initialised by `init`, tagged with its logical axis names."""
    if len(shape) != len(names):
        raise ValueError(f"shape {tuple(shape)} and logical axes {tuple(names)} differ in rank")
    return nnx.Param(init(rngs.params(), tuple(shape), jnp.dtype(dtype)), logical_axes=tuple(names))


def normal(stddev: float) -> Initializer:
    return lambda key, shape, dtype: stddev * jax.random.normal(key, shape, dtype)


def ones(key: jax.Array, shape: Sequence[int], dtype: jnp.dtype) -> jax.Array:
    del key
    return jnp.ones(shape, dtype)


def zeros(key: jax.Array, shape: Sequence[int], dtype: jnp.dtype) -> jax.Array:
    del key
    return jnp.zeros(shape, dtype)


def rms_norm(x: jax.Array, scale: jax.Array, eps: float) -> jax.Array:
    """RMSNorm over the last axis, statistics in float32 (as HF does), result in x.dtype."""
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + eps)
    return y.astype(x.dtype) * scale.astype(x.dtype)


def rope_inverse_frequencies(cfg: model_config.ModelConfig) -> np.ndarray:
    """[H/2] inverse frequencies, with linear or Llama-3 scaling applied (numpy, static)."""
    h = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (np.arange(0, h, 2, dtype=np.float64) / h))
    if cfg.rope_type == "linear":
        inv = inv / cfg.rope_factor
    elif cfg.rope_type == "llama3":
        inv = _llama3_scale(inv, cfg)
    return inv.astype(np.float32)


def _llama3_scale(inv: np.ndarray, cfg: model_config.ModelConfig) -> np.ndarray:
    """Llama 3.1 scaling: long wavelengths slowed by `factor`, short kept, a smooth middle."""
    old = cfg.rope_original_max_position
    low_wavelen = old / cfg.rope_low_freq_factor
    high_wavelen = old / cfg.rope_high_freq_factor
    wavelen = 2 * math.pi / inv
    scaled = np.where(wavelen > low_wavelen, inv / cfg.rope_factor, inv)
    smooth = (old / wavelen - cfg.rope_low_freq_factor) / (
        cfg.rope_high_freq_factor - cfg.rope_low_freq_factor
    )
    smoothed = (1 - smooth) * scaled / cfg.rope_factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return np.where(medium, smoothed, scaled)


def apply_rope(x_BTNH: jax.Array, positions_BT: jax.Array, inv_freq: np.ndarray) -> jax.Array:
    """Rotates halves of the head dimension (HF's rotate_half layout, not interleaved)."""
    angles = positions_BT.astype(jnp.float32)[..., None] * jnp.asarray(inv_freq)  # [B,T,H/2]
    cos = jnp.cos(angles)[:, :, None, :].astype(x_BTNH.dtype)
    sin = jnp.sin(angles)[:, :, None, :].astype(x_BTNH.dtype)
    x1, x2 = jnp.split(x_BTNH, 2, axis=-1)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


class Block(nnx.Module):
    """All L transformer layers' parameters, stacked on a leading axis.

    One layer's parameters are a slice of the stack (`Decoder.layer_slices` takes them all once,
    outside a decode loop); `layer_forward` runs one layer given its slice, built from `qkv`,
    `attention_out` and `mlp`.
    """

    def __init__(self, cfg: model_config.ModelConfig, *, rngs: nnx.Rngs):
        L, D, F = cfg.num_layers, cfg.hidden_size, cfg.intermediate_size
        N, K, H = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        pd = cfg.param_dtype
        w = normal(0.02)
        self.attn_norm = make_param(rngs, ones, (L, D), ("layers", "norm"), pd)
        self.q = make_param(rngs, w, (L, D, N, H), ("layers", "embed", "q_heads", "head_dim"), pd)
        self.k = make_param(rngs, w, (L, D, K, H), ("layers", "embed", "kv_heads", "head_dim"), pd)
        self.v = make_param(rngs, w, (L, D, K, H), ("layers", "embed", "kv_heads", "head_dim"), pd)
        self.o = make_param(rngs, w, (L, N, H, D), ("layers", "q_heads", "head_dim", "embed"), pd)
        if cfg.attention_bias:
            self.q_bias = make_param(rngs, zeros, (L, N, H), ("layers", "q_heads", "head_dim"), pd)
            self.k_bias = make_param(rngs, zeros, (L, K, H), ("layers", "kv_heads", "head_dim"), pd)
            self.v_bias = make_param(rngs, zeros, (L, K, H), ("layers", "kv_heads", "head_dim"), pd)
        if cfg.qk_norm:
            self.q_norm = make_param(rngs, ones, (L, H), ("layers", "head_dim"), pd)
            self.k_norm = make_param(rngs, ones, (L, H), ("layers", "head_dim"), pd)
        self.mlp_norm = make_param(rngs, ones, (L, D), ("layers", "norm"), pd)
        self.gate = make_param(rngs, w, (L, D, F), ("layers", "embed", "mlp"), pd)
        self.up = make_param(rngs, w, (L, D, F), ("layers", "embed", "mlp"), pd)
        self.down = make_param(rngs, w, (L, F, D), ("layers", "mlp", "embed"), pd)


def _p(layer: dict[str, jax.Array], name: str, dtype: jnp.dtype) -> jax.Array:
    return layer[name].astype(dtype)


def qkv(
    layer: dict[str, jax.Array], x_BTD: jax.Array, positions_BT: jax.Array,
    cfg: model_config.ModelConfig, inv_freq: np.ndarray,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Projects normed input to rotated q [B,T,N,H], k [B,T,K,H] and v [B,T,K,H]."""
    dt = x_BTD.dtype
    q = jnp.einsum("BTD,DNH->BTNH", x_BTD, _p(layer, "q", dt))
    k = jnp.einsum("BTD,DKH->BTKH", x_BTD, _p(layer, "k", dt))
    v = jnp.einsum("BTD,DKH->BTKH", x_BTD, _p(layer, "v", dt))
    if cfg.attention_bias:
        q = q + _p(layer, "q_bias", dt)
        k = k + _p(layer, "k_bias", dt)
        v = v + _p(layer, "v_bias", dt)
    if cfg.qk_norm:
        q = rms_norm(q, layer["q_norm"], cfg.rms_norm_eps)
        k = rms_norm(k, layer["k_norm"], cfg.rms_norm_eps)
    q = rules.shard(apply_rope(q, positions_BT, inv_freq),
                    ("act_batch", "act_seq", "act_heads", None))
    k = rules.shard(apply_rope(k, positions_BT, inv_freq),
                    ("act_batch", "act_seq", "act_kv_heads", None))
    v = rules.shard(v, ("act_batch", "act_seq", "act_kv_heads", None))
    return q, k, v


def mlp(layer: dict[str, jax.Array], x_BTD: jax.Array, cfg: model_config.ModelConfig) -> jax.Array:
    """SwiGLU MLP on the normed residual."""
    dt = x_BTD.dtype
    h = rms_norm(x_BTD, layer["mlp_norm"], cfg.rms_norm_eps)
    gate = jnp.einsum("BTD,DF->BTF", h, _p(layer, "gate", dt))
    up = jnp.einsum("BTD,DF->BTF", h, _p(layer, "up", dt))
    act = rules.shard(jax.nn.silu(gate) * up, ("act_batch", "act_seq", "act_mlp"))
    return jnp.einsum("BTF,FD->BTD", act, _p(layer, "down", dt))


def attention_out(layer: dict[str, jax.Array], o_BTNH: jax.Array) -> jax.Array:
    """The output projection as one [B, T, N*H] x [N*H, D] matmul. Why flattened by hand:
    given the two contracting dims, XLA:CPU picked an (H, N) order and transposed the whole
    weight at every decode step."""
    B, T, N, H = o_BTNH.shape
    w = _p(layer, "o", o_BTNH.dtype)
    return jnp.einsum("BTF,FD->BTD", o_BTNH.reshape(B, T, N * H), w.reshape(N * H, -1))


def layer_forward(
    layer: dict[str, jax.Array], x_BTD: jax.Array, positions_BT: jax.Array,
    mask: attention_lib.MaskInfo, cfg: model_config.ModelConfig, inv_freq: np.ndarray,
) -> jax.Array:
    """One pre-norm transformer layer without a KV cache (training and scoring)."""
    h = rms_norm(x_BTD, layer["attn_norm"], cfg.rms_norm_eps)
    q, k, v = qkv(layer, h, positions_BT, cfg, inv_freq)
    o = attention_lib.attend(q, k, v, mask, impl=cfg.attention_impl, chunk=cfg.attention_chunk)
    x_BTD = x_BTD + attention_out(layer, o)
    x_BTD = rules.shard(x_BTD, ("act_batch", "act_res_seq", "act_embed"))
    return rules.shard(x_BTD + mlp(layer, x_BTD, cfg), ("act_batch", "act_res_seq", "act_embed"))
