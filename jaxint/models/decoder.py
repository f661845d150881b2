"""The Llama-family decoder (Llama 3.x, Qwen2.5, Qwen3) as one Flax NNX module.

Two entry points share the layer code:
  * `__call__` / `hidden_states`: a whole sequence at once (training, scoring, HF parity).
  * `hidden_states_cached`: new tokens against a KV cache (sampling), writing their keys and
    values at per-row offsets, so every batch row (engine slot) can be at its own length.
`logits` is separate from both so that callers can apply the vocabulary projection only where
they need it (the last prompt token in prefill; chunks of the sequence in the losses).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from jaxint.models import attention as attention_lib
from jaxint.models import config as model_config
from jaxint.models import kv_cache, layers, paged_cache
from jaxint.parallel import rules

LayerParams = dict[str, jax.Array]

_REMAT = {
    "full": None,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def positions_from_mask(attention_mask_BT: jax.Array) -> jax.Array:
    """Positions that skip left padding: the first real token of each row is position 0."""
    return jnp.maximum(jnp.cumsum(attention_mask_BT.astype(jnp.int32), axis=-1) - 1, 0)


class Decoder(nnx.Module):
    """Token embedding, L pre-norm layers (stacked parameters), final norm, LM head."""

    def __init__(self, cfg: model_config.ModelConfig, *, rngs: nnx.Rngs):
        self.config = cfg
        V, D, pd = cfg.vocab_size, cfg.hidden_size, cfg.param_dtype
        self.embed = layers.make_param(rngs, layers.normal(0.02), (V, D), ("vocab", "embed"), pd)
        self.blocks = layers.Block(cfg, rngs=rngs)
        self.final_norm = layers.make_param(rngs, layers.ones, (D,), ("norm",), pd)
        if not cfg.tie_embeddings:
            self.lm_head = layers.make_param(
                rngs, layers.normal(0.02), (D, V), ("embed", "vocab"), pd
            )

    # ----------------------------------------------------------------- full sequences
    def __call__(
        self, input_ids: jax.Array, attention_mask: jax.Array | None = None, *,
        positions: jax.Array | None = None, segment_ids: jax.Array | None = None,
    ) -> jax.Array:
        """Logits [B, T, V] (float32) for ids [B, T]; mask [B, T] (1 = real, left pad ok)."""
        hidden = self.hidden_states(
            input_ids, attention_mask, positions=positions, segment_ids=segment_ids
        )
        return self.logits(hidden)

    def hidden_states(
        self, input_ids: jax.Array, attention_mask: jax.Array | None = None, *,
        positions: jax.Array | None = None, segment_ids: jax.Array | None = None,
    ) -> jax.Array:
        """Final-normed hidden states [B, T, D] in the compute dtype.

        Args:
            input_ids: [B, T] int32.
            attention_mask: [B, T], 1 for real tokens; padding may be on either side.
            positions: [B, T] rotary positions; default follows from the mask.
            segment_ids: [B, T] packed-example ids (0 = padding); attention stays inside a
                segment. Pass per-segment `positions` with it.
        """
        B, T = input_ids.shape
        if attention_mask is None:
            attention_mask = (
                jnp.ones((B, T), jnp.int32) if segment_ids is None else segment_ids > 0
            )
        if positions is None:
            positions = positions_from_mask(attention_mask)
        mask = attention_lib.MaskInfo(
            q_index=jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32), (B, T)),
            kv_valid=attention_mask.astype(bool),
            q_segment=segment_ids, kv_segment=segment_ids,
        )
        x = self._embed(input_ids)
        step = functools.partial(self._layer, positions=positions, mask=mask)
        x = self._run_layers(step, x)
        return layers.rms_norm(x, self.final_norm[...], self.config.rms_norm_eps)

    def logits(self, hidden_BTD: jax.Array) -> jax.Array:
        """Vocabulary logits [B, T, V] in float32 from final hidden states."""
        dt = hidden_BTD.dtype
        if self.config.tie_embeddings:
            out = jnp.einsum("BTD,VD->BTV", hidden_BTD, self.embed[...].astype(dt))
        else:
            out = jnp.einsum("BTD,DV->BTV", hidden_BTD, self.lm_head[...].astype(dt))
        return rules.shard(out.astype(jnp.float32), ("act_batch", "act_seq", "act_vocab"))

    # ----------------------------------------------------------------- KV-cached
    def hidden_states_cached(
        self, input_ids: jax.Array, positions: jax.Array, cache_k: kv_cache.Cache,
        cache_v: kv_cache.Cache, write_index: jax.Array, *, kv_len: int | None = None,
        layer_params: list[LayerParams] | None = None, pages: jax.Array | None = None,
        paging: paged_cache.Paging | None = None,
    ) -> tuple[jax.Array, kv_cache.Cache, kv_cache.Cache]:
        """Runs new tokens against a KV cache; returns (hidden [B,T,D], cache_k, cache_v).

        The cache row b holds that row's tokens at indices 0.. (no left padding). The T new
        tokens are written at indices write_index[b] + t, then each attends to every cache
        index <= its own. Entries past a row's length are stale but never visible: they are
        overwritten before any query can reach them.

        Args:
            input_ids: [B, T] int32.
            positions: [B, T] rotary positions (normally write_index[:, None] + arange(T)).
            cache_k, cache_v: stacked [L, B, K, S, H] or L arrays [B, K, S, H]
                (`jaxint.models.kv_cache`; scanned layers need the stacked form); donate
                them for in-place updates.
            write_index: [B] int32.
            kv_len: static bound on the visible cache prefix (>= write_index + T); attending
                over a short prefix of a long cache is what keeps decode cost proportional to
                the actual lengths.
            layer_params: `layer_slices()` taken outside the caller's loop (unrolled layers only).
                Slicing the stacked parameters inside a decode `while_loop` makes XLA:CPU
                copy every layer's weights at every step (a slice is not a view there).
            pages: [B, M] page table: `cache_k` is then a paged pool
                (`jaxint.models.paged_cache`, keys and values combined), `cache_v` is `()`
                and is returned as such; `paging` says how to attend over it.
        """
        T = input_ids.shape[1]
        q_index = write_index[:, None].astype(jnp.int32) + jnp.arange(T, dtype=jnp.int32)
        if pages is not None:
            kv_len = kv_len or pages.shape[1] * paged_cache.page_size(cache_k)
        kv_len = kv_len or kv_cache.length(cache_k)
        x = self._embed(input_ids)
        paged = (pages, paging or paged_cache.Paging()) if pages is not None else None

        def step(layer: LayerParams, x: jax.Array, index: jax.Array | None, kv: tuple) -> tuple:
            return self._layer_cached(layer, x, index, kv, positions, q_index, kv_len, paged)

        kv = (cache_k,) if pages is not None else (cache_k, cache_v)
        x, kv = self._run_layers_cached(step, x, kv, layer_params)
        x = layers.rms_norm(x, self.final_norm[...], self.config.rms_norm_eps)
        return x, kv[0], kv[1] if pages is None else ()

    # ----------------------------------------------------------------- internals
    def _embed(self, ids_BT: jax.Array) -> jax.Array:
        x = jnp.take(self.embed[...], ids_BT, axis=0).astype(jnp.dtype(self.config.dtype))
        return rules.shard(x, ("act_batch", "act_seq", "act_embed"))

    def _layer(
        self, layer: LayerParams, x: jax.Array, *, positions: jax.Array,
        mask: attention_lib.MaskInfo,
    ) -> jax.Array:
        return layers.layer_forward(
            layer, x, positions, mask, self.config, layers.rope_inverse_frequencies(self.config)
        )

    def _layer_cached(
        self, layer: LayerParams, x: jax.Array, index: jax.Array | None, kv: tuple,
        positions: jax.Array, q_index: jax.Array, kv_len: int,
        paged: tuple[jax.Array, paged_cache.Paging] | None = None,
    ) -> tuple[jax.Array, tuple]:
        """One layer against its cache: `kv` is this layer's (k, v) when `index` is None,
        else the stacked caches and this layer's index in them; with `paged` (page table,
        settings) it is the 1-tuple of the paged pool."""
        cfg = self.config
        h = layers.rms_norm(x, layer["attn_norm"], cfg.rms_norm_eps)
        q, k, v = layers.qkv(layer, h, positions, cfg, layers.rope_inverse_frequencies(cfg))
        if paged is not None:
            o, pool = paged_cache.write_and_attend(
                q, k, v, kv[0], index, paged[0], q_index, kv_len=kv_len, paging=paged[1],
                impl=cfg.attention_impl, chunk=cfg.attention_chunk)
            new_kv: tuple = (pool,)
        else:
            cache_k = kv_cache.write(kv[0], index, k, q_index)
            cache_v = kv_cache.write(kv[1], index, v, q_index)
            keys = kv_cache.read(cache_k, index, kv_len)
            values = kv_cache.read(cache_v, index, kv_len)
            o = attention_lib.attend_cached(
                q, keys.astype(q.dtype), values.astype(q.dtype),
                attention_lib.MaskInfo(q_index=q_index),
                impl=cfg.attention_impl, chunk=cfg.attention_chunk,
            )
            new_kv = (cache_k, cache_v)
        x = x + layers.attention_out(layer, o)
        x = x + layers.mlp(layer, x, cfg)
        return rules.shard(x, ("act_batch", "act_seq", "act_embed")), new_kv

    def layer_slices(self) -> list[LayerParams]:
        """Each layer's parameters as separate arrays (for unrolled layers). See
        `hidden_states_cached(layer_params=...)` for why callers hoist it out of loops."""
        params = self._layer_params()
        return [jax.tree.map(lambda a, i=i: a[i], params) for i in range(self.config.num_layers)]

    def _layer_params(self) -> LayerParams:
        return {
            name: value[...] for name, value in vars(self.blocks).items()
            if isinstance(value, nnx.Param)
        }

    def _maybe_remat(self, fn: Callable) -> Callable:
        if self.config.remat == "none":
            return fn
        return jax.checkpoint(fn, policy=_REMAT[self.config.remat])

    def _run_layers(self, step: Callable, x: jax.Array) -> jax.Array:
        params = self._layer_params()
        step = self._maybe_remat(step)
        if self.config.scan_layers:
            x, _ = jax.lax.scan(lambda carry, layer: (step(layer, carry), None), x, params)
            return x
        for i in range(self.config.num_layers):
            x = step(jax.tree.map(lambda a, i=i: a[i], params), x)
        return x

    def _run_layers_cached(
        self, step: Callable, x: jax.Array, kv: tuple, layers: list[LayerParams] | None
    ) -> tuple:
        """Scanned over a stacked cache with `scan_layers`; otherwise unrolled, over either
        form (a per-layer cache is always unrolled: it cannot be scanned)."""
        if kv_cache.is_per_layer(kv[0]):
            return self._unrolled_per_layer(step, x, kv, layers or self.layer_slices())
        if self.config.scan_layers:
            params = self._layer_params()

            def body(carry, inputs):
                layer, index = inputs
                x, kv = carry
                return step(layer, x, index, kv), None

            indices = jnp.arange(self.config.num_layers)
            (x, kv), _ = jax.lax.scan(body, (x, kv), (params, indices))
            return x, kv
        for i, layer in enumerate(layers or self.layer_slices()):
            x, kv = step(layer, x, jnp.int32(i), kv)
        return x, kv

    @staticmethod
    def _unrolled_per_layer(
        step: Callable, x: jax.Array, kv: tuple, layers: list[LayerParams]
    ) -> tuple:
        outs: list[list] = [[] for _ in kv]  # (k, v) caches, or the one paged pool
        for i, layer in enumerate(layers):
            x, new = step(layer, x, None, tuple(c[i] for c in kv))
            for out, c in zip(outs, new, strict=True):
                out.append(c)
        return x, tuple(tuple(out) for out in outs)
