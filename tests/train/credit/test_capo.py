"""CAPO: a critique vote per step by hand, its token penalties on top of the outcome
advantage, and the synthetic task's exact checker standing in for the critic."""

from __future__ import annotations

import random

import numpy as np
import pytest

from jaxint import configlib
from jaxint.data import records, synthetic
from jaxint.train import config as train_config
from jaxint.train.credit import capo, registry
from jaxint.train.credit import config as credit_config
from tests.train.credit import fakes

# Three critiques of a 3-step response: step 1 wrong in all, step 2 in two, step 0 in none.
CRITIQUES = [{1, 2}, {1, 2}, {1}]


@pytest.mark.parametrize("how, expected", [
    ("majority", [0, 1, 1]), ("intersection", [0, 1, 0]), ("average", [0, 1, 2 / 3])])
def test_vote_hand_computed(how, expected):
    np.testing.assert_allclose(capo.vote(CRITIQUES, 3, how), expected)


def test_token_penalties_on_top_of_the_outcome_advantage():
    """Outcome advantage -0.5, weights 1 and 0.5, steps at tokens 0-1, 2-4, 5: the tokens of
    the wrong steps 1 and 2 get -0.5 - 0.5."""
    adv = capo.token_advantages(-0.5, np.array([0.0, 1.0, 1.0]), [0, 2, 5], 6,
                                outcome_weight=1.0, process_weight=0.5)
    np.testing.assert_allclose(adv, [-0.5, -0.5, -1, -1, -1, -1])


def _problem() -> records.Problem:
    return synthetic.make_problem(0, seed=0, num_steps=2, max_digits=1, ops=("+",),
                                  max_value=100)


def _cfg(**kw) -> train_config.GRPOConfig:
    return train_config.GRPOConfig(prompts_per_step=1, mini_batch_prompts=1, samples_per_prompt=2,
                             credit="capo", capo=credit_config.CAPOConfig(**kw))


def test_checker_critic_marks_the_first_wrong_step():
    p = _problem()
    steps = synthetic.split_steps(p.solution)
    assert capo.checker_critic(p, steps, 3) == [set(), set(), set()]
    bad = synthetic.corrupt(p.solution, random.Random(0), step=2,
                            kind="arithmetic")
    assert capo.checker_critic(p, synthetic.split_steps(bad.text), 2) == [{1}, {1}]


def test_assign_on_the_synthetic_task():
    """A correct and a wrong-at-step-2 response (rewards 1, 0: outcome advantages 0.5,
    -0.5): the wrong step's tokens (with its separator) lose 0.5 more."""
    p = _problem()
    bad = synthetic.corrupt(p.solution, random.Random(0), step=2,
                            kind="arithmetic").text
    scored = fakes.scored([[p.solution, bad]], [[1, 0]], problems=[p])
    out = capo.assign(scored, fakes.Passes(), _cfg())
    np.testing.assert_allclose(out.advantages[0], 0.5)
    steps = synthetic.split_steps(bad)
    first, second = len(steps[0]) + 2, len(steps[1]) + 2
    want = [-0.5] * first + [-1.0] * second + [-0.5] * (len(steps[2]) + 1)
    np.testing.assert_allclose(out.advantages[1], want)
    assert out.extra_tokens == 0 and out.metrics["capo_wrong_step_frac"] == pytest.approx(1 / 6)


def test_problems_without_a_step_checker_are_refused():
    scored = fakes.scored([["x"]], [[1]])
    with pytest.raises(ValueError, match="rl.credit=capo needs a step checker"):
        capo.assign(scored, fakes.Passes(), _cfg())


def test_the_pipeline_check_is_a_config_error():
    """Checked before any stage runs (and by the trainer), reported as bad config."""
    scored = fakes.scored([["x"]], [[1]])
    with pytest.raises(configlib.ConfigError, match="rl.capo.critic=checker judges only"):
        registry.check_problems(_cfg(), scored.rollouts.problems)
    registry.check_problems(_cfg(), [_problem()])
