"""GRPO's pure pieces: group advantages and the policy loss with its common variants.

Two surrogates (``loss``): PPO's clipped ratio (``ppo_clip``, the "standard GRPO" of the InT
paper's text) and the REINFORCE-style loss of the authors' released PipelineRL config
(``reinforce``): log pi times the advantage, weighted by the detached importance ratio
clipped from above.

Advantages are per sequence ([B], broadcast over its tokens: GRPO) or per token ([B, T]: the
credit-assignment methods of `jaxint.train.credit`, which give each token its own).

Shapes: B sequences, T completion positions (log-probs of tokens 1..T of each sequence),
groups of G samples of one prompt.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm", "sum")
# (x [B, T], mask [B, T]) -> [B, T]: a linear map of each row's per-token log-ratios (GRPO-λ's
# eligibility trace, `credit.grpo_lambda.trace`); it must act within a row only.
Trace = Callable[[jax.Array, jax.Array], jax.Array]
LOSSES = ("ppo_clip", "reinforce")
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


def zero_advantage_split(rewards: jax.Array) -> dict[str, jax.Array]:
    """Shares of groups with nothing to learn, split by why (the paper's RL plots: on hard
    problems most are all-wrong; an easy pool fills with all-correct ones).

    Args:
        rewards: [groups, G] 0/1 rewards.

    Returns:
        {"zero_adv_frac", "all_wrong_frac", "all_correct_frac"}: scalars; the first is the
        sum of the other two for 0/1 rewards.
    """
    return {
        "zero_adv_frac": jnp.mean(zero_advantage_groups(rewards)),
        "all_wrong_frac": jnp.mean(jnp.max(rewards, axis=1) <= 0),
        "all_correct_frac": jnp.mean(jnp.min(rewards, axis=1) >= 1),
    }


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
    if aggregation == "sum":
        # PipelineRL's "sum": each sequence's token sum, over the number of sequences in the
        # optimizer step (all rows; its `samples_per_step`), so a long sequence weighs more.
        num_seqs = per_token.shape[0] if seq_normalizer is None else seq_normalizer
        return jnp.sum(per_token * mask) / jnp.maximum(num_seqs, 1.0)
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")


def policy_loss(
    logp: jax.Array, old_logp: jax.Array, advantages: jax.Array, mask: jax.Array, *,
    eps_low: float = 0.2, eps_high: float = 0.2, aggregation: str = "token_mean",
    ref_logp: jax.Array | None = None, kl_coef: float = 0.0, kl_estimator: str = "k3",
    entropy: jax.Array | None = None, entropy_coef: float = 0.0,
    max_tokens: int | None = None, token_normalizer: jax.Array | float | None = None,
    seq_normalizer: jax.Array | float | None = None, loss: str = "ppo_clip",
    trace: Trace | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The policy-gradient loss (to minimise) and its metrics.

    Args:
        logp: [B, T] log-probs of the sampled tokens under the current parameters.
        old_logp: [B, T] the same under the parameters that were current before the
            update (recomputed, not the sampler's): the importance ratio's denominator.
        advantages: [B] one advantage per sequence (every token of it gets it), or [B, T]
            one per token, aligned with `logp` (entry t is the advantage of token t + 1).
        mask: [B, T] 1 on completion tokens that are trained.
        eps_low, eps_high: ppo_clip: the ratio is clipped to [1 - eps_low, 1 + eps_high]
            (DAPO decouples them; "clip-higher" keeps low-probability tokens explorable).
            reinforce: the detached ratio is clipped to [0, 1 + eps_high] (PipelineRL's
            `epsilon`; the InT release uses 4, so weights stop at 5); eps_low is unused.
        aggregation: "token_mean" (DAPO: every token weighs the same), "seq_mean_token_mean"
            (GRPO: each sequence weighs the same), "seq_mean_token_sum_norm" (Dr.GRPO:
            token sums over a constant `max_tokens`, no length bias), "sum" (PipelineRL:
            token sums over the number of sequences).
        ref_logp, kl_coef, kl_estimator: optional KL penalty towards a frozen reference.
        entropy, entropy_coef: optional entropy bonus ([B, T] token entropies).
        max_tokens: Dr.GRPO's constant normaliser (default T).
        token_normalizer, seq_normalizer: denominators of the whole batch when this call
            sees one micro-batch of it (gradient accumulation); default: this call's own
            (trained tokens; sequences with trained tokens for seq_mean_token_mean; all rows
            for the constant Dr.GRPO normaliser and "sum").
        loss: "ppo_clip": -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A) per token.
            "reinforce": -A * sg(min(r, 1 + eps_high)) * logp per token (sg: stop gradient),
            whose gradient is -A min(r, 1 + eps_high) grad logp: at r = 1 the same as
            ppo_clip's, but never zeroed by the clip, only capped.
        trace: GRPO-λ: the log-ratio of token t becomes trace(log r)[t], a weighted sum of
            the log-ratios of tokens up to t (masked tokens count as 0), so the ratio, its
            clip and its gradient carry the earlier tokens' too; reinforce's log-prob term
            becomes sg(logp) + trace(logp - sg(logp)) (same value, the traced gradient).
            None: each token's own ratio.

    Returns:
        (scalar loss, metrics: clip_frac, ratio_mean, kl, entropy, pg_loss).
    """
    mask = mask.astype(jnp.float32)
    adv = advantages.astype(jnp.float32)
    if adv.ndim == 1:
        adv = adv[:, None]
    elif adv.shape != logp.shape:
        raise ValueError(f"advantages must be [B] or [B, T] = {logp.shape}, got {adv.shape}")
    log_ratio = logp - old_logp
    lp_term = logp
    if trace is not None:
        log_ratio = trace(log_ratio * mask, mask)
        lp_term = jax.lax.stop_gradient(logp) + trace(
            (logp - jax.lax.stop_gradient(logp)) * mask, mask)
    ratio = jnp.exp(log_ratio)
    per_token, clipped = _surrogate(loss, lp_term, ratio, adv, eps_low, eps_high)
    agg = lambda x: _aggregate(  # noqa: E731
        x, mask, aggregation, token_normalizer=token_normalizer,
        seq_normalizer=seq_normalizer, max_tokens=max_tokens,
    )
    pg_loss = agg(per_token)
    total = pg_loss
    n_tokens = jnp.maximum(jnp.sum(mask), 1.0)
    metrics = {
        "pg_loss": pg_loss,
        "clip_frac": jnp.sum(clipped * mask) / n_tokens,
        "ratio_mean": jnp.sum(ratio * mask) / n_tokens,
    }
    if ref_logp is not None and kl_coef:
        kl = kl_penalty(logp, ref_logp, kl_estimator)
        total = total + kl_coef * agg(kl)
        metrics["kl"] = jnp.sum(kl * mask) / n_tokens
    if entropy is not None:
        metrics["entropy"] = jnp.sum(entropy * mask) / n_tokens
        if entropy_coef:
            total = total - entropy_coef * agg(entropy)
    return total, metrics


def _surrogate(
    loss: str, logp: jax.Array, ratio: jax.Array, adv: jax.Array, eps_low: float,
    eps_high: float,
) -> tuple[jax.Array, jax.Array]:
    """(per-token loss [B, T], [B, T] bool: the clip changed that token's term)."""
    if loss == "ppo_clip":
        clipped_ratio = jnp.clip(ratio, 1.0 - eps_low, 1.0 + eps_high)
        return (-jnp.minimum(ratio * adv, clipped_ratio * adv),
                ratio * adv > clipped_ratio * adv)
    if loss == "reinforce":
        weight = jax.lax.stop_gradient(jnp.clip(ratio, 0.0, 1.0 + eps_high))
        return -adv * weight * logp, ratio > 1.0 + eps_high
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
