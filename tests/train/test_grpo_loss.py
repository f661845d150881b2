"""GRPO's pure pieces against hand-computed values: group advantages, the clipped policy
loss and its aggregations, clip boundaries, KL estimators, the entropy bonus, accumulation
normalisers, the REINFORCE limit and zero-advantage groups."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxint.train import grpo

AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")


STATIC = ("eps_low", "eps_high", "aggregation", "kl_coef", "kl_estimator", "entropy_coef",
          "max_tokens")


@functools.partial(jax.jit, static_argnames=STATIC)
def _loss_and_grad(logp, old_logp, adv, mask, **kw):
    """((loss, metrics), d loss / d logp); one compile per shape and option set (the
    whole function jitted is much cheaper on CPU than op-by-op dispatch)."""
    f = lambda lp: grpo.policy_loss(lp, old_logp, adv, mask, **kw)  # noqa: E731
    return jax.value_and_grad(f, has_aux=True)(logp)


def _evaluate(logp, old_logp, adv, mask, **kw):
    arrays = {k: (None if v is None else jnp.asarray(v, jnp.float32))
              for k, v in kw.items() if k not in STATIC}
    static = {k: v for k, v in kw.items() if k in STATIC}
    (loss, metrics), grad = _loss_and_grad(
        jnp.asarray(logp, jnp.float32), jnp.asarray(old_logp, jnp.float32),
        jnp.asarray(adv, jnp.float32), jnp.asarray(mask, jnp.float32), **arrays, **static)
    return float(loss), {k: float(v) for k, v in metrics.items()}, np.asarray(grad)


def _loss(*args, **kw):
    return _evaluate(*args, **kw)[:2]


def _grad_logp(*args, **kw) -> np.ndarray:
    """d loss / d logp [B, T]."""
    return _evaluate(*args, **kw)[2]


# ----------------------------------------------------------------------------- advantages


REWARDS = np.array([[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 1]], np.float32)


def test_advantages_reward_minus_group_mean():
    """Default (the InT paper): reward - group mean, no std division."""
    expected = [[0.5, -0.5, -0.5, 0.5], [0, 0, 0, 0], [-0.25, -0.25, -0.25, 0.75]]
    np.testing.assert_allclose(grpo.advantages(jnp.asarray(REWARDS)), expected, atol=1e-7)


def test_advantages_std_normalized():
    """Classic GRPO: divided by the group's (population) std + 1e-6; an all-equal group
    stays exactly 0 instead of 0/0."""
    s3 = math.sqrt(0.75 * 0.25)  # std of [0, 0, 0, 1]
    expected = [[0.5 / (0.5 + 1e-6), -0.5 / (0.5 + 1e-6)] * 2, [0.0] * 4,
                [-0.25 / (s3 + 1e-6)] * 3 + [0.75 / (s3 + 1e-6)]]
    expected[0] = [expected[0][0], expected[0][1], expected[0][1], expected[0][0]]
    got = np.asarray(grpo.advantages(jnp.asarray(REWARDS), std_normalize=True))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert np.all(got[1] == 0.0)


def test_advantages_batch_normalized():
    """Batch normalisation divides the (mean-subtracted) advantages by their std over the
    whole batch: here mean 0, variance (4 * 0.25 + 3 * 0.0625 + 0.5625) / 12 = 1.75 / 12."""
    std = math.sqrt(1.75 / 12)
    base = np.array([[0.5, -0.5, -0.5, 0.5], [0, 0, 0, 0], [-0.25, -0.25, -0.25, 0.75]])
    got = grpo.advantages(jnp.asarray(REWARDS), batch_normalize=True)
    np.testing.assert_allclose(got, base / (std + 1e-6), rtol=1e-6)


def test_zero_advantage_groups():
    """Groups whose rewards are all equal (all right or all wrong) are flagged."""
    rewards = jnp.asarray([[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]], jnp.float32)
    assert grpo.zero_advantage_groups(rewards).tolist() == [False, True, True]


# ----------------------------------------------------------------------------- policy loss

# Ratios r = exp(logp - old_logp) chosen directly; A = [1, -0.5]; eps 0.2 both sides.
RATIOS = np.array([[1.0, 1.1, 0.9], [1.5, 1.0, 0.5]])
LOGP, OLD = np.log(RATIOS), np.zeros_like(RATIOS)
ADV = np.array([1.0, -0.5])
MASK = np.array([[1, 1, 0], [1, 1, 1]], np.float32)
# Per-token -min(r A, clip(r) A): row 0 -> -1.0, -1.1, (masked); row 1 -> 0.75 (r A =
# -0.75 < clip A = -0.6), 0.5, 0.4 (r A = -0.25 > clip A = -0.4: clipped). Sum -0.45.
HAND = {
    "token_mean": -0.45 / 5,
    "seq_mean_token_mean": ((-2.1 / 2) + (1.65 / 3)) / 2,
    "seq_mean_token_sum_norm": -0.45 / (2 * 3),
}


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_policy_loss_aggregations_hand_computed(aggregation):
    """Each aggregation against the hand-computed value; metrics: one clipped token of 5,
    mean ratio (1 + 1.1 + 1.5 + 1 + 0.5) / 5."""
    loss, metrics = _loss(LOGP, OLD, ADV, MASK, aggregation=aggregation)
    np.testing.assert_allclose(loss, HAND[aggregation], rtol=1e-6)
    np.testing.assert_allclose(metrics["pg_loss"], HAND[aggregation], rtol=1e-6)
    np.testing.assert_allclose(metrics["clip_frac"], 0.2, rtol=1e-6)
    np.testing.assert_allclose(metrics["ratio_mean"], 5.1 / 5, rtol=1e-6)
    assert "kl" not in metrics and "entropy" not in metrics


def test_dr_grpo_constant_normalizer():
    """Dr.GRPO divides the token sum by num_seqs * max_tokens (a constant), not by T."""
    loss, _ = _loss(LOGP, OLD, ADV, MASK, aggregation="seq_mean_token_sum_norm", max_tokens=10)
    np.testing.assert_allclose(loss, -0.45 / (2 * 10), rtol=1e-6)


def test_unknown_options_raise():
    with pytest.raises(ValueError, match="aggregation"):
        _loss(LOGP, OLD, ADV, MASK, aggregation="mean")
    with pytest.raises(ValueError, match="kl_estimator"):
        _loss(LOGP, OLD, ADV, MASK, ref_logp=jnp.zeros((2, 3)), kl_coef=0.1, kl_estimator="k2")


def test_clip_boundaries_positive_and_negative_advantages():
    """eps_low 0.2, eps_high 0.28, one token per sequence, token mean over 8. For A > 0 the
    ratio is capped at 1.28 (1.27 passes, 1.29 is clipped: zero gradient) and never floored
    (0.79 keeps its gradient); for A < 0 it is floored at 0.8 (0.81 passes, 0.79 is clipped)
    and never capped (1.29 keeps its gradient). Unclipped gradient: -A r / 8."""
    r = np.array([1.27, 1.29, 0.79, 0.81, 0.81, 0.79, 1.29, 1.27])
    adv = np.array([1, 1, 1, 1, -1, -1, -1, -1], np.float64)
    clipped = np.array([0, 1, 0, 0, 0, 1, 0, 0], bool)
    per_token = np.array([-1.27, -1.28, -0.79, -0.81, 0.81, 0.80, 1.29, 1.27])
    logp, old, mask = np.log(r)[:, None], np.zeros((8, 1)), np.ones((8, 1), np.float32)
    kw = dict(eps_low=0.2, eps_high=0.28)
    loss, metrics = _loss(logp, old, adv, mask, **kw)
    np.testing.assert_allclose(loss, per_token.mean(), atol=1e-6)  # float32 ratios
    np.testing.assert_allclose(metrics["clip_frac"], 2 / 8)
    grad = _grad_logp(logp, old, adv, mask, **kw)[:, 0]
    np.testing.assert_allclose(grad, np.where(clipped, 0.0, -adv * r / 8), rtol=1e-5)
    assert np.all(grad[clipped] == 0.0)


LP_KL = np.array([[-1.0, -2.0]])
REF_KL = np.array([[-1.5, -1.0]])


@pytest.mark.parametrize("estimator, per_token, grad", [
    # k1 = logp - ref: [0.5, -1.0]; d/dlogp = 1.
    ("k1", [0.5, -1.0], [1.0, 1.0]),
    # k3 = exp(ref - logp) - (ref - logp) - 1: [e^-0.5 - 0.5, e - 2]; d/dlogp = 1 - e^(ref-logp).
    ("k3", [math.exp(-0.5) - 0.5, math.e - 2.0], [1 - math.exp(-0.5), 1 - math.e]),
])
def test_kl_penalty_estimators(estimator, per_token, grad):
    """k1 and k3 per token, and the loss term kl_coef * token-mean KL with its gradient
    (zero advantages, so the policy term is 0)."""
    np.testing.assert_allclose(
        grpo.kl_penalty(jnp.asarray(LP_KL), jnp.asarray(REF_KL), estimator)[0], per_token,
        rtol=1e-6)
    kw = dict(ref_logp=jnp.asarray(REF_KL, jnp.float32), kl_coef=0.1, kl_estimator=estimator)
    loss, metrics = _loss(LP_KL, LP_KL, [0.0], np.ones((1, 2)), **kw)
    np.testing.assert_allclose(metrics["kl"], np.mean(per_token), rtol=1e-6)
    np.testing.assert_allclose(loss, 0.1 * np.mean(per_token), rtol=1e-6)
    np.testing.assert_allclose(_grad_logp(LP_KL, LP_KL, [0.0], np.ones((1, 2)), **kw)[0],
                               0.1 * np.asarray(grad) / 2, rtol=1e-5)


def test_k3_is_zero_with_zero_gradient_at_the_reference():
    """KL(pi || ref) estimates vanish, with their gradient, when pi == ref."""
    lp = jnp.asarray([[-0.3, -2.0, -5.0]])
    kw = dict(ref_logp=lp, kl_coef=1.0, kl_estimator="k3")
    loss, metrics = _loss(lp, lp, [0.0], np.ones((1, 3)), **kw)
    assert loss == 0.0 and metrics["kl"] == 0.0
    assert np.all(_grad_logp(lp, lp, [0.0], np.ones((1, 3)), **kw) == 0.0)


def test_kl_needs_a_reference_and_a_coefficient():
    """No reference or a zero coefficient: no KL term and no KL metric."""
    ref = jnp.asarray(REF_KL, jnp.float32)
    for kw in (dict(kl_coef=0.1), dict(ref_logp=ref, kl_coef=0.0)):
        loss, metrics = _loss(LP_KL, LP_KL, [0.0], np.ones((1, 2)), **kw)
        assert loss == 0.0 and "kl" not in metrics


def test_entropy_bonus():
    """loss -= entropy_coef * aggregated entropy; the metric is the token-mean entropy, also
    reported when the coefficient is 0."""
    ent = jnp.asarray([[1.0, 2.0, 9.0]])
    mask = np.array([[1, 1, 0]], np.float32)
    zeros = np.zeros((1, 3))
    loss, metrics = _loss(zeros, zeros, [0.0], mask, entropy=ent, entropy_coef=0.01)
    np.testing.assert_allclose(loss, -0.01 * 1.5, rtol=1e-6)
    np.testing.assert_allclose(metrics["entropy"], 1.5, rtol=1e-6)
    loss, metrics = _loss(zeros, zeros, [0.0], mask, entropy=ent)
    assert loss == 0.0 and metrics["entropy"] == pytest.approx(1.5)


# ----------------------------------------------------------------------------- normalisers


def _random_case(seed: int, B: int = 4, T: int = 5):
    rng = np.random.RandomState(seed)
    old = rng.uniform(-3, -0.1, (B, T))
    logp = old + rng.uniform(-0.4, 0.4, (B, T))
    adv = rng.randn(B)
    lengths = rng.randint(1, T + 1, B)
    mask = (np.arange(T)[None] < lengths[:, None]).astype(np.float32)
    return logp, old, adv, mask


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_micro_batches_with_whole_batch_normalizers_sum_to_the_batch_loss(aggregation):
    """Accumulation: the losses (and logp-gradients) of two micro-batches called with the
    whole batch's token count, sequence count and max_tokens add up to the batch's own."""
    logp, old, adv, mask = _random_case(0)
    full, _ = _loss(logp, old, adv, mask, aggregation=aggregation)
    full_grad = _grad_logp(logp, old, adv, mask, aggregation=aggregation)
    kw = dict(aggregation=aggregation, token_normalizer=float(mask.sum()), seq_normalizer=4.0,
              max_tokens=5)
    parts = [slice(0, 1), slice(1, 4)]  # uneven split
    total = sum(_loss(logp[s], old[s], adv[s], mask[s], **kw)[0] for s in parts)
    grads = np.concatenate([_grad_logp(logp[s], old[s], adv[s], mask[s], **kw) for s in parts])
    np.testing.assert_allclose(total, full, rtol=1e-5)
    np.testing.assert_allclose(grads, full_grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("aggregation, normalizer", [
    ("token_mean", lambda mask: mask.sum()),
    ("seq_mean_token_mean", lambda mask: mask.shape[0] * mask.sum(axis=1, keepdims=True)),
    ("seq_mean_token_sum_norm", lambda mask: mask.shape[0] * mask.shape[1]),
])
def test_ratio_one_gives_the_reinforce_gradient(aggregation, normalizer):
    """With logp == old_logp the gradient w.r.t. logp is -A * mask / normaliser: token
    count (token_mean), B * sequence length (seq_mean_token_mean), B * T (Dr.GRPO)."""
    _, old, adv, mask = _random_case(1)
    grad = _grad_logp(old, old, adv, mask, aggregation=aggregation)
    expected = -adv[:, None] * mask / normalizer(mask)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-9)


def test_zero_advantage_groups_contribute_no_gradient():
    """Samples of a group whose rewards are all equal get advantage 0, hence exactly zero
    gradient, whatever their ratios (clipped or not); the other group's do not."""
    rewards = jnp.asarray([[1, 1, 1, 1], [0, 1, 0, 0]], jnp.float32)
    adv = np.asarray(grpo.advantages(rewards)).reshape(-1)
    rng = np.random.RandomState(2)
    old = rng.uniform(-3, -0.1, (8, 6))
    logp = old + rng.uniform(-0.5, 0.5, (8, 6))  # ratios inside and outside the clip range
    mask = np.ones((8, 6), np.float32)
    for aggregation in AGGREGATIONS:
        grad = _grad_logp(logp, old, adv, mask, aggregation=aggregation)
        assert np.all(grad[:4] == 0.0), aggregation
        assert np.all(np.abs(grad[4:]).sum(axis=1) > 0), aggregation
