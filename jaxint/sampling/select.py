"""Choosing the next token: greedy, temperature, top-k and top-p, in that order (as HF and
vLLM apply them), plus the chosen token's log-probability under the untempered model."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def nucleus_keep(sorted_logits_BK: jax.Array, top_p: float) -> jax.Array:
    """[B, K] bool: which of descending-sorted logits survive top-p.

    A token is kept while the probability mass strictly before it is below `top_p`, so the
    most likely token always survives (HF's `TopPLogitsWarper` rule, written descending).
    """
    probs = jax.nn.softmax(sorted_logits_BK, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    return mass_before < top_p


def candidates(
    logits_BV: jax.Array, *, temperature: float, top_k: int, top_p: float
) -> tuple[jax.Array, jax.Array]:
    """The allowed tokens and their tempered logits, most likely first.

    Returns:
        (logits [B, K'], token ids [B, K']) with disallowed entries at -inf; K' = top_k,
        or V when top_k is 0 (a full sort: avoid on 150K vocabularies when speed matters).
    """
    scaled = logits_BV.astype(jnp.float32) / temperature
    if top_k and top_k < logits_BV.shape[-1]:
        values, ids = top_k_blocked(scaled, top_k)
    else:
        ids = jnp.argsort(-scaled, axis=-1)
        values = jnp.take_along_axis(scaled, ids, axis=-1)
    if top_p < 1.0:
        values = jnp.where(nucleus_keep(values, top_p), values, -jnp.inf)
    return values, ids


def candidate_count(vocab: int, top_k: int) -> int:
    """How many candidates `candidates` returns per row: top_k, or the whole vocabulary."""
    return top_k if top_k and top_k < vocab else vocab


def gumbel_noise(key: jax.Array, step: jax.Array, width: int) -> jax.Array:
    """[width] the Gumbel noise `jax.random.categorical(fold_in(key, step), logits)` adds to
    `width` float32 logits before its argmax (the same call, so the same numbers)."""
    return jax.random.gumbel(jax.random.fold_in(key, step), (width,), jnp.float32)


def top_k_blocked(x_BV: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """`jax.lax.top_k(x, k)` exactly (values descending, ties to the lower index), from two
    small top-k's instead of one over the whole vocabulary.

    Why: XLA:CPU sorts the whole row for a top-k; on a 4,096-token vocabulary that was ~150 us
    of a ~2.5 ms decode step for 16 rows, and the row is 37x longer on a Qwen vocabulary. The
    row is cut into blocks; the k best elements lie in the k blocks with the largest maxima
    (a block holding one of them has a maximum at least the k-th value, and fewer than k
    elements exceed it), so a top-k over block maxima, then over those k blocks' elements,
    finds them. Taking the chosen blocks in index order keeps `lax.top_k`'s tie rule: tied
    blocks are chosen lowest index first, and within the candidates position order is index
    order.
    """
    B, V = x_BV.shape
    block = 2 ** max(0, round(math.log2(math.sqrt(V / k))))
    blocks = -(-V // block)
    if k >= blocks or block == 1:
        return jax.lax.top_k(x_BV, k)
    padded = jnp.pad(x_BV, ((0, 0), (0, blocks * block - V)), constant_values=-jnp.inf)
    grid = padded.reshape(B, blocks, block)
    _, chosen = jax.lax.top_k(jnp.max(grid, axis=-1), k)
    chosen = jnp.sort(chosen, axis=-1)  # [B, k] block ids in index order
    pool = jnp.take_along_axis(grid, chosen[:, :, None], axis=1).reshape(B, k * block)
    values, at = jax.lax.top_k(pool, k)
    ids = jnp.take_along_axis(chosen, at // block, axis=-1) * block + at % block
    return values, ids.astype(jnp.int32)


def first_argmax(logits_BV: jax.Array) -> jax.Array:
    """[B] int32 index of each row's largest logit, the first one on ties (`jnp.argmax`'s
    answer for finite rows), as a max and a min over indices. Why: XLA:CPU runs argmax's
    (value, index) pair reduction ~10x slower than these two plain reductions (it was ~4%
    of a bench decode step)."""
    V = logits_BV.shape[-1]
    best = jnp.max(logits_BV, axis=-1, keepdims=True)
    index = jnp.where(logits_BV == best, jnp.arange(V, dtype=jnp.int32), V)
    return jnp.minimum(jnp.min(index, axis=-1), V - 1)


def select(
    logits_BV: jax.Array, keys_B: jax.Array | None, *, temperature: float, top_k: int,
    top_p: float, noise_BK: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Next tokens [B] int32 and their log-probabilities [B] under the untempered model.

    Args:
        logits_BV: model logits for the next position.
        keys_B: one PRNG key per row, so a row's draw does not depend on its batch-mates
            (unused when greedy or given `noise_BK`).
        noise_BK: each row's Gumbel noise for its `candidate_count` candidates, drawn ahead
            (`gumbel_noise`); the draw is then `jax.random.categorical`'s exactly.
    """
    logits_BV = logits_BV.astype(jnp.float32)
    if temperature == 0:
        tokens = first_argmax(logits_BV)
    else:
        values, ids = candidates(logits_BV, temperature=temperature, top_k=top_k, top_p=top_p)
        if noise_BK is None:
            choice = jax.vmap(jax.random.categorical)(keys_B, values)
        else:  # categorical's own formula: argmax(noise + logits)
            choice = jnp.argmax(noise_BK + values, axis=-1)
        tokens = jnp.take_along_axis(ids, choice[:, None], axis=-1)[:, 0].astype(jnp.int32)
    return tokens, token_logprob(logits_BV, tokens)


def token_logprob(logits_BV: jax.Array, tokens_B: jax.Array) -> jax.Array:
    """[B] log-softmax of each row at its token, by `jax.nn.log_softmax`'s own formula
    ((x - max) - log sum exp(x - max)) without writing the [B, V] log-softmax out: only the
    chosen entry is needed."""
    top = jax.lax.stop_gradient(jnp.max(logits_BV, axis=-1, keepdims=True))
    shifted = jnp.take_along_axis(logits_BV, tokens_B[:, None], axis=-1) - top
    total = jnp.sum(jnp.exp(logits_BV - top), axis=-1, keepdims=True)
    return (shifted - jnp.log(total))[:, 0]
