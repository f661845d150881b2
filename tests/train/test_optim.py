"""The learning-rate schedule and the AdamW chain against hand-computed values, and the
train/optimizer configs' validation."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxint.sampling import config as sampling_config
from jaxint.train import config as train_config
from jaxint.train import optim


@pytest.mark.parametrize("step, lr", [
    (0, 0.0), (5, 5e-4), (10, 1e-3),  # linear warmup over 10% of 100 steps
    (40, 1e-4 + 9e-4 * 0.5 * (1 + math.cos(math.pi * 30 / 90))),  # = 7.75e-4
    (55, 5.5e-4),  # half-way through the 90 cosine steps
    (100, 1e-4), (150, 1e-4),  # the floor, min_lr_ratio * lr, and it stays there
])
def test_warmup_then_cosine_to_min_ratio(step, lr):
    """lr 1e-3, warmup 10% of 100 steps from 0, then cosine down to 0.1 * lr at step 100."""
    cfg = train_config.OptimizerConfig(lr=1e-3, warmup_ratio=0.1, min_lr_ratio=0.1)
    np.testing.assert_allclose(float(optim.schedule(cfg, 100)(step)), lr, rtol=1e-5, atol=1e-12)


def test_no_warmup_starts_at_peak():
    """warmup_ratio 0: the first step already uses the full lr; min ratio 1 keeps it."""
    cfg = train_config.OptimizerConfig(lr=2e-3, warmup_ratio=0.0, min_lr_ratio=1.0)
    sched = optim.schedule(cfg, 7)
    assert [float(sched(s)) for s in (0, 3, 7)] == pytest.approx([2e-3] * 3)


def test_adamw_step_with_clipping_hand_computed():
    """One step: clip g = [3, 4] (norm 5) to norm 1 -> [0.6, 0.8]; Adam's bias-corrected
    first step is g / (|g| + eps); decoupled weight decay adds wd * p; times lr. With eps
    = 1 the step depends on the clipped magnitude, so clipping is visible."""
    cfg = train_config.OptimizerConfig(lr=0.1, warmup_ratio=0.0, min_lr_ratio=1.0, eps=1.0,
                                       weight_decay=0.5, grad_clip=1.0)
    p, g = jnp.asarray([1.0, -2.0]), jnp.asarray([3.0, 4.0])
    expected = [1.0 - 0.1 * (0.6 / 1.6 + 0.5 * 1.0), -2.0 - 0.1 * (0.8 / 1.8 + 0.5 * -2.0)]
    tx = optim.make(cfg, 10)
    updates, _ = tx.update(g, tx.init(p), p)
    np.testing.assert_allclose(optax.apply_updates(p, updates), expected, rtol=1e-6)
    # grad_clip 0 disables clipping: g / (|g| + 1) = [3/4, 4/5].
    tx = optim.make(train_config.OptimizerConfig(lr=0.1, warmup_ratio=0.0, min_lr_ratio=1.0,
                                                 eps=1.0, weight_decay=0.5, grad_clip=0.0), 10)
    updates, _ = tx.update(g, tx.init(p), p)
    expected = [1.0 - 0.1 * (0.75 + 0.5), -2.0 - 0.1 * (0.8 - 1.0)]
    np.testing.assert_allclose(optax.apply_updates(p, updates), expected, rtol=1e-6)


def test_bfloat16_first_moment():
    """mu_dtype=bfloat16 stores Adam's first moment in bfloat16 (half its memory), keeps the
    second in float32, and the first step is still g / (|g| + eps) to bfloat16 precision."""
    cfg = train_config.OptimizerConfig(lr=0.1, warmup_ratio=0.0, min_lr_ratio=1.0, eps=1.0,
                                       grad_clip=0.0, mu_dtype="bfloat16")
    p, g = jnp.asarray([1.0, -2.0]), jnp.asarray([3.0, 4.0])
    tx = optim.make(cfg, 10)
    state = tx.init(p)
    adam = state[0][0]  # chain(adamw = chain(scale_by_adam, ...))
    assert adam.mu.dtype == jnp.bfloat16 and adam.nu.dtype == jnp.float32
    updates, _ = tx.update(g, state, p)
    np.testing.assert_allclose(optax.apply_updates(p, updates), [1.0 - 0.075, -2.0 - 0.08],
                               rtol=1e-2)


@pytest.mark.parametrize("make, field", [
    (lambda: train_config.OptimizerConfig(lr=0.0), "optimizer.lr"),
    (lambda: train_config.OptimizerConfig(warmup_ratio=1.0), "optimizer.warmup_ratio"),
    (lambda: train_config.OptimizerConfig(min_lr_ratio=1.5), "optimizer.min_lr_ratio"),
    (lambda: train_config.OptimizerConfig(grad_clip=-1.0), "optimizer.grad_clip"),
    (lambda: train_config.OptimizerConfig(mu_dtype="float16"), "optimizer.mu_dtype"),
    (lambda: train_config.CheckpointConfig(every=0), "checkpoint.every"),
    (lambda: train_config.SFTConfig(batch_size=8, micro_batch_size=3), "sft.micro_batch_size"),
    (lambda: train_config.SFTConfig(batching="bucket"), "sft.batching"),
    (lambda: train_config.SFTConfig(eval_fraction=1.0), "sft.eval_fraction"),
    (lambda: train_config.GRPOConfig(prompts_per_step=32, mini_batch_prompts=5),
     "rl.mini_batch_prompts"),
    (lambda: train_config.GRPOConfig(mini_batch_prompts=2, samples_per_prompt=4,
                                     prompts_per_step=4, micro_batch_size=3),
     "rl.micro_batch_size"),
    (lambda: train_config.GRPOConfig(aggregation="mean"), "rl.aggregation"),
    (lambda: train_config.GRPOConfig(kl_estimator="k2"), "rl.kl_estimator"),
    (lambda: train_config.GRPOConfig(sampling=sampling_config.SamplingConfig(temperature=0.0)),
     "rl.sampling.temperature"),
    (lambda: train_config.GRPOConfig(sampling=sampling_config.SamplingConfig(n=2)),
     "rl.sampling.n is set by rl.samples_per_prompt"),
])
def test_invalid_configs_name_the_field(make, field):
    """Validation errors name the offending field."""
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        make()


def test_accumulation_counts():
    """Micro-steps per optimizer step: batch / micro batch (SFT), mini-batch sequences /
    micro batch (GRPO)."""
    assert train_config.SFTConfig(batch_size=64, micro_batch_size=16).accumulation == 4
    assert train_config.SFTConfig(batch_size=64).accumulation == 1
    grpo = train_config.GRPOConfig(prompts_per_step=8, samples_per_prompt=4, mini_batch_prompts=4,
                                   micro_batch_size=8)
    assert grpo.accumulation == 2
