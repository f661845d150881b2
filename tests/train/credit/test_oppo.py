"""OPPO's Bayesian value recursion on a short token sequence, by hand.

Prior 0.5, oracle/plain likelihood ratios 1.6, 0.5, 3, 0.5, 1: V = 0.8, 0.4, 1 (1.2 capped),
0.5 (from the capped 1, not 0.6), then the last token takes the reward R = 1:
A = 0.3, -0.4, 0.6, -0.5, 1 - 0.5. They sum to R - prior.
"""

from __future__ import annotations

import numpy as np
import pytest

from jaxint import configlib
from jaxint.train import config as train_config
from jaxint.train.credit import config as credit_config
from jaxint.train.credit import oppo, registry
from tests.train.credit import fakes

RATIOS = np.array([1.6, 0.5, 3.0, 0.5, 1.0])
PLAIN = np.array([-1.0, -2.0, -0.5, -3.0, -0.1])
ORACLE = PLAIN + np.log(RATIOS)


def test_token_advantages_hand_computed():
    adv = oppo.token_advantages(PLAIN, ORACLE, 0.5, 1.0)
    np.testing.assert_allclose(adv, [0.3, -0.4, 0.6, -0.5, 0.5], rtol=1e-5, atol=1e-6)
    assert adv.sum() == pytest.approx(1.0 - 0.5)


def test_a_zero_prior_stays_zero_until_the_reward():
    np.testing.assert_allclose(oppo.token_advantages(PLAIN, ORACLE, 0.0, 1.0), [0, 0, 0, 0, 1])


def test_closed_form_beliefs_equal_the_recursion():
    rng = np.random.RandomState(0)
    for prior in (0.05, 0.5, 1.0):
        log_ratio = rng.randn(50)
        x, want = np.log(prior), []
        for step in log_ratio:
            x = min(0.0, x + step)
            want.append(x)
        np.testing.assert_allclose(oppo.log_beliefs(log_ratio, prior), want, atol=1e-12)


def test_priors_are_smoothed_pass_rates():
    rewards = np.array([[0, 0, 0, 0], [1, 1, 0, 1]], np.float32)
    np.testing.assert_allclose(oppo.priors(rewards, 0.0), [0.0, 0.75])
    np.testing.assert_allclose(oppo.priors(rewards, 1.0), [1 / 6, 4 / 6])


def _cfg(scorer: str) -> train_config.GRPOConfig:
    return train_config.GRPOConfig(prompts_per_step=1, mini_batch_prompts=1, samples_per_prompt=2,
                             credit="oppo", oppo=credit_config.OPPOConfig(scorer=scorer))


def _logprobs(prompt, completion, scorer):
    """The oracle prompt (it holds the solution "S") makes every token e^0.2 likelier."""
    oracle = "S" in "".join(chr(t) for t in prompt)
    return np.full(len(completion), -1.0 + (0.2 if oracle else 0.0) + (scorer == "frozen"))


@pytest.mark.parametrize("scorer", ["policy", "frozen"])
def test_assign_scores_the_oracle_context(scorer):
    """One group (rewards 1, 0: prior 0.5) of 2- and 3-token responses. The self-oracle reads
    the plain log-probs from the loop (zeros here, so log r = 0.2 - 1 = -0.8); the frozen
    scorer runs both contexts itself (log r = 0.2)."""
    passes = fakes.Passes(logprob_fn=_logprobs)
    scored = fakes.scored([["x", "yz"]], [[1, 0]])
    out = oppo.assign(scored, passes, _cfg(scorer))
    lr = -0.8 if scorer == "policy" else 0.2
    v1 = min(1.0, 0.5 * np.exp(lr))
    np.testing.assert_allclose(out.advantages[0], [v1 - 0.5, 1 - v1], rtol=1e-5)
    v2 = min(1.0, v1 * np.exp(lr))
    np.testing.assert_allclose(out.advantages[1], [v1 - 0.5, v2 - v1, 0 - v2], rtol=1e-5)
    prompts = [c[1] for c in passes.calls]
    assert prompts[0] == [oppo.oracle_message("Q0", "S") + ":"] * 2
    assert len(passes.calls) == (1 if scorer == "policy" else 2)
    oracle_len = len(oppo.oracle_message("Q0", "S") + ":")
    plain = 0 if scorer == "policy" else (3 + 2) + (3 + 3)  # "Q0:" + 2 and 3 tokens
    assert out.extra_forward_tokens == (oracle_len + 2) + (oracle_len + 3) + plain


def test_problems_without_a_reference_solution_are_refused():
    scored = fakes.scored([["x"]], [[1]])
    scored.rollouts.problems[0] = scored.rollouts.problems[0].__class__(
        id="p0", problem="Q0", answer="1", solution="", source="test")
    with pytest.raises(ValueError, match="rl.credit=oppo needs reference solutions"):
        oppo.assign(scored, fakes.Passes(logprob_fn=_logprobs), _cfg("policy"))


def test_the_pipeline_check_names_a_problem_without_a_solution():
    problems = [fakes.scored([["x"]], [[1]]).rollouts.problems[0]]
    registry.check_problems(_cfg("policy"), problems)
    problems.append(problems[0].__class__(id="bare", problem="Q", answer="1", solution="",
                                          source="test"))
    with pytest.raises(configlib.ConfigError, match="1 training problems have none, e.g. 'bare'"):
        registry.check_problems(_cfg("policy"), problems)
