"""The sampler's jitted device functions: allocate, prefill into slots, fork a held prompt
into more slots, decode a chunk.

Parameters are an argument (never closed over), the model's graph definition and all
settings are static, and the state is donated so the cache is updated in place.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx, struct

from jaxint.models import config as model_config
from jaxint.models import kv_cache, paged_cache
from jaxint.sampling import select as select_lib
from jaxint.sampling import state as state_lib

# Per row and chunk: [steps, K] float32 of noise made ahead (64 steps x top-k 256 = 64 KiB).
MAX_CHUNK_NOISE = 1 << 14


@dataclasses.dataclass(frozen=True)
class Selection:
    """Static token-selection settings (hashable: part of the compiled function's key)."""

    temperature: float
    top_k: int
    top_p: float
    stop_token_ids: tuple[int, ...]

    def choose(self, logits_BV: jax.Array, keys_B2: jax.Array, step_B: jax.Array,
               noise_BK: jax.Array | None = None):
        """Tokens and log-probs; a row's randomness is its key folded with its step, or that
        step's row of `chunk_noise` (the same draw, made ahead)."""
        keys = (None if noise_BK is not None or self.temperature == 0 else
                jax.vmap(jax.random.fold_in)(jax.random.wrap_key_data(keys_B2), step_B))
        return select_lib.select(
            logits_BV, keys, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
            noise_BK=noise_BK,
        )

    def chunk_noise(self, keys_B2: jax.Array, first_step_B: jax.Array, steps: int,
                    vocab: int) -> jax.Array | None:
        """[B, steps, K] the Gumbel noise each row's next `steps` draws use (step
        first_step + s), or None when greedy or when it would be large (more than
        `MAX_CHUNK_NOISE` values per row: full-vocabulary or wide top-k sampling).

        Why: drawing in the loop costs two PRNG calls per step (a fold-in and the noise), and
        XLA:CPU runs each as a rolled while loop (~4% of a small model's sampled decode
        step); one vectorised draw per chunk gives the same numbers. A row's step advances
        by one at every step it is active and it never restarts within a chunk, so the
        noise of step s is the noise of its s-th draw.
        """
        width = select_lib.candidate_count(vocab, self.top_k)
        if self.temperature == 0 or steps * width > MAX_CHUNK_NOISE:
            return None
        steps_BS = first_step_B[:, None] + jnp.arange(steps, dtype=first_step_B.dtype)
        draw = functools.partial(select_lib.gumbel_noise, width=width)
        per_row = jax.vmap(draw, in_axes=(None, 0))  # one key, its steps
        return jax.vmap(per_row)(jax.random.wrap_key_data(keys_B2), steps_BS)

    def is_stop(self, tokens_B: jax.Array) -> jax.Array:
        if not self.stop_token_ids:
            return jnp.zeros(tokens_B.shape, bool)
        return jnp.isin(tokens_B, jnp.asarray(self.stop_token_ids, jnp.int32))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6))
def allocate(
    cfg: model_config.ModelConfig, slots: int, cache_len: int, chunk_steps: int, dtype: str,
    pool_pages: int = 0, page_size: int = 0,
) -> state_lib.DecodeState:
    """An empty decode state, created directly with its sharding (paged: `pool_pages` > 0)."""
    return state_lib.init(cfg, slots, cache_len, chunk_steps, jnp.dtype(dtype), pool_pages,
                          page_size)


@struct.dataclass
class PageWrite:
    """Where a prefill or fork puts prompts in a paged cache (host-made, per slot).

    Attributes:
        table: [B, M] int32 page table (`jaxint.models.paged_cache`).
        src_row: [B] int32, the prompt row each slot starts from (>= rows: none).
        write_from: [B] int32, first position to copy (the end of pages already shared).
    """

    table: jax.Array
    src_row: jax.Array
    write_from: jax.Array


@struct.dataclass
class Resume:
    """Prefill rows that continue a preempted sample instead of starting one (host-made).

    The row's prompt is then the sample's prompt plus all its tokens but the last, which
    is not drawn again: it becomes the slot's next input at step `steps` (its count of
    tokens so far), so the sample goes on exactly where it stopped.

    Attributes:
        tokens: [b] int32, each row's last token (ignored where steps is 0).
        steps: [b] int32, tokens the sample already has (0: a fresh start).
    """

    tokens: jax.Array
    steps: jax.Array


