"""The sampler's jitted device functions: allocate, prefill into slots, decode a chunk.

Parameters are an argument (never closed over), the model's graph definition and all
settings are static, and the state is donated so the cache is updated in place.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from jaxint.models import config as model_config
from jaxint.sampling import select as select_lib
from jaxint.sampling import state as state_lib


@dataclasses.dataclass(frozen=True)
class Selection:
    """Static token-selection settings (hashable: part of the compiled function's key)."""

    temperature: float
    top_k: int
    top_p: float
    stop_token_ids: tuple[int, ...]

    def choose(self, logits_BV: jax.Array, keys_B2: jax.Array, step_B: jax.Array):
        keys = jax.vmap(jax.random.fold_in)(jax.random.wrap_key_data(keys_B2), step_B)
        return select_lib.select(
            logits_BV, keys, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p
        )

    def is_stop(self, tokens_B: jax.Array) -> jax.Array:
        if not self.stop_token_ids:
            return jnp.zeros(tokens_B.shape, bool)
        return jnp.isin(tokens_B, jnp.asarray(self.stop_token_ids, jnp.int32))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def allocate(
    cfg: model_config.ModelConfig, slots: int, cache_len: int, chunk_steps: int, dtype: str
) -> state_lib.DecodeState:
    """An empty decode state, created directly with its sharding."""
    return state_lib.init(cfg, slots, cache_len, chunk_steps, jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(0, 1), donate_argnums=(3,))
def prefill(
    graphdef: nnx.GraphDef, selection: Selection, params: nnx.State,
    state: state_lib.DecodeState, prompt_tokens: jax.Array, prompt_lens: jax.Array,
    dest_slots: jax.Array, keys: jax.Array, budgets: jax.Array,
) -> tuple[state_lib.DecodeState, jax.Array, jax.Array]:
    """Prefills b prompts once and starts up to n samples of each in free slots.

    Args:
        prompt_tokens: [b, P] right-padded prompts; prompt_lens: [b].
        dest_slots: [b, n] slot of each new sample (an index >= B marks an unused entry,
            whose writes are dropped). Each prompt's cache is scattered into its n slots
            one sample column at a time, so no [b * n, P] copy is ever materialised.
        keys: [b, n, 2] sample keys; budgets: [b] max_new_tokens.

    Returns:
        (state, first tokens [b, n], their log-probs [b, n]).
    """
    model = nnx.merge(graphdef, params)
    cfg = model.config
    b, P = prompt_tokens.shape
    n = dest_slots.shape[1]
    shape = (cfg.num_layers, b, P, cfg.num_kv_heads, cfg.head_dim)
    tmp_k = jnp.zeros(shape, state.cache_k.dtype)
    tmp_v = jnp.zeros(shape, state.cache_v.dtype)
    positions = jnp.broadcast_to(jnp.arange(P, dtype=jnp.int32), (b, P))
    hidden, tmp_k, tmp_v = model.hidden_states_cached(
        prompt_tokens, positions, tmp_k, tmp_v, jnp.zeros((b,), jnp.int32), kv_len=P
    )
    last = jnp.take_along_axis(hidden, (prompt_lens - 1)[:, None, None], axis=1)  # [b, 1, D]
    logits = jnp.repeat(model.logits(last)[:, 0], n, axis=0)  # [b * n, V]
    first, logprob = selection.choose(
        logits, keys.reshape(b * n, 2), jnp.zeros((b * n,), jnp.int32)
    )
    dest = dest_slots.reshape(b * n)
    lens = jnp.repeat(prompt_lens, n)
    budget = jnp.repeat(budgets, n)
    cache_k, cache_v = state.cache_k, state.cache_v
    for j in range(n):
        cache_k = cache_k.at[:, dest_slots[:, j], :P].set(tmp_k, mode="drop")
        cache_v = cache_v.at[:, dest_slots[:, j], :P].set(tmp_v, mode="drop")
    put = lambda x, v: x.at[dest].set(v, mode="drop")  # noqa: E731
    stop = selection.is_stop(first)
    state = state.replace(
        cache_k=cache_k, cache_v=cache_v, tokens=put(state.tokens, first),
        lengths=put(state.lengths, lens), generated=put(state.generated, jnp.ones_like(lens)),
        budget=put(state.budget, budget), active=put(state.active, ~stop & (budget > 1)),
        stopped=put(state.stopped, stop), keys=put(state.keys, keys.reshape(b * n, 2)),
    )
    return state_lib.constrain(state), first.reshape(b, n), logprob.reshape(b, n)


@functools.partial(jax.jit, static_argnums=(0, 1, 2), donate_argnums=(4,))
def decode_chunk(
    graphdef: nnx.GraphDef, selection: Selection, kv_len: int, params: nnx.State,
    state: state_lib.DecodeState,
) -> state_lib.DecodeState:
    """Up to C decode steps for all slots in one `lax.while_loop`; stops early once every
    slot is done. Only the first `kv_len` cache entries are attended (a static bucket)."""
    model = nnx.merge(graphdef, params)
    chunk = state.out_tokens.shape[1]

    def cond(carry: tuple) -> jax.Array:
        step, st = carry
        return (step < chunk) & jnp.any(st.active)

    def body(carry: tuple) -> tuple:
        step, st = carry
        hidden, ck, cv = model.hidden_states_cached(
            st.tokens[:, None], st.lengths[:, None], st.cache_k, st.cache_v, st.lengths,
            kv_len=kv_len,
        )
        token, logprob = selection.choose(model.logits(hidden)[:, 0], st.keys, st.generated)
        act = st.active
        generated = st.generated + act
        stop = selection.is_stop(token)
        st = st.replace(
            cache_k=ck, cache_v=cv,
            out_tokens=st.out_tokens.at[:, step].set(jnp.where(act, token, 0)),
            out_logprobs=st.out_logprobs.at[:, step].set(jnp.where(act, logprob, 0.0)),
            out_count=st.out_count + act, lengths=st.lengths + act, generated=generated,
            tokens=jnp.where(act, token, st.tokens), stopped=st.stopped | (act & stop),
            active=act & ~stop & (generated < st.budget),
        )
        return step + 1, state_lib.constrain(st)

    state = state.replace(out_count=jnp.zeros_like(state.out_count))
    _, state = jax.lax.while_loop(cond, body, (jnp.int32(0), state))
    return state


@functools.partial(jax.jit, donate_argnums=(0,))
def release(state: state_lib.DecodeState, slots_mask: jax.Array) -> state_lib.DecodeState:
    """Deactivates slots the host ended (stop strings)."""
    return state_lib.constrain(state.replace(active=state.active & ~slots_mask))
