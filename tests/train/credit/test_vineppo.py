"""VinePPO on a hand-built 3-step rollout with known continuation rewards.

Rollout "a\\n\\nb\\n\\nc" + end token, reward 0: steps "a", "b", "c" own tokens 0-2, 3-5 and
6-7. Four continuations per state: from the prompt 1,0,0,0 (V = 0.25), after "a" 1,1,0,0
(0.5), after "b" 0,0,0,0 (0). Advantages: a: 0.5 - 0.25 = 0.25, b: 0 - 0.5 = -0.5,
c: R - 0 = 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jaxint.train import config as train_config
from jaxint.train.credit import config as credit_config
from jaxint.train.credit import vineppo
from tests.train.credit import fakes

TEXT = "a\n\nb\n\nc"
VALUES = {"": [1, 0, 0, 0], "a\n\n": [1, 1, 0, 0], "a\n\nb\n\n": [0, 0, 0, 0]}


def _cfg(**vine) -> train_config.GRPOConfig:
    sampling = dataclasses.replace(train_config.GRPOConfig().sampling, max_new_tokens=20)
    return train_config.GRPOConfig(
        sampling=sampling, prompts_per_step=1, mini_batch_prompts=1, samples_per_prompt=2,
        credit="vineppo",
        vineppo=dataclasses.replace(credit_config.VinePPOConfig(k=4), **vine))


def _run(texts=(TEXT, "c"), rewards=(0, 1), **vine):
    passes = fakes.Passes(values=VALUES)
    out = vineppo.assign(fakes.scored([texts], [rewards]), passes, _cfg(**vine))
    return out, passes


def test_three_step_rollout_hand_computed():
    out, passes = _run()
    np.testing.assert_allclose(out.advantages[0], [0.25] * 3 + [-0.5] * 3 + [0.0] * 2)
    # the one-step rollout "c" (reward 1) from the same prompt: 1 - 0.25 on both tokens
    np.testing.assert_allclose(out.advantages[1], [0.75, 0.75])
    (_, prompts, budgets, k), = passes.calls
    assert prompts == ["Q0:", "Q0:a\n\n", "Q0:a\n\nb\n\n"] and k == 4  # the prompt once
    assert budgets == [20, 17, 14]  # what each rollout had left
    assert out.extra_tokens == 12 and out.metrics["vineppo_states"] == 3


def test_max_steps_fills_later_values_with_the_return():
    """max_steps 1: only the prompt and the state after "a" are estimated; V(after b) = R,
    so b gets R - 0.5 and c gets 0 (here R = 1)."""
    out, passes = _run(rewards=(1, 1), max_steps=1)
    np.testing.assert_allclose(out.advantages[0], [0.25] * 3 + [0.5] * 3 + [0.0] * 2)
    assert passes.calls[0][1] == ["Q0:", "Q0:a\n\n"]


def test_group_mean_root_value():
    """root_value group_mean: V(prompt) = mean(0, 1) = 0.5, no continuation of the prompt."""
    out, passes = _run(root_value="group_mean")
    np.testing.assert_allclose(out.advantages[0], [0.0] * 3 + [-0.5] * 3 + [0.0] * 2)
    np.testing.assert_allclose(out.advantages[1], [0.5, 0.5])
    assert "Q0:" not in passes.calls[0][1]


def test_identical_states_are_estimated_once():
    out, passes = _run(texts=(TEXT, TEXT), rewards=(0, 0))
    assert len(passes.calls[0][1]) == 3
    np.testing.assert_allclose(out.advantages[0], out.advantages[1])


@pytest.mark.parametrize("values, reward, expected", [
    ([0.25, 0.5, 0.0], 0.0, [0.25, -0.5, 0.0]),
    ([0.25, None, None], 1.0, [0.75, 0.0, 0.0]),
    ([0.5], 1.0, [0.5]),
])
def test_step_advantages(values, reward, expected):
    np.testing.assert_allclose(vineppo.step_advantages(values, reward), expected)


def test_an_unestimated_state_before_an_estimated_one_is_refused():
    with pytest.raises(ValueError, match="unestimated state"):
        vineppo.step_advantages([0.5, None, 0.2], 1.0)
