"""The released RL objective (PipelineRL's `reinforce` loss, `aggregate_loss: sum`, epsilon 4)
and the all-wrong / all-correct split of zero-advantage groups, against hand-computed values.

PipelineRL (`pipelinerl/finetune/rl/__init__.py`, the `reinforce` case):
    ratio = clamp(exp(new - old), 0, 1 + epsilon)
    loss  = -sum_tokens(new_logprobs * advantage * ratio.detach()) / samples_per_step
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxint.train import config as train_config
from jaxint.train import grpo

# Two sequences, three positions; the second's last position is not trained.
LOGP = np.array([[-1.0, -2.0, -0.5], [-0.3, -1.5, -0.7]], np.float32)
RATIO = np.array([[1.0, 6.0, 0.5], [2.0, 1.0, 1.0]], np.float32)
OLD = LOGP - np.log(RATIO)
ADV = np.array([0.5, -1.0], np.float32)
MASK = np.array([[1, 1, 1], [1, 1, 0]], np.float32)
# Weights min(r, 5): [1, 5, 0.5] and [2, 1, 1]; -A * w * logp per token:
#   row 0: 0.5, 5.0, 0.125 (sum 5.625); row 1: -0.6, -1.5, (masked) (sum -2.1)
TOKEN_TERMS_SUM = 5.625 - 2.1


def _value_and_grad(**kw):
    def f(lp):
        return grpo.policy_loss(lp, jnp.asarray(OLD), jnp.asarray(ADV), jnp.asarray(MASK),
                                loss="reinforce", eps_high=4.0, **kw)

    (loss, metrics), grad = jax.value_and_grad(f, has_aux=True)(jnp.asarray(LOGP))
    return float(loss), {k: float(v) for k, v in metrics.items()}, np.asarray(grad)


def test_reinforce_sum_hand_computed():
    """Summed over tokens, divided by the 2 sequences: 3.525 / 2; the gradient is
    -A * min(r, 5) / 2 on trained tokens (the ratio is a detached weight)."""
    loss, metrics, grad = _value_and_grad(aggregation="sum")
    assert loss == pytest.approx(TOKEN_TERMS_SUM / 2, rel=1e-6)
    expected = np.array([[-0.25, -1.25, -0.125], [1.0, 0.5, 0.0]])
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)
    assert metrics["clip_frac"] == pytest.approx(1 / 5)  # r = 6 > 5 on 1 of 5 tokens


def test_reinforce_sum_uses_the_whole_step_normalizer():
    """A micro-batch of a 4-sequence optimizer step divides by 4, not by its own 2."""
    loss, _, _ = _value_and_grad(aggregation="sum", seq_normalizer=4.0)
    assert loss == pytest.approx(TOKEN_TERMS_SUM / 4, rel=1e-6)


def test_reinforce_token_mean_hand_computed():
    loss, _, _ = _value_and_grad(aggregation="token_mean")
    assert loss == pytest.approx(TOKEN_TERMS_SUM / 5, rel=1e-6)


def test_reinforce_caps_where_ppo_clip_zeroes():
    """r = 6 with A > 0: PPO-clip (eps 0.2) gives that token no gradient; the released loss
    keeps it with weight 1 + epsilon = 5."""
    adv, old = jnp.asarray([1.0]), jnp.asarray([[-1.0 - math.log(6.0)]])
    mask, lp = jnp.ones((1, 1)), jnp.asarray([[-1.0]])

    def grad(kind):
        f = lambda x: grpo.policy_loss(x, old, adv, mask, loss=kind, eps_high=4.0 if  # noqa: E731
                                       kind == "reinforce" else 0.2, aggregation="sum")[0]
        return float(jax.grad(f)(lp)[0, 0])

    assert grad("ppo_clip") == 0.0
    assert grad("reinforce") == pytest.approx(-5.0)


def test_unknown_loss_raises():
    with pytest.raises(ValueError, match="loss must be one of"):
        grpo.policy_loss(jnp.zeros((1, 1)), jnp.zeros((1, 1)), jnp.zeros(1), jnp.ones((1, 1)),
                         loss="dpo")
    with pytest.raises(ValueError, match="rl.loss must be one of ppo_clip|reinforce"):
        train_config.GRPOConfig(loss="dpo")
    with pytest.raises(ValueError, match="rl.aggregation must be one of"):
        train_config.GRPOConfig(aggregation="mean")


def test_zero_advantage_split_hand_computed():
    """4 groups: mixed, all wrong, all correct, all wrong -> zero 3/4, wrong 2/4, correct 1/4."""
    rewards = jnp.asarray([[1, 0], [0, 0], [1, 1], [0, 0]], jnp.float32)
    got = {k: float(v) for k, v in grpo.zero_advantage_split(rewards).items()}
    assert got == {"zero_adv_frac": 0.75, "all_wrong_frac": 0.5, "all_correct_frac": 0.25}
