"""The sampler's device state: KV cache plus per-slot bookkeeping, one pytree."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxint.models import config as model_config
from jaxint.models import kv_cache, paged_cache
from jaxint.parallel import rules

CACHE_AXES = kv_cache.STACKED_AXES  # of a stacked cache; a per-layer one drops the first
SLOT_AXES = ("cache_batch",)


@struct.dataclass
class DecodeState:
    """Everything that lives on device between engine chunks.

    Attributes:
        cache_k, cache_v: L arrays [B, K, S, H], or one stacked [L, B, K, S, H] for a
            model with scanned layers (`jaxint.models.kv_cache`); slot b's tokens at
            sequence indices 0..lengths[b]-1.
        tokens: [B] int32, the last sampled token of each slot (not yet in the cache).
        lengths: [B] int32, tokens in the cache (prompt + generated - 1).
        generated: [B] int32, tokens sampled so far for the slot's sample.
        budget: [B] int32, the slot's max_new_tokens.
        active: [B] bool, the slot is still generating.
        stopped: [B] bool, the slot ended on a stop token (else by length).
        keys: [B, 2] uint32, the slot's sample key; step t draws with fold_in(key, t), so a
            sample depends on (seed, prompt, sample index) only, never on scheduling.
        out_tokens, out_logprobs: [B, C] this chunk's tokens and untempered log-probs.
        out_count: [B] int32, valid entries of this chunk's outputs per slot.
        paged: static; `cache_k` is then a paged pool (`jaxint.models.paged_cache`: keys
            and values combined, pages shared by all slots, the page table kept by the
            host) and `cache_v` is `()`.
    """

    cache_k: kv_cache.Cache
    cache_v: kv_cache.Cache
    tokens: jax.Array
    lengths: jax.Array
    generated: jax.Array
    budget: jax.Array
    active: jax.Array
    stopped: jax.Array
    keys: jax.Array
    out_tokens: jax.Array
    out_logprobs: jax.Array
    out_count: jax.Array
    paged: bool = struct.field(pytree_node=False, default=False)


def cache_dtype(cfg: model_config.ModelConfig, requested: str) -> jnp.dtype:
    return jnp.dtype(cfg.dtype if requested == "auto" else requested)


def constrain(state: DecodeState) -> DecodeState:
    """Pins the state's sharding (no-op without a mesh): slots over data/fsdp, kv heads over
    tensor. Applied to every jitted function's output so donated buffers keep their layout."""
    slot = lambda x: rules.shard(x, SLOT_AXES + (None,) * (x.ndim - 1))  # noqa: E731
    if state.paged:
        caches = dict(cache_k=paged_cache.constrain(state.cache_k), cache_v=state.cache_v)
    else:
        caches = dict(cache_k=shard_cache(state.cache_k), cache_v=shard_cache(state.cache_v))
    return state.replace(
        **caches,
        **{f: slot(getattr(state, f)) for f in (
            "tokens", "lengths", "generated", "budget", "active", "stopped", "keys",
            "out_tokens", "out_logprobs", "out_count")},
    )


def shard_cache(cache: kv_cache.Cache) -> kv_cache.Cache:
    """Slots over data/fsdp, kv heads over tensor, for either form of the cache."""
    names = kv_cache.axes(cache)
    return jax.tree.map(lambda x: rules.shard(x, names), cache)


def init(
    cfg: model_config.ModelConfig, slots: int, cache_len: int, chunk_steps: int, dtype: jnp.dtype,
    pool_pages: int = 0, page_size: int = 0,
) -> DecodeState:
    """An empty state (all slots inactive). Call inside jit to allocate it sharded.

    `pool_pages` > 0 makes a paged state: a pool of that many pages of `page_size` tokens
    instead of slots x cache_len dense rows."""
    if pool_pages:
        cache_k: kv_cache.Cache = paged_cache.zeros(
            cfg.num_layers, pool_pages, page_size, cfg.num_kv_heads, cfg.head_dim, dtype,
            per_layer=not cfg.scan_layers)
        cache_v: kv_cache.Cache = ()
    else:
        cache_k, cache_v = (kv_cache.zeros(
            cfg.num_layers, slots, cache_len, cfg.num_kv_heads, cfg.head_dim, dtype,
            per_layer=not cfg.scan_layers) for _ in range(2))
    zeros = lambda dt: jnp.zeros((slots,), dt)  # noqa: E731
    return constrain(DecodeState(
        cache_k=cache_k, cache_v=cache_v, paged=bool(pool_pages),
        tokens=zeros(jnp.int32), lengths=zeros(jnp.int32), generated=zeros(jnp.int32),
        budget=zeros(jnp.int32), active=zeros(bool), stopped=zeros(bool),
        keys=jnp.zeros((slots, 2), jnp.uint32),
        out_tokens=jnp.zeros((slots, chunk_steps), jnp.int32),
        out_logprobs=jnp.zeros((slots, chunk_steps), jnp.float32),
        out_count=zeros(jnp.int32),
    ))
