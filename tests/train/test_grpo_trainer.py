"""The GRPO loop on the synthetic task: the reward rises, resume is exact, the frozen
reference exists only with a KL term, and the sampler's log-probs line up with the
recomputed ones.

A tiny character-level model is first fine-tuned on easy problems ("Start with 4. Add 3.")
so that it writes the answer format and earns a non-zero reward (0.25); GRPO then runs on
4 problems x 8 samples for 8 steps. The 4 training problems share one answer (8): a
two-layer model cannot learn addition in 8 steps, but GRPO must move it towards the
rewarded answer, which is what the loop is tested for.

A k3 KL penalty (0.1) to the warm start keeps the answer format: without it, AdamW's
sign-like first updates on this tiny model's noisy gradients wiped out `\boxed{}` within a
few steps in 2 of 6 rollout seeds, at lr 3e-4 to 2e-3 alike (SGD at lr 0.3 did not).
"""

from __future__ import annotations

import shutil

import jax
import numpy as np
import pytest

from jaxint import rundir, sample_score
from jaxint.sampling import api as sampling_api
from jaxint.sampling import config as sampling_config
from jaxint.train import config as train_config
from jaxint.train import rl
from tests.train import tiny

# The warm start, the reference run and the resumed run take ~70 s with a cold compile
# cache on 2 loaded cores (~25 s warm).
pytestmark = pytest.mark.slow

STEPS = 8
CFG = train_config.GRPOConfig(
    steps=STEPS, prompts_per_step=4, samples_per_prompt=8, mini_batch_prompts=2,
    sampling=sampling_config.paper(max_new_tokens=24, max_batch_slots=32, chunk_steps=8,
                                   temperature=1.0, top_k=0, top_p=1.0), seed=0,
    kl_coef=0.1, kl_estimator="k3",
    optimizer=train_config.OptimizerConfig(lr=2e-3, warmup_ratio=0.0, min_lr_ratio=1.0),
    checkpoint=train_config.CheckpointConfig(every=4, keep=2),
)
EVAL_REPEATS = 4  # before/after reward: each training prompt x 4 x 8 samples


@pytest.fixture(scope="module")
def warm():
    return tiny.warm_start()


@pytest.fixture(scope="module")
def problems():
    problems = [p for p in tiny.easy_problems(400, seed=2) if p.answer == "8"][:4]
    assert len({p.problem for p in problems}) == 4
    return problems


def _trainer(warm, problems, out_dir, cfg=CFG) -> rl.GRPOTrainer:
    graphdef, params, _ = warm
    return tiny.committed(rl.GRPOTrainer(tiny.fresh(graphdef, params), tiny.char_tokenizer(),
                                         problems, cfg, out_dir, verify_timeout_s=5.0))


def _mean_reward(trainer: rl.GRPOTrainer, params, problems) -> float:
    """Mean verifier reward of 4 x 8 samples of each training prompt (4 rollouts shaped
    like a training step's, so the sampler compiles nothing new)."""
    params = sampling_api.cast_params(params, trainer.model_config)
    rewards = []
    for k in range(EVAL_REPEATS):
        prompts, samples = sample_score.sample(trainer.engine, params, trainer.tokenizer, problems,
                                           seed=123_456 + k)
        rewards.append(sample_score.score(problems, prompts, samples).rewards)
    return float(np.mean(rewards))


@pytest.fixture(scope="module")
def uninterrupted(warm, problems, tmp_path_factory):
    """The reference run: (trainer, metric records, reward before, reward after)."""
    out = tmp_path_factory.mktemp("grpo_ref")
    trainer = _trainer(warm, problems, out)
    before = _mean_reward(trainer, trainer.state.params, problems)
    metrics = rundir.Metrics(out / "metrics.jsonl")
    trainer.run(metrics, progress=False)
    trainer.checkpoints.close()
    after = _mean_reward(trainer, trainer.state.params, problems)
    return trainer, [r for r in metrics.read() if "reward_mean" in r], before, after


