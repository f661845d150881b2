"""Shared-prefix forking: each distinct prompt is prefilled once per run and its KV copied into
the slots of all its samples, also those that start in later refills. The reference is the
same run with `fork=False`, where every sample prefills its own copy of its prompt: tokens,
log-probs and finish reasons must be identical, and the prefill work must be what a hand count
of the distinct prompts gives.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jaxint import sampling
from jaxint.sampling import queue as queue_lib
from tests.sampling import conftest, helpers

# 3 samples of 5 prompts through 3 slots in 4-step chunks: samples of one prompt start in
# different refills, so forking has to keep a prefilled prompt across decode chunks.
SAMPLED = sampling.SamplingConfig(
    max_new_tokens=10, temperature=0.7, top_k=20, top_p=0.8, n=3, max_batch_slots=3,
    chunk_steps=4,
)


def _run(model, prompts, cfg, **kw):
    graphdef, params = sampling.sampling_params(model)
    engine = sampling.Engine(graphdef, model.config, cfg)
    out = engine.run(params, prompts, seed=1, progress=False, **kw)
    return out, engine.stats


def _assert_same(a, b) -> None:
    """Same tokens and finish reasons; log-probs equal to float32 rounding. Exact equality is
    not defined across schedules: a slot's visible-cache bucket (`Engine.kv_bucket`) follows
    its batch-mates, and attention sums over more masked positions round differently
    (~1e-6), the tolerance the engine tests already hold scheduling changes to."""
    assert helpers.tokens_of(a) == helpers.tokens_of(b)
    for ra, rb in zip(a, b, strict=True):
        for sa, sb in zip(ra, rb, strict=True):
            np.testing.assert_allclose(sa.logprobs, sb.logprobs, atol=1e-5, rtol=0)
            assert (sa.finish_reason, sa.stop) == (sb.finish_reason, sb.stop)


@pytest.fixture(scope="module")
def sampled_pair(sharp_qwen3, qwen3_paths):
    """The SAMPLED run with and without forking (stop ids on, so some samples end early
    and free their slots at odd times)."""
    prompts = qwen3_paths.prompts[:5]
    cfg = dataclasses.replace(SAMPLED, stop_token_ids=qwen3_paths.stop_ids)
    on = _run(sharp_qwen3.model, prompts, cfg)
    off = _run(sharp_qwen3.model, prompts, dataclasses.replace(cfg, fork=False))
    return prompts, on, off


def test_fork_changes_nothing_in_sampled_results(sampled_pair):
    """Per-(seed, prompt, sample) randomness survives forking: identical tokens, log-probs
    and finish reasons, with slots refilled across chunks."""
    _, (on, _), (off, _) = sampled_pair
    _assert_same(on, off)
    assert {s.finish_reason for row in on for s in row} == {"stop", "length"}


def test_fork_prefills_each_prompt_once(sampled_pair):
    """Hand count: with forking, 5 prefill rows (one per prompt) of sum(len) tokens; the
    samples not started by their prompt's prefill call are forked (3 slots hold only one
    prompt's samples, so most start in later refills); without, 15 rows of 3 x sum(len)
    tokens and nothing forked."""
    prompts, (_, on), (_, off) = sampled_pair
    tokens = sum(len(p) for p in prompts)
    assert (on["prefill_rows"], on["prefill_tokens"]) == (5, tokens)
    assert 5 <= on["forked"] <= 10
    assert (off["prefill_rows"], off["prefill_tokens"], off["forked"]) == (15, 3 * tokens, 0)
    assert on["prefill_tokens_padded"] < off["prefill_tokens_padded"]


def test_fork_greedy_with_refills_matches_hf(sharp_qwen3, qwen3_paths):
    """Greedy, n=2, 3 slots, mixed prompt lengths and stop tokens (samples ending at their
    first token included): forked samples still get HF's greedy path cut at the first stop
    token, and equal the unforked run."""
    cfg = sampling.SamplingConfig(max_new_tokens=conftest.ENGINE_NEW_TOKENS, temperature=0.0,
                                  n=2, max_batch_slots=3, chunk_steps=4,
                                  stop_token_ids=qwen3_paths.stop_ids)
    on, stats = _run(sharp_qwen3.model, qwen3_paths.prompts, cfg)
    off, _ = _run(sharp_qwen3.model, qwen3_paths.prompts, dataclasses.replace(cfg, fork=False))
    _assert_same(on, off)
    for row, path in zip(on, qwen3_paths.tokens, strict=True):
        want = helpers.cut_at_stop_ids(path, qwen3_paths.stop_ids)
        assert [s.tokens.tolist() for s in row] == [want, want]
    assert stats["prefill_rows"] == len(qwen3_paths.prompts) and stats["forked"] > 0


def test_identical_prompts_share_one_prefill(sharp_qwen3, qwen3_paths):
    """Repeated prompts (same tokens, same budget) are one class: prefilled once, yet each
    keeps its own sample keys; a different budget makes a separate class."""
    a, b = qwen3_paths.prompts[2], qwen3_paths.prompts[4]
    prompts = [a, b, a, a]
    budgets = [10, 10, 10, 6]
    cfg = dataclasses.replace(SAMPLED, n=2)
    on, stats = _run(sharp_qwen3.model, prompts, cfg, max_new_tokens=budgets)
    off, _ = _run(sharp_qwen3.model, prompts, dataclasses.replace(cfg, fork=False),
                  max_new_tokens=budgets)
    _assert_same(on, off)
    assert stats["prefill_rows"] == 3  # a (x2), b, a with budget 6
    assert stats["prefill_tokens"] == 2 * len(a) + len(b)
    assert helpers.tokens_of(on)[0] != helpers.tokens_of(on)[2]


# ---------------------------------------------------------------------------- the queue
def _queue(prompts, n, fork, budgets=None):
    arrays = [np.asarray(p, np.int32) for p in prompts]
    budgets = np.asarray(budgets or [8] * len(prompts))
    return queue_lib.SampleQueue(arrays, budgets, n, fork)


def test_queue_groups_identical_prompts_and_caps_rows():
    """Classes stay contiguous in first-appearance order; a prefill row takes at most
    `width` samples of a class and stops there, leaving the rest at the head."""
    q = _queue([[5, 6], [7], [5, 6]], n=2, fork=True)
    rows = q.take_rows(list(range(10)), width=2)
    assert [[(s.prompt, s.sample) for s in r] for r in rows] == [[(0, 0), (0, 1)]]
    assert q.head_class() == 0 and len(q) == 4
    forked = q.take_class(0, [7, 8, 9])
    assert [(s.prompt, s.sample, s.slot) for s in forked] == [(2, 0, 7), (2, 1, 8)]
    assert q.head_class() == 1


def test_queue_without_fork_makes_every_sample_its_own_class():
    q = _queue([[5, 6], [5, 6]], n=2, fork=False)
    rows = q.take_rows([0, 1, 2], width=1)
    assert [[(s.prompt, s.sample, s.slot) for s in r] for r in rows] == [
        [(0, 0, 0)], [(0, 1, 1)], [(1, 0, 2)]]
    assert len({q.class_of(p, j) for p in range(2) for j in range(2)}) == 4
