"""GRPO-λ's trace and clamp against hand-computed values, and its effect on the loss: with
ratio 1 token j's gradient is -A sum_{t >= j} w(t, j) / N, and λ = 0 is plain GRPO."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxint.train import grpo
from jaxint.train.credit import config as credit_config
from jaxint.train.credit import grpo_lambda

# Row 0: a response at positions 1..3 (log-ratios 1, 2, 4); row 1: five positions of 1.
X = np.array([[0.0, 1.0, 2.0, 4.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]], np.float32)
MASK = np.array([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1]], np.float32)


def _trace(style="recent", epsilon=0.0, block=2):
    return np.asarray(grpo_lambda.trace(jnp.asarray(X), jnp.asarray(MASK), decay=0.5,
                                        style=style, epsilon=epsilon, block=block))


def test_recent_trace_hand_computed():
    """γλ = 0.5: out_t = x_t + 0.5 out_{t-1}, starting at each response's first token."""
    np.testing.assert_allclose(_trace(), [[0, 1, 2.5, 5.25, 0],
                                          [1, 1.5, 1.75, 1.875, 1.9375]], rtol=1e-6)


def test_both_trace_hand_computed():
    """max(0.5^(t-j), 0.5^j), j counted from the response's start: row 0 at t = 3 weighs
    its tokens 1, 0.5, 1 (6.0); row 1 at t = 4 weighs them 1, 0.5, 0.25, 0.5, 1 (3.25)."""
    np.testing.assert_allclose(_trace("both", block=3), [[0, 1, 3, 6, 0],
                                                         [1, 2, 2.5, 3, 3.25]], rtol=1e-6)


def test_epsilon_floor_hand_computed():
    """Weights below 0.3 become 0.3: row 0 at t = 3: 0.3 + 1 + 4; row 1 at t = 4:
    0.3 * 3 + 0.5 + 1."""
    np.testing.assert_allclose(_trace(epsilon=0.3, block=5), [[0, 1, 2.5, 5.3, 0],
                                                              [1, 1.5, 1.8, 2.1, 2.4]],
                               rtol=1e-6)


def test_negative_advantages_are_clamped():
    adv = np.array([[0.5, -0.5], [-0.05, 0.0]], np.float32)
    np.testing.assert_allclose(grpo_lambda.advantages(adv, -0.1), [[0.5, -0.1], [-0.05, 0]])
    np.testing.assert_array_equal(grpo_lambda.advantages(adv, None), adv)


def _grad(trace, adv=2.0):
    logp = jnp.asarray([[-1.0, -0.5, -2.0]])
    mask = jnp.ones((1, 3))

    def f(lp):
        return grpo.policy_loss(lp, logp, jnp.asarray([adv]), mask, trace=trace)[0]

    return np.asarray(jax.grad(f)(logp))


def test_on_policy_gradient_is_the_eligibility_trace():
    """Ratio 1, A = 2, token_mean over 3 tokens, γλ = 0.5: the gradient on log pi(y_j) is
    -2/3 times the column sums of w: 1.75, 1.5, 1."""
    cfg = credit_config.GRPOLambdaConfig(lam=0.5, gamma=1.0)
    np.testing.assert_allclose(_grad(grpo_lambda.make_trace(cfg)),
                               [[-2 / 3 * 1.75, -2 / 3 * 1.5, -2 / 3]], rtol=1e-6)


def test_reinforce_with_a_trace_keeps_the_value_and_traces_the_gradient():
    logp = jnp.asarray([[-1.0, -0.5, -2.0]])
    old = logp - 0.1
    mask = jnp.ones((1, 3))
    tr = functools.partial(grpo_lambda.trace, decay=0.5)

    def f(lp, trace):
        return grpo.policy_loss(lp, old, jnp.asarray([1.0]), mask, loss="reinforce",
                                eps_high=4.0, trace=trace)[0]

    plain, traced = f(logp, None), f(logp, tr)
    # traced log-ratios 0.1, 0.15, 0.175: weights exp(.) on each token's log pi
    weights = np.exp([0.1, 0.15, 0.175])
    assert float(traced) == pytest.approx(float(-(weights * np.asarray(logp)).mean()), rel=1e-6)
    assert float(plain) != pytest.approx(float(traced))
    grad = np.asarray(jax.grad(f)(logp, tr))
    cols = [weights[0] + 0.5 * weights[1] + 0.25 * weights[2], weights[1] + 0.5 * weights[2],
            weights[2]]
    np.testing.assert_allclose(grad, [[-c / 3 for c in cols]], rtol=1e-6)


def test_lambda_zero_is_plain_grpo():
    cfg = credit_config.GRPOLambdaConfig(lam=0.0)
    np.testing.assert_array_equal(_grad(grpo_lambda.make_trace(cfg), adv=-1.0),
                                  _grad(None, adv=-1.0))
