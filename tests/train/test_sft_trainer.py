"""The SFT loop: exact resume after a kill, preemption (save, raise, resume) and the
held-out loss, on synthetic chat examples packed with the grain pipeline.

One uninterrupted run is the reference; interrupted runs must end with the same
parameters bit for bit (same data order, same compiled step, deterministic CPU).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxint import rundir
from jaxint.train import config as train_config
from jaxint.train import preemption, sft
from tests.train import tiny

CFG = train_config.SFTConfig(
    epochs=1, batch_size=4, micro_batch_size=2, seq_len=256, batching="pack", max_steps=6,
    eval_fraction=0.2, eval_every=3, log_every=1, seed=0,
    optimizer=train_config.OptimizerConfig(lr=1e-2, warmup_ratio=0.2, min_lr_ratio=0.1),
    checkpoint=train_config.CheckpointConfig(every=3, keep=2),
)


class Killed(Exception):
    """Stands in for the process dying."""


class HookedMetrics(rundir.Metrics):
    """Metrics that run `hook(step)` after writing each step record."""

    def __init__(self, path, hook):
        super().__init__(path)
        self.hook = hook

    def write(self, record):
        super().write(record)
        if "step" in record:
            self.hook(record["step"])


@pytest.fixture(scope="module")
def examples():
    return tiny.sft_examples(tiny.easy_problems(16, seed=3))


@pytest.fixture(scope="module")
def init():
    return tiny.init_params(tiny.SMALL, seed=1)


def _trainer(init, examples, out_dir) -> sft.SFTTrainer:
    return tiny.committed(sft.SFTTrainer(tiny.fresh(*init), examples, CFG, out_dir))


def _losses(records) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in records if "step" in r and "loss" in r}


@pytest.fixture(scope="module")
def uninterrupted(init, examples, tmp_path_factory):
    """(trainer, its summary, its metric records) of the reference run."""
    out = tmp_path_factory.mktemp("sft_ref")
    trainer = _trainer(init, examples, out)
    metrics = rundir.Metrics(out / "metrics.jsonl")
    summary = trainer.run(metrics, progress=False)
    return trainer, summary, metrics.read()


def test_run_trains_and_logs(uninterrupted):
    """Six steps, one metrics record each with a finite loss, plus a final record; the
    loss goes down on this easy data."""
    trainer, summary, records = uninterrupted
    losses = _losses(records)
    assert summary["steps"] == trainer.step == 6 and sorted(losses) == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(v) for v in losses.values())
    assert losses[6] < losses[1]
    assert records[-1]["final"] and summary["tokens_per_s"] > 0
    assert trainer.checkpoints.latest_step() == 6


def test_resume_after_kill_equals_uninterrupted(init, examples, uninterrupted, tmp_path):
    """Killed during step 5 (last checkpoint: step 3), a new trainer in the same directory
    resumes from step 3 (params, optimizer, data iterator) and ends bit-identical."""
    def kill(step):
        if step == 5:
            raise Killed

    first = _trainer(init, examples, tmp_path)
    with pytest.raises(Killed):
        first.run(HookedMetrics(tmp_path / "metrics.jsonl", kill), progress=False)
    first.checkpoints.close()  # the step-3 save had reached disk before the "kill"
    assert first.checkpoints.latest_step() == 3

    second = _trainer(init, examples, tmp_path)
    metrics = rundir.Metrics(tmp_path / "metrics2.jsonl")
    second.run(metrics, progress=False)
    ref_trainer, _, ref_records = uninterrupted
    assert sorted(_losses(metrics.read())) == [4, 5, 6]
    ref_losses = _losses(ref_records)
    for step, loss in _losses(metrics.read()).items():
        assert loss == ref_losses[step], step
    tiny.assert_trees_close(second.state.params, ref_trainer.state.params, atol=0.0)
    for got, want in zip(jax.tree.leaves(second.state.opt_state),
                         jax.tree.leaves(ref_trainer.state.opt_state), strict=True):
        np.testing.assert_array_equal(got, want)
    assert int(second.state.step) == 6


def test_preemption_saves_raises_and_resumes(init, examples, uninterrupted, tmp_path):
    """A SIGTERM flag raised during step 2 makes `run` save step 2 and raise Preempted;
    a rerun resumes at step 3 and ends with the uninterrupted parameters."""
    def preempt(step):
        if step == 2:
            preemption.request()

    first = _trainer(init, examples, tmp_path)
    try:
        with pytest.raises(preemption.Preempted):
            first.run(HookedMetrics(tmp_path / "metrics.jsonl", preempt), progress=False)
    finally:
        preemption.clear()
    assert first.checkpoints.latest_step() == 2  # off the every-3 interval: a forced save

    second = _trainer(init, examples, tmp_path)
    metrics = rundir.Metrics(tmp_path / "metrics2.jsonl")
    second.run(metrics, progress=False)
    assert sorted(_losses(metrics.read())) == [3, 4, 5, 6]
    tiny.assert_trees_close(second.state.params, uninterrupted[0].state.params, atol=0.0)


def _reference_nll(graphdef, params, examples) -> float:
    """Mean NLL per trained token from the model's full logits, example by example."""
    logps = tiny.token_logprobs(graphdef, params, [ex.tokens for ex in examples])
    nll = sum(-(lp * ex.loss_mask[1:]).sum() for lp, ex in zip(logps, examples, strict=True))
    return float(nll / sum(ex.loss_mask[1:].sum() for ex in examples))


def test_held_out_loss_uses_the_held_out_split_only(uninterrupted, examples):
    """The split is deterministic and disjoint (3 of 16 held out); the reported eval loss
    equals the NLL of the final model on those 3 examples only, computed independently."""
    trainer, summary, records = uninterrupted
    held, train = trainer.eval_examples, trainer.train_examples
    assert len(held) == 3 and len(train) == 13
    ids = lambda xs: {id(x) for x in xs}  # noqa: E731
    assert ids(held).isdisjoint(ids(train)) and ids(held) | ids(train) == ids(examples)
    again = sft.split_eval(examples, CFG.eval_fraction, CFG.seed)
    assert ids(again[1]) == ids(held)

    graphdef, params = trainer.graphdef, trainer.state.params
    expected = _reference_nll(graphdef, params, held)
    np.testing.assert_allclose(summary["eval_loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(trainer.eval_loss(), expected, rtol=1e-5)
    assert abs(_reference_nll(graphdef, params, train) - expected) > 1e-3
    assert [r.get("step") for r in records if "eval_loss" in r] == [3, 6, None]  # None: final
