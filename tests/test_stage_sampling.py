"""One builder turns every stage section into its engine's SamplingConfig: each stage's own
knobs, its sample count, stops and prompt limit, and the engine sizing of a base it borrows."""

from __future__ import annotations

import pytest

from jaxint import stage_sampling
from jaxint.evaluation import config as eval_config
from jaxint.intervene import config as intervene_config
from jaxint.sampling.config import SamplingConfig
from jaxint.stages import config as stages_config
from jaxint.stages import generate
from jaxint.train import config as train_config
from jaxint.train import rl

BASE = SamplingConfig(max_batch_slots=7, chunk_steps=3, prefill_tokens=99)


def test_a_section_that_sizes_its_engine_uses_its_own_slots():
    g = stages_config.GenerateConfig(max_new_tokens=12, temperature=0.5, top_k=3, top_p=0.9,
                                     samples_per_problem=5, max_batch_slots=11, chunk_steps=2,
                                     max_prompt_tokens=40)
    assert generate.sampler_config(g, [2, 1]) == SamplingConfig(
        max_new_tokens=12, temperature=0.5, top_k=3, top_p=0.9, n=5, stop_token_ids=(2, 1),
        max_batch_slots=11, chunk_steps=2, max_prompt_tokens=40)
    r = train_config.GRPOConfig(samples_per_prompt=4, max_new_tokens=9, max_batch_slots=6)
    assert rl.sampler_config(r) == SamplingConfig(
        max_new_tokens=9, temperature=r.temperature, top_k=r.top_k, top_p=r.top_p, n=4,
        max_batch_slots=6, chunk_steps=r.chunk_steps)
    e = eval_config.EvalConfig(n=3, ks=(1,), max_new_tokens=8, temperature=0.0)
    assert stage_sampling.settings(e, n=e.n, stop_token_ids=[5]) == SamplingConfig(
        max_new_tokens=8, temperature=0.0, top_k=e.top_k, top_p=e.top_p, n=3,
        stop_token_ids=(5,), max_batch_slots=e.max_batch_slots, chunk_steps=e.chunk_steps)


@pytest.mark.parametrize("section,n,limit", [
    (intervene_config.InterveneConfig(max_new_tokens=10, temperature=0.3), 1, None),
    (intervene_config.FilterConfig(num_samples=6, max_new_tokens=10, max_prompt_tokens=50), 6, 50),
])
def test_a_section_without_engine_sizing_borrows_the_bases(section, n, limit):
    got = section.sampling(BASE)
    assert got == SamplingConfig(
        max_new_tokens=10, temperature=section.temperature, top_k=section.top_k,
        top_p=section.top_p, n=n, max_batch_slots=7, chunk_steps=3, prefill_tokens=99,
        max_prompt_tokens=limit)


def test_select_borrows_the_base_and_sets_its_prompt_limit():
    s = stages_config.SelectConfig(samples=8, max_new_tokens=20, max_prompt_tokens=30)
    got = stage_sampling.settings(s, n=s.samples, max_prompt_tokens=s.max_prompt_tokens, base=BASE)
    assert (got.n, got.max_new_tokens, got.max_prompt_tokens, got.max_batch_slots,
            got.chunk_steps) == (8, 20, 30, 7, 3)


def test_an_invalid_value_is_refused_by_the_one_validator():
    with pytest.raises(ValueError, match="sampling.n"):
        stage_sampling.settings(intervene_config.InterveneConfig(), n=0)