@struct.dataclass
class Prefix:
    """One prefilled prompt kept for forking: its KV in the cache's form (batch 1, its prompt
    bucket long) and the logits after its last token."""

    k: kv_cache.Cache
    v: kv_cache.Cache
    logits: jax.Array  # [1, V] float32


@functools.partial(jax.jit, static_argnums=(0, 1), donate_argnums=(3,))
def prefill(
    graphdef: nnx.GraphDef, selection: Selection, params: nnx.State,
    state: state_lib.DecodeState, prompt_tokens: jax.Array, prompt_lens: jax.Array,
    dest_slots: jax.Array, keys: jax.Array, budgets: jax.Array, hold_row: jax.Array | int = 0,
    pages: PageWrite | None = None, resume: Resume | None = None,
) -> tuple[state_lib.DecodeState, jax.Array, jax.Array, Prefix]:
    """Prefills b prompts once and starts up to W samples of each in free slots.

    Args:
        prompt_tokens: [b, P] right-padded prompts; prompt_lens: [b].
        dest_slots: [b, W] slot of each new sample (an index >= B marks an unused entry,
            whose writes are dropped).
        keys: [b, W, 2] sample keys; budgets: [b] max_new_tokens.
        hold_row: the prompt returned as a `Prefix`, for `fork` to start more of its samples
            in later calls without prefilling it again.
        pages: for a paged state, where each new sample's prompt goes.
        resume: rows that continue a preempted sample (width 1, never held).

    Returns:
        (state, first tokens [b, W], their log-probs [b, W], the held prompt); a resumed
        row's first token is its given last token.
    """
    model = nnx.merge(graphdef, params)
    cfg = model.config
    b, P = prompt_tokens.shape
    per_layer = kv_cache.is_per_layer(state.cache_k)  # the same test for a paged pool
    dtype = jax.tree.leaves(state.cache_k)[0].dtype
    tmp = lambda: kv_cache.zeros(  # noqa: E731
        cfg.num_layers, b, P, cfg.num_kv_heads, cfg.head_dim, dtype, per_layer=per_layer)
    positions = jnp.broadcast_to(jnp.arange(P, dtype=jnp.int32), (b, P))
    hidden, tmp_k, tmp_v = model.hidden_states_cached(
        prompt_tokens, positions, tmp(), tmp(), jnp.zeros((b,), jnp.int32), kv_len=P
    )
    last = jnp.take_along_axis(hidden, (prompt_lens - 1)[:, None, None], axis=1)  # [b, 1, D]
    logits = model.logits(last)[:, 0]  # [b, V]
    state, first, logprob = _start(
        selection, state, tmp_k, tmp_v, logits, prompt_lens, dest_slots, keys, budgets, pages,
        resume)
    held = Prefix(kv_cache.row(tmp_k, hold_row), kv_cache.row(tmp_v, hold_row),
                  jax.lax.dynamic_index_in_dim(logits, hold_row, 0, keepdims=True))
    return state, first, logprob, held


@functools.partial(jax.jit, static_argnums=(0,), donate_argnums=(1,))
def fork(
    selection: Selection, state: state_lib.DecodeState, prefix: Prefix, prompt_len: jax.Array,
    dest_slots: jax.Array, keys: jax.Array, budget: jax.Array, pages: PageWrite | None = None,
) -> tuple[state_lib.DecodeState, jax.Array, jax.Array]:
    """Starts more samples of a held prompt: copies its KV into their slots and draws their
    first tokens from its logits, exactly as `prefill` would have (no model call).

    Args:
        prompt_len, budget: [1]; dest_slots: [1, m] (>= B: unused); keys: [1, m, 2].
        pages: for a paged state (samples sharing the prompt's full pages copy only from
            their end: `PageWrite.write_from`).

    Returns:
        (state, first tokens [1, m], their log-probs [1, m]).
    """
    return _start(selection, state, prefix.k, prefix.v, prefix.logits, prompt_len, dest_slots,
                  keys, budget, pages)


