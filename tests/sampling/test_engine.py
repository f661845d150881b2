"""The slot-refilling engine: scheduling must never change what a request gets.

Eleven requests of mixed prompt lengths and (through stop tokens) output lengths from 1 to
16 tokens run through 3 slots with small chunks, so slots are refilled many times, some
right after prefill. Greedy results must equal HF's greedy paths cut at the first stop
token (an independent reference) and one big static batch, in request order, each request
answered exactly once, whether slots are refilled or not, with n > 1 and with the queue
permuted.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from jaxint import sampling
from tests.sampling import conftest, helpers


def _config(stop_ids, **kw) -> sampling.SamplingConfig:
    base = dict(
        max_new_tokens=conftest.ENGINE_NEW_TOKENS,
        temperature=0.0,
        max_batch_slots=3,
        chunk_steps=4,
        stop_token_ids=stop_ids,
    )
    return sampling.SamplingConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def expected(qwen3_paths) -> list[list[int]]:
    """HF greedy paths cut after the first stop token: what every request must get."""
    cut = [helpers.cut_at_stop_ids(t, qwen3_paths.stop_ids) for t in qwen3_paths.tokens]
    lengths = sorted(len(c) for c in cut)
    assert lengths[0] == 1 and lengths[-1] == conftest.ENGINE_NEW_TOKENS  # a spread
    assert len(set(lengths)) >= 6
    return cut


def _check(results, expected, stop_ids, n: int = 1, order=None) -> None:
    """Every request answered once, in order, with the expected tokens and finish reason."""
    order = list(range(len(expected))) if order is None else order
    assert len(results) == len(order)
    for i, (row, p) in enumerate(zip(results, order, strict=True)):
        assert [s.sample_index for s in row] == list(range(n))
        for s in row:
            assert s.prompt_index == i
            assert s.tokens.tolist() == expected[p], f"request {i} (prompt {p})"
            if s.tokens[-1] in stop_ids:
                assert s.finish_reason == "stop" and s.stop == s.tokens[-1]
            else:
                assert s.finish_reason == "length" and s.stop is None
                assert len(s.tokens) == conftest.ENGINE_NEW_TOKENS


@pytest.fixture(scope="module")
def static_batch(sharp_qwen3, qwen3_paths):
    """All eleven requests in one batch of slots (nothing to refill)."""
    cfg = _config(qwen3_paths.stop_ids, max_batch_slots=16)
    return sampling.generate(sharp_qwen3.model, qwen3_paths.prompts, cfg, seed=0, progress=False)


def test_static_batch_matches_hf_with_stop_tokens(static_batch, qwen3_paths, expected):
    """One big batch: stop ids end each sequence right at its first stop token (kept as the
    last token, finish reason "stop"); the others run to max_new_tokens ("length")."""
    _check(static_batch, expected, qwen3_paths.stop_ids)


@pytest.mark.parametrize("refill,kv_cache", [(True, "dense"), (False, "dense"), (True, "paged")],
                         ids=["refill", "static_waves", "refill_paged"])
def test_three_slots_equal_static_batch(sharp_qwen3, qwen3_paths, expected, static_batch, refill,
                                        kv_cache):
    """3 slots for 11 requests, refilled between 4-step chunks (or, with refill=False, in
    waves of 3): exactly the static batch's tokens and the HF reference. Paged (4-token
    pages: prompts span several, most end partly filled) changes nothing."""
    cfg = _config(qwen3_paths.stop_ids, refill=refill, kv_cache=kv_cache, page_size=4)
    engine_out = sampling.generate(
        sharp_qwen3.model, qwen3_paths.prompts, cfg, seed=0, progress=False
    )
    _check(engine_out, expected, qwen3_paths.stop_ids)
    assert helpers.tokens_of(engine_out) == helpers.tokens_of(static_batch)
    for a, b in zip(engine_out, static_batch, strict=True):
        np.testing.assert_allclose(a[0].logprobs, b[0].logprobs, atol=1e-5, rtol=0)


def test_n_samples_and_permuted_queue(sharp_qwen3, qwen3_paths, expected):
    """n=2 greedy samples per request (sharing a prefill, spread over slots) are both the
    reference path; a permuted request order gives the same answers, permuted."""
    order = np.random.RandomState(0).permutation(len(expected)).tolist()
    prompts = [qwen3_paths.prompts[p] for p in order]
    cfg = _config(qwen3_paths.stop_ids, n=2)
    out = sampling.generate(sharp_qwen3.model, prompts, cfg, seed=0, progress=False)
    _check(out, expected, qwen3_paths.stop_ids, n=2, order=order)


def test_engine_stats_and_refill_saves_chunks(sharp_qwen3, qwen3_paths, expected):
    """The engine's bookkeeping: tokens reported = tokens returned (none dropped or double
    counted across refills) with the requested 3 slots; and refilling really happens: it
    needs fewer decode chunks than waves of 3 that wait for their longest member."""
    graphdef, params = sampling.sampling_params(sharp_qwen3.model)
    chunks = {}
    for refill in (True, False):
        cfg = _config(qwen3_paths.stop_ids, refill=refill)
        engine = sampling.Engine(graphdef, sharp_qwen3.model.config, cfg)
        out = engine.run(params, qwen3_paths.prompts, seed=0, progress=False)
        _check(out, expected, qwen3_paths.stop_ids)
        assert engine.stats["tokens"] == sum(len(e) for e in expected)
        assert engine.stats["slots"] == 3
        chunks[refill] = engine.stats["chunks"]
    assert chunks[True] < chunks[False], chunks


def test_per_request_budgets(sharp_qwen3, qwen3_paths, expected):
    """`generate(..., max_new_tokens=[...])` gives each request its own budget: a request
    gets its reference path cut at its first stop token or at its budget, whichever comes
    first ("stop" / "length"); 3 refilled slots, budgets from 1 to 16."""
    budgets = [16, 3, 9, 1, 16, 5, 2, 12, 7, 16, 4]
    cfg = _config(qwen3_paths.stop_ids)
    out = sampling.generate(
        sharp_qwen3.model,
        qwen3_paths.prompts,
        cfg,
        seed=0,
        progress=False,
        max_new_tokens=budgets,
    )
    for i, (row, want, budget) in enumerate(zip(out, expected, budgets, strict=True)):
        got = row[0]
        assert got.tokens.tolist() == want[:budget], f"request {i}"
        stopped = len(want) <= budget and want[-1] in qwen3_paths.stop_ids
        assert got.finish_reason == ("stop" if stopped else "length"), f"request {i}"
    assert {len(w) > b for w, b in zip(expected, budgets, strict=True)} == {True, False}
    with pytest.raises(ValueError, match="max_new_tokens"):
        sampling.generate(
            sharp_qwen3.model,
            qwen3_paths.prompts[:2],
            cfg,
            seed=0,
            progress=False,
            max_new_tokens=[4],
        )


# ---------------------------------------------------------------------------- seeds
SAMPLED = sampling.SamplingConfig(
    max_new_tokens=10,
    temperature=0.7,
    top_k=20,
    top_p=0.8,
    n=3,
    max_batch_slots=3,
    chunk_steps=4,
)


@pytest.fixture(scope="module")
def sampled(sharp_qwen3, qwen3_paths):
    """Qwen-style sampling (T=0.7, top-k 20, top-p 0.8), 3 samples of 5 requests, seed 1."""
    prompts = qwen3_paths.prompts[:5]
    return prompts, sampling.generate(sharp_qwen3.model, prompts, SAMPLED, seed=1, progress=False)


def test_same_seed_same_samples_different_seed_differs(sharp_qwen3, sampled):
    """Reproducibility: seed 1 twice gives identical samples; seed 2 gives different ones,
    and the n samples of one prompt differ from each other (each has its own key)."""
    prompts, first = sampled
    again = sampling.generate(sharp_qwen3.model, prompts, SAMPLED, seed=1, progress=False)
    other = sampling.generate(sharp_qwen3.model, prompts, SAMPLED, seed=2, progress=False)
    assert helpers.tokens_of(again) == helpers.tokens_of(first)
    diff = sum(
        a != b
        for ra, rb in zip(helpers.tokens_of(first), helpers.tokens_of(other), strict=True)
        for a, b in zip(ra, rb, strict=True)
    )
    assert diff >= 10, f"only {diff}/15 samples changed with the seed"
    assert all(len({tuple(t) for t in row}) > 1 for row in helpers.tokens_of(first))


def test_samples_do_not_depend_on_slots_or_chunks(sharp_qwen3, sampled):
    """A sample depends only on (seed, prompt index, sample index): 6 slots with 7-step
    chunks (other slot assignments, batch-mates and chunk boundaries) give the same
    samples as 3 slots with 4-step chunks."""
    prompts, first = sampled
    cfg = dataclasses.replace(SAMPLED, max_batch_slots=6, chunk_steps=7)
    out = sampling.generate(sharp_qwen3.model, prompts, cfg, seed=1, progress=False)
    assert helpers.tokens_of(out) == helpers.tokens_of(first)


def test_sampled_logprobs_and_support_match_teacher_forcing(sharp_qwen3, sampled):
    """For sampled runs: logprobs are the *untempered* log-softmax of HF's teacher-forced
    logits at each chosen token (<= 1e-4), and every token lies in the top-k / top-p set of
    those logits at T=0.7 (computed in numpy; nucleus widened by 1e-4 for rounding)."""
    prompts, first = sampled
    for prompt, row in zip(prompts, first, strict=True):
        for s in row:
            logits = helpers.hf_logits(sharp_qwen3.hf, prompt, s.tokens.tolist())
            lp = logits - logits.max(-1, keepdims=True)
            lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
            idx = np.arange(len(s.tokens))
            np.testing.assert_allclose(s.logprobs, lp[idx, s.tokens], atol=1e-4, rtol=0)
            for t, row_logits in zip(s.tokens, logits, strict=True):
                dist = helpers.sampling_distribution(row_logits, 0.7, 20, 0.8, slack=1e-4)
                assert dist[t] > 0, f"token {t} outside the top-k/top-p set"
            assert s.finish_reason == "length" and len(s.tokens) == SAMPLED.max_new_tokens


def test_chunk_plan_uses_the_smaller_bucket_when_half_a_chunk_fits(sharp_qwen3):
    """Hand-worked chunk plans (chunk 64, kv buckets 128, 256, ...): a chunk runs short in
    the smaller bucket only when at least half a chunk fits there; buckets never pass the
    cache length."""
    cfg = sampling.SamplingConfig(max_new_tokens=192, temperature=0.0, chunk_steps=64)
    graphdef, _ = sampling.sampling_params(sharp_qwen3.model)
    engine = sampling.Engine(graphdef, sharp_qwen3.model.config, cfg)
    assert engine.chunk_plan(65, 256) == (63, 128)   # a 64-token prompt's first chunk
    assert engine.chunk_plan(96, 256) == (32, 128)   # exactly half a chunk fits: short
    assert engine.chunk_plan(97, 256) == (64, 256)   # 31 steps would fit: one full chunk
    assert engine.chunk_plan(128, 256) == (64, 256)
    assert engine.chunk_plan(10, 256) == (64, 128)   # a full chunk fits the smallest bucket
    assert engine.chunk_plan(65, 100) == (64, 100)   # capped at the cache length
    assert engine.chunk_plan(300, 2048) == (64, 512)


def test_first_chunk_of_a_64_token_prompt_attends_128_positions(sharp_qwen3):
    """The engine follows the plan: 64-token prompts, 192 new tokens in chunks of 64 run
    63 steps over 128 cache positions, then two chunks over 256 (before: all three over
    256), and the greedy tokens equal a run in chunks of 8 (other buckets and shapes)."""
    rng = np.random.default_rng(3)
    prompts = [rng.integers(0, conftest.VOCAB, 64).tolist() for _ in range(2)]
    graphdef, params = sampling.sampling_params(sharp_qwen3.model)
    runs = {}
    for chunk in (64, 8):
        cfg = sampling.SamplingConfig(max_new_tokens=192, temperature=0.0, chunk_steps=chunk,
                                      stop_token_ids=())
        engine = sampling.Engine(graphdef, sharp_qwen3.model.config, cfg)
        runs[chunk] = (engine.run(params, prompts, seed=0, progress=False), engine.stats)
    out, stats = runs[64]
    assert stats["chunks"] == 3
    assert stats["attended_positions"] == 63 * 128 + 2 * 64 * 256
    assert helpers.tokens_of(out) == helpers.tokens_of(runs[8][0])


def test_noise_drawn_per_chunk_equals_drawing_at_each_step(sharp_qwen3, sampled, monkeypatch):
    """The sampled decode draws a chunk's Gumbel noise ahead (`Selection.chunk_noise`); with
    that switched off (each step folds its key and draws, as `jax.random.categorical` does)
    every token and log-prob is the same, here with 3 slots refilled across 4-step chunks
    and again with top-k off (full-vocabulary candidates)."""
    from jaxint.sampling import steps

    prompts, first = sampled
    full_vocab = dataclasses.replace(SAMPLED, top_k=0)
    ahead = sampling.generate(sharp_qwen3.model, prompts, full_vocab, seed=1, progress=False)
    monkeypatch.setattr(steps, "MAX_CHUNK_NOISE", 0)
    jax.clear_caches()  # the decode chunk was traced with the noise drawn ahead
    for cfg, want in ((SAMPLED, first), (full_vocab, ahead)):
        out = sampling.generate(sharp_qwen3.model, prompts, cfg, seed=1, progress=False)
        assert helpers.tokens_of(out) == helpers.tokens_of(want)
        for row_a, row_b in zip(out, want, strict=True):
            for a, b in zip(row_a, row_b, strict=True):
                np.testing.assert_array_equal(a.logprobs, b.logprobs)
    jax.clear_caches()
