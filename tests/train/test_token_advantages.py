"""`grpo.policy_loss` with one advantage per token ([B, T]) against hand-computed values, and
the per-sequence form ([B]) as its exact special case.

Two sequences, three positions, the second's last position masked out; eps 0.2.
Ratios [[1, 1.5, 0.5], [0.7, 1, 1.3]], advantages [[1, -1, 2], [-0.5, 0.5, 3]].
ppo_clip per token, -min(r A, clip(r, 0.8, 1.2) A):
    row 0: -1, 1.5 (r A = -1.5 < -1.2: unclipped), -1 (r A = 1 < 1.6)
    row 1: 0.4 (clip(0.7) A = -0.4 < -0.35: clipped, no gradient), -0.5, (masked)
sum -0.6 over 5 tokens; d/d logp of an unclipped term -r A is -r A:
    row 0: -1, 1.5, -1; row 1: 0, -0.5, 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxint.train import grpo

RATIO = np.array([[1.0, 1.5, 0.5], [0.7, 1.0, 1.3]], np.float32)
LOGP = np.array([[-1.0, -2.0, -0.5], [-0.3, -1.5, -0.7]], np.float32)
OLD = LOGP - np.log(RATIO)
ADV = np.array([[1.0, -1.0, 2.0], [-0.5, 0.5, 3.0]], np.float32)
MASK = np.array([[1, 1, 1], [1, 1, 0]], np.float32)
TERMS = np.array([[-1.0, 1.5, -1.0], [0.4, -0.5, 0.0]])
GRAD_TERMS = np.array([[-1.0, 1.5, -1.0], [0.0, -0.5, 0.0]])


def _value_and_grad(adv, logp=LOGP, old=OLD, mask=MASK, **kw):
    def f(lp):
        return grpo.policy_loss(lp, jnp.asarray(old), jnp.asarray(adv), jnp.asarray(mask), **kw)

    (loss, metrics), grad = jax.value_and_grad(f, has_aux=True)(jnp.asarray(logp))
    return float(loss), {k: float(v) for k, v in metrics.items()}, np.asarray(grad)


@pytest.mark.parametrize("aggregation, expected, grad_scale", [
    ("token_mean", -0.6 / 5, np.full((2, 1), 1 / 5)),
    ("seq_mean_token_mean", ((-0.5 / 3) + (-0.1 / 2)) / 2, np.array([[1 / 6], [1 / 4]])),
    ("seq_mean_token_sum_norm", -0.6 / 6, np.full((2, 1), 1 / 6)),
    ("sum", -0.6 / 2, np.full((2, 1), 1 / 2)),
])
def test_ppo_clip_per_token_hand_computed(aggregation, expected, grad_scale):
    loss, metrics, grad = _value_and_grad(ADV, aggregation=aggregation)
    assert loss == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(grad, GRAD_TERMS * grad_scale, rtol=1e-6, atol=1e-7)
    assert metrics["clip_frac"] == pytest.approx(1 / 5)


def test_reinforce_per_token_hand_computed():
    """-A * sg(min(r, 1.2)) * logp per token; weights [[1, 1.2, 0.5], [0.7, 1, -]]:
    row 0: -1*1*-1 + 1*1.2*-2 + -2*0.5*-0.5 = 1 - 2.4 + 0.5; row 1: -0.105 + 0.75."""
    loss, _, grad = _value_and_grad(ADV, loss="reinforce", eps_high=0.2, aggregation="sum")
    assert loss == pytest.approx((1 - 2.4 + 0.5 - 0.105 + 0.75) / 2, rel=1e-5)
    weights = np.array([[1.0, 1.2, 0.5], [0.7, 1.0, 0.0]])
    np.testing.assert_allclose(grad, -ADV * weights * MASK / 2, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss_name", ["ppo_clip", "reinforce"])
@pytest.mark.parametrize("aggregation", grpo.AGGREGATIONS)
def test_per_sequence_advantages_are_the_broadcast_special_case(loss_name, aggregation):
    """[B] advantages and the same values repeated over T give bit-identical losses,
    metrics and gradients."""
    rng = np.random.RandomState(0)
    old = rng.uniform(-3, -0.1, (4, 6)).astype(np.float32)
    logp = (old + rng.uniform(-0.4, 0.4, old.shape)).astype(np.float32)
    adv = rng.randn(4).astype(np.float32)
    mask = (np.arange(6)[None] < np.array([[6], [3], [1], [5]])).astype(np.float32)
    kw = dict(loss=loss_name, aggregation=aggregation)
    per_seq = _value_and_grad(adv, logp, old, mask, **kw)
    per_token = _value_and_grad(np.repeat(adv[:, None], 6, axis=1), logp, old, mask, **kw)
    assert per_seq[0] == per_token[0] and per_seq[1] == per_token[1]
    np.testing.assert_array_equal(per_seq[2], per_token[2])


def test_masked_tokens_ignore_their_advantage():
    """A huge advantage on a masked position changes nothing."""
    adv = ADV.copy()
    adv[1, 2] = 1e6
    assert _value_and_grad(adv)[:2] == _value_and_grad(ADV)[:2]


def test_advantages_of_another_shape_are_refused():
    with pytest.raises(ValueError, match=r"advantages must be \[B\] or \[B, T\]"):
        _value_and_grad(ADV[:, :2])
