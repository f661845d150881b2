"""GRPO-λ (Parthasarathi, Reymond et al., arXiv 2510.00194): λ-returns without a critic, as an
eligibility trace of token log-probabilities applied after each sequence is generated.

With no value network the TD errors of a response are all the sequence's group advantage A,
and the backward view of the λ-return gradient is sum_t A e_t with the eligibility trace
e_t = sum_{j <= t} w(t, j) grad log pi(y_j). GRPO-λ writes that trace on log-probabilities:
the importance ratio of token t becomes

    r_t = exp( sum_{j <= t} w(t, j) (log pi(y_j) - log pi_old(y_j)) ),   w(t, t) = 1,

clipped and multiplied by A as in GRPO, so on-policy (r = 1) token j's gradient weight is
A * sum_{t >= j} w(t, j): early tokens collect credit from every later one. Weights (j, t:
positions within the response):

    recent:  w(t, j) = (γλ)^(t - j)                          the classic trace
    both:    w(t, j) = max((γλ)^(t - j), (γλ)^j)             the start keeps weight too
    epsilon: w(t, j) = max(w(t, j), ε)                       no weight below ε

and negative advantages are clamped to -0.1 (`advantage_min`): large negative advantages
on accumulated ratios destabilise training.

Sources: the paper's abstract (eligibility traces "using token-level log-probabilities
applied after each sequence generation", "a critic-free approximation of the temporal-
difference error", "variations for the weighting"); its method section was not readable
through the search tool, so the trace formula, the `both` variant (its Sec. 3.2, Eq. 2), the
ε floor and the -0.1 clamp come from two public third-party readings of it (a summary of the
paper's equations and an implementation that cites Eq. 2), which agree with each other. The
paper's own defaults for γ, λ and ε were not found; ours are in `config.GRPOLambdaConfig`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxint.train import config as train_config
from jaxint.train import grpo
from jaxint.train.credit import config as credit_config
from jaxint.train.credit import types

BLOCK = 128  # trace rows computed per step of the map: [B, BLOCK, T] weights at a time


def advantages(outcome: np.ndarray, advantage_min: float | None) -> np.ndarray:
    """[groups, G] group advantages with negatives clamped to `advantage_min` (None: kept)."""
    return outcome if advantage_min is None else np.maximum(outcome, advantage_min)


def weights(t: jax.Array, j: jax.Array, start: jax.Array, *, decay: float, style: str,
            epsilon: float) -> jax.Array:
    """w(t, j) for absolute positions t [..., C, 1], j [..., 1, T] of rows starting at `start`
    (broadcast): 0 above the diagonal (j > t), 1 on it."""
    lag = t - j
    w = decay ** jnp.maximum(lag, 0).astype(jnp.float32)
    if style == "both":
        w = jnp.maximum(w, decay ** jnp.maximum(j - start, 0).astype(jnp.float32))
    if epsilon > 0:
        w = jnp.maximum(w, epsilon)
    return jnp.where(lag > 0, w, jnp.where(lag == 0, 1.0, 0.0))


def trace(x: jax.Array, mask: jax.Array, *, decay: float, style: str = "recent",
          epsilon: float = 0.0, block: int = BLOCK) -> jax.Array:
    """out[b, t] = sum_{j <= t} w(t, j) x[b, j] over the trained positions of each row.

    Args:
        x: [B, T] per-token values (log-ratios); positions where `mask` is 0 count as 0.
        mask: [B, T] 1 on the response's trained tokens; the first one is position 0 of the
            `both` weights.
        decay: γλ.
        style, epsilon: see the module docstring.
        block: rows of the [T, T] weights built at once (the weights are recomputed in the
            backward pass, never stored).

    Returns:
        [B, T], 0 where `mask` is 0.
    """
    B, T = x.shape
    x = x * mask
    n = -(-T // block)
    w_of = functools.partial(weights, decay=decay, style=style, epsilon=epsilon)
    if style == "both":  # weights depend on where each row's response starts: [B, C, T]
        start, j, spec = jnp.argmax(mask > 0, axis=1)[:, None, None], jnp.arange(T)[None], "bcj"
    else:  # the same [C, T] weights for every row
        start, j, spec = jnp.zeros((), jnp.int32), jnp.arange(T)[None], "cj"

    @jax.checkpoint
    def rows(t0: jax.Array) -> jax.Array:
        t = (t0 + jnp.arange(block))[:, None]
        return jnp.einsum(f"{spec},bj->bc", w_of(t, j, start), x)

    out = jax.lax.map(rows, jnp.arange(n) * block)  # [n, B, block]
    return jnp.moveaxis(out, 0, 1).reshape(B, n * block)[:, :T] * mask


def make_trace(cfg: credit_config.GRPOLambdaConfig) -> grpo.Trace:
    """The trace `grpo.policy_loss` applies to its log-ratios for these settings."""
    return functools.partial(trace, decay=cfg.decay, style=cfg.trace, epsilon=cfg.epsilon)


def assign(scored: types.Scored, passes: types.Passes,
           cfg: train_config.GRPOConfig) -> types.Credit:
    """One advantage per sequence, negatives clamped; the trace acts in the update (`make_trace`
    in `grpo_step`), on the log-probs the update computes anyway: no extra pass."""
    del passes
    return types.Credit(advantages(scored.outcome, cfg.grpo_lambda.advantage_min))