def test_grpo_raises_the_reward_on_the_training_prompts(uninterrupted):
    """8 GRPO steps (lr 2e-3, 2 updates per step) raise the mean reward of the training
    prompts, measured on 128 fresh samples before and after, by at least 0.2 (measured:
    0.25 -> 0.625; rollout seeds 0-5 gave 0.25 -> 0.56..0.70)."""
    _, history, before, after = uninterrupted
    curve = [round(h["reward_mean"], 3) for h in history]
    assert before > 0.0, "the warm start must earn some reward"
    assert after >= before + 0.2, (before, after, curve)
    assert np.mean(curve[-3:]) > np.mean(curve[:3]), curve


def test_step_metrics(uninterrupted):
    """Every step logs the documented metrics; the sampler's log-probs match the
    recomputed old log-probs token for token (same float32 weights), which also checks
    that `training_batch` aligns them with the completion tokens."""
    _, history, _, _ = uninterrupted
    assert [h["step"] for h in history] == list(range(1, STEPS + 1))
    keys = {"reward_mean", "pass_rate", "zero_adv_frac", "response_len_mean", "entropy", "kl",
            "clip_frac", "grad_norm", "sampler_logprob_gap", "rollout_tokens_per_s",
            "train_tokens_per_s", "time_rollout_s", "time_scoring_s", "time_training_s"}
    for h in history:
        assert keys <= h.keys()
        assert 0.0 <= h["zero_adv_frac"] <= 1.0 and 0.0 <= h["reward_mean"] <= h["pass_rate"]
        assert h["sampler_logprob_gap"] < 1e-4
        assert h["kl"] >= 0.0 and h["entropy"] > 0.0
    assert all(h["kl"] > 0.0 for h in history[1:])  # the policy moved off the reference


def test_resume_equals_uninterrupted(warm, problems, uninterrupted, tmp_path):
    """A run killed after its step-4 checkpoint, resumed by a new trainer, replays steps
    5-8 with the same prompts and rollout seeds and ends with the same parameters and
    the same rewards."""
    trainer, history, _, _ = uninterrupted
    src = trainer.checkpoints.directory
    assert sorted(int(p.name) for p in src.iterdir() if p.name.isdigit()) == [4, 8]
    shutil.copytree(src, tmp_path / "checkpoints", ignore=lambda d, names: ["8"])

    resumed = _trainer(warm, problems, tmp_path)
    metrics = rundir.Metrics(tmp_path / "metrics.jsonl")
    resumed.run(metrics, progress=False)
    resumed.checkpoints.close()
    again = [r for r in metrics.read() if "reward_mean" in r]
    assert [h["step"] for h in again] == [5, 6, 7, 8]
    for got, want in zip(again, history[4:], strict=True):
        assert got["reward_mean"] == want["reward_mean"] and got["loss"] == want["loss"]
    tiny.assert_trees_close(resumed.state.params, trainer.state.params, atol=0.0)


def test_reference_params_exist_only_with_a_kl_term(warm, problems, uninterrupted, tmp_path):
    """kl_coef 0 keeps no frozen reference in memory; kl_coef > 0 keeps a copy of the
    initial weights in buffers of its own (the train state's are donated at every update),
    still equal to the initial weights after 8 steps of training."""
    cfg = train_config.GRPOConfig(**{**CFG.__dict__, "kl_coef": 0.0})
    assert _trainer(warm, problems, tmp_path, cfg).ref_params is None
    trainer = uninterrupted[0]
    assert trainer.ref_params is not None
    tiny.assert_trees_close(trainer.ref_params, warm[1], atol=0.0)
    for ref, live in zip(jax.tree.leaves(trainer.ref_params),
                         jax.tree.leaves(trainer.state.params), strict=True):
        assert ref.unsafe_buffer_pointer() != live.unsafe_buffer_pointer()
