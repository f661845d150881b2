"""A tiny GRPO run per credit method, from the same warm start and rollout seeds: each one
trains, logs its cost (`extra_tokens`, `extra_forward_tokens`, `time_credit_s`) as the method
implies, and its first update differs from outcome GRPO's on the very same rollouts, so its
advantages reach the update (outcome's own are checked against `grpo.advantages` in
test_outcome_is_todays_grpo).

The policy is the train tests' warm start (a 2-layer character model that writes the answer
format) on 2 easy problems x 4 samples.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from jaxint import rundir, sample_score
from jaxint.data import chat
from jaxint.sampling import api as sampling_api
from jaxint.train import config as train_config
from jaxint.train import grpo, rl, rollouts
from jaxint.train.credit import config as credit_config
from jaxint.train.credit import oppo
from tests.train import tiny

pytestmark = pytest.mark.slow

CFG = train_config.GRPOConfig(
    steps=2, prompts_per_step=2, samples_per_prompt=4, mini_batch_prompts=2,
    sampling=dataclasses.replace(train_config.GRPOConfig().sampling, max_new_tokens=24,
                                 max_batch_slots=32, chunk_steps=8), seed=0,
    optimizer=train_config.OptimizerConfig(lr=2e-3, warmup_ratio=0.0, min_lr_ratio=1.0),
    checkpoint=train_config.CheckpointConfig(every=100, keep=1, async_save=False),
    vineppo=credit_config.VinePPOConfig(k=2),
)
METHODS = ("vineppo", "grpo_lambda", "oppo", "capo")
FROZEN = {"oppo": credit_config.OPPOConfig(scorer="frozen")}


@pytest.fixture(scope="module")
def warm():
    return tiny.warm_start()


@pytest.fixture(scope="module")
def problems():
    return tiny.easy_problems(40, seed=3)[:2]


def _run(warm, problems, tmp, steps: int, **changes):
    cfg = dataclasses.replace(CFG, steps=steps, **changes)
    graphdef, params, _ = warm
    trainer = tiny.committed(rl.GRPOTrainer(tiny.fresh(graphdef, params), tiny.char_tokenizer(),
                                            problems, cfg, tmp, verify_timeout_s=5.0))
    metrics = rundir.Metrics(tmp / "metrics.jsonl")
    trainer.run(metrics, progress=False)
    trainer.checkpoints.close()
    return trainer, [r for r in metrics.read() if "reward_mean" in r]


@pytest.fixture(scope="module")
def outcome_one_step(warm, problems, tmp_path_factory):
    return _run(warm, problems, tmp_path_factory.mktemp("outcome"), 1)[0]


def _oracle_forward_tokens(trainer, problems, history, *, plain: bool) -> list[float]:
    """Per step: G x the oracle prompt (and the plain one when the frozen model scores both)
    of each sampled problem + every completion token (twice with `plain`)."""
    by_id = {p.id: p for p in problems}
    out = []
    for row, h in zip(rl.read_groups(trainer.out_dir), history, strict=True):
        ids = row["problem_ids"]
        prompts = sum(len(chat.render_prompt(trainer.tokenizer, [{"role": "user", "content":
                      oppo.oracle_message(by_id[i].problem, by_id[i].solution)}])) for i in ids)
        completions = h["response_len_mean"] * row["n"] * len(ids)
        if plain:
            prompts += sum(len(chat.render_prompt(trainer.tokenizer, [{"role": "user",
                           "content": by_id[i].problem}])) for i in ids)
        out.append(row["n"] * prompts + completions * (2 if plain else 1))
    return out


def test_oppo_with_a_frozen_scorer(warm, problems, tmp_path):
    """The teacher-oracle keeps a frozen copy of the initial weights (no KL reference) and
    scores both contexts with it."""
    trainer, history = _run(warm, problems, tmp_path, 2, credit="oppo", oppo=FROZEN["oppo"])
    assert trainer.ref_params is None and trainer.frozen_params is not None
    tiny.assert_trees_close(trainer.frozen_params, warm[1], atol=0.0)
    np.testing.assert_allclose([h["extra_forward_tokens"] for h in history],
                               _oracle_forward_tokens(trainer, problems, history, plain=True))


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_and_logs_its_cost(method, warm, problems, outcome_one_step,
                                              tmp_path):
    trainer, history = _run(warm, problems, tmp_path, 2, credit=method)
    assert [h["step"] for h in history] == [1, 2]
    for h in history:
        assert np.isfinite(h["loss"]) and h["grad_norm"] > 0 and h["time_credit_s"] >= 0
    extra = [h["extra_tokens"] for h in history]
    forward = [h["extra_forward_tokens"] for h in history]
    if method == "vineppo":  # k = 2 continuations of at least each prompt, prefilled once
        assert all(x >= 2 * 2 for x in extra) and all(f > 0 for f in forward)
        assert all(h["credit_vineppo_states"] >= 2 for h in history)
    elif method == "oppo":
        assert extra == [0, 0]
        np.testing.assert_allclose(forward, _oracle_forward_tokens(trainer, problems, history,
                                                                   plain=False))
    else:  # the trace and the checker cost no model pass
        assert extra == [0, 0] and forward == [0, 0]
    # step 1 sampled the same rollouts as outcome GRPO's: only the advantages differ
    first, _ = _run(warm, problems, tmp_path / "one", 1, credit=method)
    diff = max(np.abs(a - b).max() for a, b in zip(tiny.flat(first.state.params).values(),
                                                   tiny.flat(outcome_one_step.state.params)
                                                   .values()))
    assert diff > 0, method


def test_outcome_is_todays_grpo(warm, problems, tmp_path):
    """The default's step equals the loop as it was before credit assignment existed, bit for
    bit: group advantages (reward - group mean) laid out by `training_batch`, then the
    updates; and it logs no extra cost."""
    graphdef, params, _ = warm
    trainers = [tiny.committed(rl.GRPOTrainer(
        tiny.fresh(graphdef, params), tiny.char_tokenizer(), problems,
        dataclasses.replace(CFG, steps=1), tmp_path / name, verify_timeout_s=5.0))
        for name in ("new", "old")]
    metrics = trainers[0].train_step()
    old = trainers[1]
    prompts, samples = sample_score.sample(
        old.engine, sampling_api.cast_params(old.state.params, old.model_config),
        old.tokenizer, [next(old.prompts) for _ in range(CFG.prompts_per_step)],
        seed=CFG.seed * 1_000_003)
    ro = sample_score.score(ro_problems(old, prompts, problems), prompts, samples)
    adv = np.asarray(grpo.advantages(jnp.asarray(ro.rewards)))
    batch = rollouts.training_batch(ro, None)
    batch["advantages"] = adv.reshape(-1).astype(np.float32)  # as training_batch laid them
    batch["old_logp"], _ = old._score_all(old.state.params, batch)
    old._updates(batch)
    tiny.assert_trees_close(trainers[0].state.params, old.state.params, atol=0.0)
    assert metrics["extra_tokens"] == 0 and metrics["extra_forward_tokens"] == 0


def ro_problems(trainer, prompts, problems):
    """The problems behind `prompts` (the prompt iterator shuffles them)."""
    by_prompt = {tuple(sample_score.user_prompt(trainer.tokenizer, p)): p for p in problems}
    return [by_prompt[tuple(p)] for p in prompts]
