"""`evaluate` on a tiny fine-tuned model: per-problem JSONL shards and a summary that agree
with each other and with the pass@k closed form, and resumption without duplicates or
resampling (also when the problem list or shard size changes between runs)."""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest

from jaxint import sample_score
from jaxint.data import records
from jaxint.evaluation import config as eval_config
from jaxint.evaluation import evaluate
from jaxint.sampling.config import SamplingConfig
from tests.train import tiny

# Sampling shaped like the GRPO tests' rollouts (4 prompts x 8 samples, 32 slots, T = 1).
CFG = eval_config.EvalConfig(
    dataset="synthetic-easy", n=8, ks=(1, 2, 8), shard_size=4, seed=0, verify_timeout_s=5.0,
    sampling=SamplingConfig(max_new_tokens=24, temperature=1.0, top_k=0, top_p=1.0,
                            max_batch_slots=32, chunk_steps=8),
)


@pytest.fixture(scope="module")
def model_and_problems():
    graphdef, params, _ = tiny.warm_start()
    return (graphdef, params), tiny.easy_problems(8, seed=5)


def _evaluate(model_and_problems, out, cfg=CFG, problems=None):
    (graphdef, params), default = model_and_problems
    return evaluate.evaluate(tiny.fresh(graphdef, params), tiny.char_tokenizer(),
                             problems or default, cfg, out, progress=False)


def _records(out: pathlib.Path) -> list[dict]:
    return [json.loads(line) for p in sorted(out.glob("results-*.jsonl"))
            for line in p.read_text().splitlines()]


@pytest.fixture(scope="module")
def first_run(model_and_problems, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    return out, _evaluate(model_and_problems, out)


def _closed_form(n: int, c: int, k: int) -> float:
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def test_writes_per_problem_results_and_summary(model_and_problems, first_run):
    """Two shards of 4 problems; each record has n = 8 rewards that sum to num_correct,
    8 completions and lengths; summary.json = the returned summary = pass@k recomputed
    from the records with math.comb (some samples are correct, some not)."""
    out, summary = first_run
    _, problems = model_and_problems
    assert sorted(p.name for p in out.glob("results-*.jsonl")) == [
        "results-00000.jsonl", "results-00001.jsonl"]
    records = _records(out)
    assert [r["problem_id"] for r in records] == [p.id for p in problems]
    for r, p in zip(records, problems, strict=True):
        assert r["answer"] == p.answer and r["n"] == 8
        assert len(r["rewards"]) == len(r["completions"]) == len(r["lengths"]) == 8
        assert set(r["rewards"]) <= {0, 1} and sum(r["rewards"]) == r["num_correct"]
        assert all(0 < n <= CFG.sampling.max_new_tokens for n in r["lengths"])
    correct = [r["num_correct"] for r in records]
    assert 0 < sum(correct) < 64, correct
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["problems"] == 8 and summary["n"] == 8
    assert summary["solved"] == sum(c > 0 for c in correct)
    assert summary["pass@1"] == pytest.approx(np.mean([r["rewards"] for r in records]))
    for k in CFG.ks:
        assert summary[f"pass@{k}"] == pytest.approx(
            np.mean([_closed_form(8, c, k) for c in correct]))


def test_resume_recomputes_only_missing_shards(model_and_problems, first_run, tmp_path,
                                               monkeypatch):
    """After a crash that lost shard 1, a rerun samples shard 1 again with the same seed
    (identical records), leaves shard 0 untouched, and writes no duplicates; a run with
    every shard done samples nothing."""
    out, summary = first_run
    for p in out.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "results-00001.jsonl").unlink()
    (tmp_path / "summary.json").unlink()
    shard0 = (tmp_path / "results-00000.jsonl").stat().st_mtime_ns

    assert _evaluate(model_and_problems, tmp_path) == summary
    assert _records(tmp_path) == _records(out)
    assert (tmp_path / "results-00000.jsonl").stat().st_mtime_ns == shard0

    def no_sampling(*args, **kwargs):
        raise AssertionError("a finished evaluation sampled again")

    monkeypatch.setattr(sample_score, "sample", no_sampling)
    assert _evaluate(model_and_problems, tmp_path) == summary


def test_stale_shards_are_neither_reused_nor_counted(model_and_problems, first_run, tmp_path,
                                                     monkeypatch):
    """Reusing a directory with a `limit` reports exactly the first 4 problems (the stale
    shard 1 on disk is not counted, nothing is sampled); with another problem list, shards
    holding other problems are recomputed instead of being taken as finished."""
    out, _ = first_run
    for p in out.glob("results-*.jsonl"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    first_four = _records(out)[:4]

    def no_sampling(*args, **kwargs):
        raise AssertionError("shard 0 is finished")

    with monkeypatch.context() as m:
        m.setattr(sample_score, "sample", no_sampling)
        limited = _evaluate(model_and_problems, tmp_path,
                            eval_config.EvalConfig(**{**CFG.__dict__, "limit": 4}))
    assert limited == {"dataset": CFG.dataset, "n": 8,
                       **evaluate.summarize([records.EvalResult.from_json(r) for r in first_four],
                                            CFG.ks)}

    others = tiny.easy_problems(16, seed=6)[8:]
    summary = _evaluate(model_and_problems, tmp_path, problems=others)
    assert [r["problem_id"] for r in _records(tmp_path)] == [p.id for p in others]
    assert summary["problems"] == 8