def _start(
    selection: Selection, state: state_lib.DecodeState, src_k: kv_cache.Cache,
    src_v: kv_cache.Cache, logits_bV: jax.Array, lens: jax.Array, dest_slots: jax.Array,
    keys: jax.Array, budgets: jax.Array, pages: PageWrite | None = None,
    resume: Resume | None = None,
) -> tuple[state_lib.DecodeState, jax.Array, jax.Array]:
    """Puts W samples of each of b prompts (KV src row r, next-token logits row r) into
    their slots: copies the KV, draws the first token with the sample's key at step 0 (a
    resumed row takes its given token and step instead)."""
    b, W = dest_slots.shape
    logits = jnp.repeat(logits_bV, W, axis=0)  # [b * W, V]
    first, logprob = selection.choose(
        logits, keys.reshape(b * W, 2), jnp.zeros((b * W,), jnp.int32)
    )
    generated = jnp.ones((b * W,), jnp.int32)
    if resume is not None:
        done = jnp.repeat(resume.steps, W)
        first = jnp.where(done > 0, jnp.repeat(resume.tokens, W), first)
        generated = jnp.where(done > 0, done, generated)
    dest = dest_slots.reshape(b * W)
    lens = jnp.repeat(lens, W)
    budget = jnp.repeat(budgets, W)
    put = lambda x, v: x.at[dest].set(v, mode="drop")  # noqa: E731
    stop = selection.is_stop(first)
    if state.paged:
        caches = dict(cache_k=paged_cache.write_prompts(
            state.cache_k, src_k, src_v, pages.table, pages.src_row, pages.write_from))
    else:
        caches = dict(cache_k=kv_cache.copy_rows(state.cache_k, src_k, dest_slots),
                      cache_v=kv_cache.copy_rows(state.cache_v, src_v, dest_slots))
    state = state.replace(
        **caches,
        tokens=put(state.tokens, first),
        lengths=put(state.lengths, lens), generated=put(state.generated, generated),
        budget=put(state.budget, budget), active=put(state.active, ~stop & (generated < budget)),
        stopped=put(state.stopped, stop), keys=put(state.keys, keys.reshape(b * W, 2)),
    )
    return state_lib.constrain(state), first.reshape(b, W), logprob.reshape(b, W)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 6), donate_argnums=(4,))
def decode_chunk(
    graphdef: nnx.GraphDef, selection: Selection, kv_len: int, params: nnx.State,
    state: state_lib.DecodeState, table: jax.Array | None = None,
    paging: paged_cache.Paging | None = None, limit: jax.Array | None = None,
) -> state_lib.DecodeState:
    """Up to C decode steps (fewer: `limit`, an int32 scalar, so a short chunk reuses the
    compiled function) for all slots in one `lax.while_loop`; stops early once every slot
    is done. Only the first `kv_len` cache entries are attended (a static bucket).

    A paged state needs its page table [B, M] (the host gives every active slot pages for
    all C steps beforehand) and `paging`, how to attend over pages."""
    model = nnx.merge(graphdef, params)
    chunk = state.out_tokens.shape[1]
    # Sliced outside the loop: once per chunk, not at every step (see hidden_states_cached).
    layers = model.layer_slices() if kv_cache.is_per_layer(state.cache_k) else None

    def cond(carry: tuple) -> jax.Array:
        step, st = carry
        return (step < (chunk if limit is None else limit)) & jnp.any(st.active)

    noise = selection.chunk_noise(state.keys, state.generated, chunk, model.config.vocab_size)

    def body(carry: tuple) -> tuple:
        step, st = carry
        hidden, ck, cv = model.hidden_states_cached(
            st.tokens[:, None], st.lengths[:, None], st.cache_k, st.cache_v, st.lengths,
            kv_len=kv_len, layer_params=layers, pages=table if st.paged else None,
            paging=paging,
        )
        noise_BK = (None if noise is None
                    else jax.lax.dynamic_index_in_dim(noise, step, 1, keepdims=False))
        token, logprob = selection.choose(model.logits(hidden)[:, 0], st.keys, st.generated,
                                          noise_BK)
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
