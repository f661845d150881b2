"""The paged KV cache: the same samples as the dense cache, with pages shared across a forked
prompt's samples, returned when samples finish, and preemption when the pool runs short.

The reference is always the dense engine on the same requests (itself held to HF greedy paths
in test_engine.py): tokens and finish reasons must be identical, log-probs equal to float32
rounding (the tolerance the engine tests hold scheduling changes to).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jaxint import sampling
from jaxint.models import paged_cache
from jaxint.sampling import pages as pages_lib
from tests.sampling import conftest, helpers

GREEDY = sampling.SamplingConfig(max_new_tokens=conftest.ENGINE_NEW_TOKENS, temperature=0.0,
                                 max_batch_slots=3, chunk_steps=4)
SAMPLED = sampling.SamplingConfig(max_new_tokens=10, temperature=0.7, top_k=20, top_p=0.8, n=3,
                                  max_batch_slots=3, chunk_steps=4)


def _run(model, prompts, cfg, **kw):
    graphdef, params = sampling.sampling_params(model)
    engine = sampling.Engine(graphdef, model.config, cfg)
    out = engine.run(params, prompts, seed=1, progress=False, **kw)
    return out, engine


def _assert_same(a, b) -> None:
    assert helpers.tokens_of(a) == helpers.tokens_of(b)
    for ra, rb in zip(a, b, strict=True):
        for sa, sb in zip(ra, rb, strict=True):
            np.testing.assert_allclose(sa.logprobs, sb.logprobs, atol=1e-5, rtol=0)
            assert (sa.finish_reason, sa.stop) == (sb.finish_reason, sb.stop)


def _paged(cfg, **kw):
    return dataclasses.replace(cfg, kv_cache="paged", page_size=4, **kw)


@pytest.fixture(scope="module")
def sampled_dense(sharp_qwen3, qwen3_paths):
    """SAMPLED (forked, stop ids on) on the dense cache: the reference of the sampled tests."""
    cfg = dataclasses.replace(SAMPLED, stop_token_ids=qwen3_paths.stop_ids)
    return cfg, _run(sharp_qwen3.model, qwen3_paths.prompts[:5], cfg)[0]


def test_paged_forked_samples_share_prompt_pages(sharp_qwen3, qwen3_paths, sampled_dense):
    """Sampled with a fixed seed, forked: identical to dense. 3 samples of one prompt start
    together in the 3 slots and share its full 4-token prompt pages: each such page has 4
    references at once (the class's + one per sample). Every page is back in the pool after
    the run, and sharing needs fewer pages at the peak than the same run without forking."""
    cfg, dense = sampled_dense
    prompts = qwen3_paths.prompts[:5]
    out, engine = _run(sharp_qwen3.model, prompts, _paged(cfg))
    _assert_same(out, dense)
    assert {s.finish_reason for row in out for s in row} == {"stop", "length"}
    assert engine.stats["page_refs_max"] == 4 and engine.stats["preempted"] == 0
    assert engine.page_pool.in_use() == 0 and (engine.page_pool.refs == 0).all()
    peak = engine.stats["pages_peak"]
    out, engine = _run(sharp_qwen3.model, prompts, _paged(cfg, fork=False))
    _assert_same(out, dense)
    assert engine.stats["page_refs_max"] == 1 and engine.page_pool.in_use() == 0
    assert peak < engine.stats["pages_peak"]


def _decoded_once(out, stats) -> None:
    """No token was decoded twice: every sample's tokens are its first (drawn at prefill)
    plus what decode chunks produced, so a preempted sample resumed where it stopped instead
    of decoding its tokens again."""
    tokens = sum(len(s.tokens) for row in out for s in row)
    samples = sum(len(row) for row in out)
    assert stats["decoded_tokens"] == tokens - samples, stats
    assert stats["tokens"] == tokens


def test_small_pool_preempts_and_changes_nothing(sharp_qwen3, qwen3_paths, sampled_dense):
    """A pool of 40 tokens (10 pages of 4) for 3 slots whose samples need up to 8 pages each:
    samples wait for pages and running ones are preempted, then resume from their tokens (a
    prefill of prompt + tokens, no token decoded twice) and end with the same tokens; greedy
    (11 requests, budgets to 16) and sampled (forked, seed 1) both equal dense."""
    greedy = dataclasses.replace(GREEDY, stop_token_ids=qwen3_paths.stop_ids)
    dense, _ = _run(sharp_qwen3.model, qwen3_paths.prompts, greedy)
    out, engine = _run(sharp_qwen3.model, qwen3_paths.prompts, _paged(greedy, kv_pool_tokens=40))
    _assert_same(out, dense)
    assert engine.stats["preempted"] > 0, "the pool was not small enough to preempt"
    assert engine.stats["resumed"] > 0, "no preempted sample had tokens to keep"
    assert engine.stats["pages_peak"] <= 10 and engine.page_pool.in_use() == 0
    _decoded_once(out, engine.stats)
    cfg, ref = sampled_dense
    out, engine = _run(sharp_qwen3.model, qwen3_paths.prompts[:5], _paged(cfg, kv_pool_tokens=28))
    _assert_same(out, ref)
    assert engine.stats["preempted"] > 0 and engine.page_pool.in_use() == 0
    assert engine.stats["resumed"] > 0
    _decoded_once(out, engine.stats)


@pytest.fixture(scope="module")
def wide_head_qwen3(tmp_path_factory):
    """A tiny Qwen3 with 128-wide heads (4 query heads, 2 kv heads, 2 layers): the TPU kernel
    tiles head_dim by 128 lanes, so the sharpened fixtures (head_dim 10) cannot run it."""
    import torch
    import transformers

    from jaxint import models

    torch.manual_seed(0)
    hf = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(
        vocab_size=conftest.VOCAB, hidden_size=48, intermediate_size=88, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=128,
        max_position_embeddings=256, rms_norm_eps=1e-6, initializer_range=0.2,
        tie_word_embeddings=False)).eval()
    path = tmp_path_factory.mktemp("wide_head_qwen3")
    hf.save_pretrained(path)
    return models.load_hf(path, dtype="float32")


def test_tpu_kernel_in_the_engine_equals_dense(wide_head_qwen3, monkeypatch):
    """The engine with its decode attention through the TPU ragged paged attention kernel (in
    Pallas' TPU interpret mode: `kernel_for` is made to pick it here as it does on TPU), over
    the stacked pool of scanned layers: forked samples sharing prompt pages, then a pool small
    enough to preempt and resume. Tokens and finish reasons identical to the dense engine,
    log-probs to float32 rounding."""
    prompts = helpers.random_prompts([5, 9, 3, 12], conftest.VOCAB, seed=3)
    cfg = dataclasses.replace(SAMPLED, max_batch_slots=4)
    dense, _ = _run(wide_head_qwen3, prompts, cfg)
    traced = []

    def kernel_attend(*args):
        traced.append(args[-1])  # `interpret`
        return original(*args)

    original = paged_cache._kernel_attend
    monkeypatch.setattr(paged_cache, "_kernel_attend", kernel_attend)
    monkeypatch.setattr(paged_cache, "kernel_for",
                        lambda platform, head_dim: paged_cache.Paging(kernel=True, interpret=True))
    out, engine = _run(wide_head_qwen3, prompts, _paged(cfg))
    assert traced and all(traced), "decode did not go through the kernel"
    _assert_same(out, dense)
    assert engine.stats["forked"] > 0 and engine.stats["page_refs_max"] > 1
    out, engine = _run(wide_head_qwen3, prompts, _paged(cfg, kv_pool_tokens=28))
    _assert_same(out, dense)
    assert engine.stats["preempted"] > 0 and engine.stats["resumed"] > 0
    assert engine.page_pool.in_use() == 0
    _decoded_once(out, engine.stats)


def test_pool_below_one_sample_is_refused_by_name(sharp_qwen3, qwen3_paths):
    """A pool that cannot hold the largest sample (15 + 16 tokens) could never finish it."""
    cfg = _paged(GREEDY, kv_pool_tokens=16)
    with pytest.raises(ValueError, match=r"^sampling\.kv_pool_tokens=16 gives each of 1 slot"):
        _run(sharp_qwen3.model, qwen3_paths.prompts, cfg)


@pytest.mark.parametrize("changes,key", [
    ({"page_size": 0}, "page_size"), ({"kv_cache": "ragged"}, "kv_cache"),
    ({"kv_pool_tokens": 8, "page_size": 16}, "kv_pool_tokens"),
    ({"kv_pool_tokens": 64, "max_cache_tokens": 128}, "kv_pool_tokens"),
    ({"expected_len": 0}, "expected_len"),
])
def test_invalid_paged_settings_name_the_key(changes, key):
    with pytest.raises(ValueError, match=rf"^sampling\.{key} must") as err:
        sampling.SamplingConfig(**changes)
    assert "\n" not in str(err.value)


def test_page_pool_counts_references_per_shard():
    """The host allocator: per-shard free lists, shared pages freed by their last holder,
    a short shard refuses without taking anything, a double release is caught."""
    pool = pages_lib.PagePool(shards=2, per_shard=4)
    a = pool.alloc(0, 3)
    assert a == [0, 1, 2] and pool.free_pages(0) == 1 and pool.free_pages(1) == 4
    assert pool.alloc(0, 2) is None and pool.free_pages(0) == 1
    pool.share(0, a[:2])
    pool.release(0, a)
    assert pool.in_use() == 2 and pool.refs[0].tolist() == [1, 1, 0, 0]
    pool.release(0, a[:2])
    assert pool.in_use() == 0 and pool.free_pages(0) == 4 and pool.max_refs == 2
    with pytest.raises(RuntimeError, match="released more often"):
        pool.release(0, [1])
    slots = pages_lib.SlotPages(pool, slots=4, width=3, page_size=4)
    assert slots.shard(1) == 0 and slots.shard(2) == 1
    slots.assign(2, [], pool.alloc(1, 1))
    assert slots.grow(2, 9) and slots.table[2].tolist() == [0, 1, 2]
    assert not slots.grow(3, 20)  # 5 pages > the shard's 4
    slots.clear(2)
    assert slots.table[2].tolist() == [4, 4, 4] and pool.in_use() == 0
