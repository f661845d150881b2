"""The optimizer and learning-rate schedule shared by SFT and GRPO."""

from __future__ import annotations

import optax

from jaxint.train import config as train_config


def schedule(cfg: train_config.OptimizerConfig, total_steps: int) -> optax.Schedule:
    """Linear warmup over `warmup_ratio` of the steps, then cosine to `min_lr_ratio * lr`."""
    total_steps = max(1, total_steps)
    warmup = int(cfg.warmup_ratio * total_steps)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else cfg.lr, peak_value=cfg.lr, warmup_steps=warmup,
        decay_steps=total_steps, end_value=cfg.lr * cfg.min_lr_ratio,
    )


def make(cfg: train_config.OptimizerConfig, total_steps: int) -> optax.GradientTransformation:
    """Global-norm clipping then AdamW; optimizer moments stay in the parameters' dtype
    (float32 by default: bfloat16 compute, float32 master weights and moments), except the
    first moment when `cfg.mu_dtype` is set (the second moment's range needs float32)."""
    parts = [optax.clip_by_global_norm(cfg.grad_clip)] if cfg.grad_clip else []
    parts.append(optax.adamw(
        schedule(cfg, total_steps), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
        weight_decay=cfg.weight_decay, mu_dtype=cfg.mu_dtype,
    ))
    return optax.chain(*parts)
