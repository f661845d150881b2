"""GRPO's pure pieces: group advantages and the clipped policy loss with its common variants.

Shapes: B sequences, T completion positions (log-probs of tokens 1..T of each sequence),
groups of G samples of one prompt.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")
KL_ESTIMATORS = ("k1", "k3")


def advantages(
    rewards: jax.Array, *, std_normalize: bool = False, batch_normalize: bool = False,
    eps: float = 1e-6,
) -> jax.Array:
    """Group-relative advantages.

    Args:
        rewards: [groups, G] rewards of G samples of each prompt.
        std_normalize: divide by the group's standard deviation (classic GRPO). The InT
            paper does not (advantage = reward - group mean), which avoids amplifying
            near-zero differences in almost-solved or almost-unsolved groups.
        batch_normalize: then divide by the standard deviation over the whole batch.

    Returns:
        [groups, G]; a group whose rewards are all equal gets exactly 0.
    """
    rewards = rewards.astype(jnp.float32)
    adv = rewards - jnp.mean(rewards, axis=1, keepdims=True)
    if std_normalize:
        adv = adv / (jnp.std(rewards, axis=1, keepdims=True) + eps)
    if batch_normalize:
        adv = adv / (jnp.std(adv) + eps)
    return adv


def zero_advantage_groups(rewards: jax.Array) -> jax.Array:
    """[groups] bool: all samples of the group got the same reward (nothing to learn)."""
    return jnp.all(rewards == rewards[:, :1], axis=1)


def kl_penalty(logp: jax.Array, ref_logp: jax.Array, estimator: str) -> jax.Array:
    """Per-token KL(pi || ref) estimate from samples of pi.

    k1 = log pi - log ref (unbiased, can be negative); k3 = r - log r - 1 with
    r = ref / pi (unbiased, always >= 0, lower variance; Schulman's estimator).
    """
    if estimator == "k1":
        return logp - ref_logp
    if estimator == "k3":
        log_r = ref_logp - logp
        return jnp.exp(log_r) - log_r - 1.0
    raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")


def _aggregate(
    per_token: jax.Array, mask: jax.Array, aggregation: str, *,
    token_normalizer: jax.Array | float | None, seq_normalizer: jax.Array | float | None,
    max_tokens: int | None,
) -> jax.Array:
    if aggregation == "token_mean":
        denom = jnp.sum(mask) if token_normalizer is None else token_normalizer
        return jnp.sum(per_token * mask) / jnp.maximum(denom, 1.0)
    if aggregation == "seq_mean_token_mean":
        # The mean over sequences that have trained tokens (masked-out ones are not there).
        num_seqs = (jnp.sum(jnp.any(mask > 0, axis=1)) if seq_normalizer is None
                    else seq_normalizer)
        seq = jnp.sum(per_token * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1.0)
        return jnp.sum(seq) / jnp.maximum(num_seqs, 1.0)
    if aggregation == "seq_mean_token_sum_norm":
        # Dr.GRPO: a constant normaliser, all rows x max_tokens, whatever the masks are.
        num_seqs = per_token.shape[0] if seq_normalizer is None else seq_normalizer
        norm = per_token.shape[1] if max_tokens is None else max_tokens
        return jnp.sum(per_token * mask) / (jnp.maximum(num_seqs, 1.0) * norm)
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")


def policy_loss(
    logp: jax.Array, old_logp: jax.Array, advantages: jax.Array, mask: jax.Array, *,
    eps_low: float = 0.2, eps_high: float = 0.2, aggregation: str = "token_mean",
    ref_logp: jax.Array | None = None, kl_coef: float = 0.0, kl_estimator: str = "k3",
    entropy: jax.Array | None = None, entropy_coef: float = 0.0,
    max_tokens: int | None = None, token_normalizer: jax.Array | float | None = None,
    seq_normalizer: jax.Array | float | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The clipped surrogate loss (to minimise) and its metrics.

    Args:
        logp: [B, T] log-probs of the sampled tokens under the current parameters.
        old_logp: [B, T] the same under the parameters that were current before the
            update (recomputed, not the sampler's): the importance ratio's denominator.
        advantages: [B] one advantage per sequence.
        mask: [B, T] 1 on completion tokens that are trained.
        eps_low, eps_high: the ratio is clipped to [1 - eps_low, 1 + eps_high] (DAPO
            decouples them; "clip-higher" keeps low-probability tokens explorable).
        aggregation: "token_mean" (DAPO: every token weighs the same), "seq_mean_token_mean"
            (GRPO: each sequence weighs the same), "seq_mean_token_sum_norm" (Dr.GRPO:
            token sums over a constant `max_tokens`, no length bias).
        ref_logp, kl_coef, kl_estimator: optional KL penalty towards a frozen reference.
        entropy, entropy_coef: optional entropy bonus ([B, T] token entropies).
        max_tokens: Dr.GRPO's constant normaliser (default T).
        token_normalizer, seq_normalizer: denominators of the whole batch when this call
            sees one micro-batch of it (gradient accumulation); default: this call's own
            (trained tokens; sequences with trained tokens for seq_mean_token_mean; all rows
            for the constant Dr.GRPO normaliser).

    Returns:
        (scalar loss, metrics: clip_frac, ratio_mean, kl, entropy, pg_loss).
    """
    mask = mask.astype(jnp.float32)
    adv = advantages.astype(jnp.float32)[:, None]
    ratio = jnp.exp(logp - old_logp)
    clipped_ratio = jnp.clip(ratio, 1.0 - eps_low, 1.0 + eps_high)
    per_token = -jnp.minimum(ratio * adv, clipped_ratio * adv)
    agg = lambda x: _aggregate(  # noqa: E731
        x, mask, aggregation, token_normalizer=token_normalizer,
        seq_normalizer=seq_normalizer, max_tokens=max_tokens,
    )
    pg_loss = agg(per_token)
    loss = pg_loss
    n_tokens = jnp.maximum(jnp.sum(mask), 1.0)
    metrics = {
        "pg_loss": pg_loss,
        "clip_frac": jnp.sum((ratio * adv > clipped_ratio * adv) * mask) / n_tokens,
        "ratio_mean": jnp.sum(ratio * mask) / n_tokens,
    }
    if ref_logp is not None and kl_coef:
        kl = kl_penalty(logp, ref_logp, kl_estimator)
        loss = loss + kl_coef * agg(kl)
        metrics["kl"] = jnp.sum(kl * mask) / n_tokens
    if entropy is not None:
        metrics["entropy"] = jnp.sum(entropy * mask) / n_tokens
        if entropy_coef:
            loss = loss - entropy_coef * agg(entropy)
    return loss, metrics
