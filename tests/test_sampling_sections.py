"""One `sampling:` section per stage, of the one `SamplingConfig` type: each stage's defaults,
its sample count, stops and prompt limit added by `with_count`, validation once at load under
the full key, and the old flat keys refused with the name of the new one."""

from __future__ import annotations

import pytest

from jaxint import config as run_config
from jaxint import configlib, drift
from jaxint.evaluation import config as eval_config
from jaxint.intervene import config as intervene_config
from jaxint.sampling.config import SamplingConfig
from jaxint.stages import config as stages_config
from jaxint.stages import generate
from jaxint.train import config as train_config
from jaxint.train import rl

SAMPLING = SamplingConfig(max_new_tokens=12, temperature=0.5, top_k=3, top_p=0.9,
                          max_batch_slots=11, chunk_steps=2, stop_token_ids=(9,))


def test_each_stage_runs_its_section_with_its_count_stops_and_prompt_limit():
    g = stages_config.GenerateConfig(samples_per_problem=5, max_prompt_tokens=40,
                                     sampling=SAMPLING)
    assert generate.sampler_config(g, [2, 9, 1]) == SamplingConfig(
        max_new_tokens=12, temperature=0.5, top_k=3, top_p=0.9, n=5, stop_token_ids=(9, 2, 1),
        max_batch_slots=11, chunk_steps=2, max_prompt_tokens=40)
    r = train_config.GRPOConfig(samples_per_prompt=4, sampling=SAMPLING)
    assert rl.sampler_config(r) == SAMPLING.with_count(4)
    f = intervene_config.FilterConfig(num_samples=6, max_prompt_tokens=50, sampling=SAMPLING)
    got = f.continuation_sampling()
    assert (got.n, got.max_prompt_tokens, got.max_batch_slots) == (6, 50, 11)


def test_stage_defaults_are_the_papers():
    cfg = run_config.RunConfig()
    for section in ("select", "generate", "intervene", "filter", "eval"):
        s = getattr(cfg, section).sampling
        assert (s.max_new_tokens, s.temperature, s.top_k, s.top_p, s.max_batch_slots,
                s.chunk_steps) == (16_384, 0.7, 20, 0.8, 256, 64), section
    s = cfg.rl.sampling
    assert (s.max_new_tokens, s.temperature, s.top_k, s.top_p) == (16_384, 1.0, 0, 1.0)


@pytest.mark.parametrize("old,new", [
    ("rl.temperature", "rl.sampling.temperature"),
    ("generate.max_new_tokens", "generate.sampling.max_new_tokens"),
    ("generate.max_batch_slots", "generate.sampling.max_batch_slots"),
    ("intervene.top_p", "intervene.sampling.top_p"),
    ("filter.top_k", "filter.sampling.top_k"),
    ("select.temperature", "select.sampling.temperature"),
    ("eval.chunk_steps", "eval.sampling.chunk_steps"),
])
def test_an_old_flat_key_names_the_new_one(tmp_path, old, new):
    with pytest.raises(configlib.ConfigError) as err:
        run_config.load(None, [f"{old}=1"])
    assert str(err.value) == f"command line: key '{old}' is now '{new}'; write it there"
    section, key = old.split(".")
    path = tmp_path / "old.yaml"
    path.write_text(f"{section}:\n  {key}: 1\n")
    with pytest.raises(configlib.ConfigError, match=f"{path}: key '{old}' is now '{new}'"):
        run_config.load(path)
    assert drift.MOVED[old] == new


@pytest.mark.parametrize("override,message", [
    ("generate.sampling.n=2", "generate.sampling.n is set by generate.samples_per_problem"),
    ("select.sampling.n=3", "select.sampling.n is set by select.samples"),
    ("filter.sampling.max_prompt_tokens=9",
     "filter.sampling.max_prompt_tokens is set by filter.max_prompt_tokens"),
    ("intervene.sampling.n=2", "intervene.sampling.n is set by intervene.proposals_per_attempt"),
    ("eval.sampling.n=4", "eval.sampling.n is set by eval.n"),
    ("rl.sampling.temperature=0", "rl.sampling.temperature must be > 0"),
])
def test_what_a_stage_sets_itself_is_refused_in_its_section(override, message):
    with pytest.raises(configlib.ConfigError, match=message):
        run_config.load(None, [override])


def test_a_bad_value_is_refused_at_load_by_the_one_validator():
    with pytest.raises(configlib.ConfigError,
                       match=r"command line: intervene.sampling.top_p must be in \(0, 1\], "
                             r"got 0.0"):
        run_config.load(None, ["intervene.sampling.top_p=0"])
    with pytest.raises(ValueError, match=r"sampling.max_batch_slots must be >= 1, got 0"):
        eval_config.EvalConfig(sampling=SamplingConfig(max_batch_slots=0))


@pytest.mark.parametrize("override,message", [
    ("rl.sampling.kv_cache=ragged",
     r"rl.sampling.kv_cache must be one of \('dense', 'paged'\), got 'ragged'$"),
    ("generate.sampling.page_size=0", r"generate.sampling.page_size must be >= 1, got 0$"),
    ("eval.sampling.kv_pool_tokens=8",
     r"eval.sampling.kv_pool_tokens must be null or >= page_size \(64\), got 8$"),
])
def test_a_bad_paged_setting_is_one_line_naming_its_section_key(override, message):
    with pytest.raises(configlib.ConfigError, match=message) as err:
        run_config.load(None, [override])
    assert "\n" not in str(err.value)


def test_with_count_keeps_the_configured_stops_first_and_the_limit_unless_given():
    s = SamplingConfig(stop_token_ids=(3, 1), max_prompt_tokens=7)
    assert s.with_count(2, stop_token_ids=(1, 5)) == SamplingConfig(
        n=2, stop_token_ids=(3, 1, 5), max_prompt_tokens=7)
    assert s.with_count(1, max_prompt_tokens=9).max_prompt_tokens == 9


def test_the_model_intervener_samples_with_the_intervene_section():
    from jaxint.stages import intervene as intervene_stage

    cfg = intervene_config.InterveneConfig(sampling=SAMPLING)
    intervener = intervene_stage.make_intervener(cfg, model=object(), tokenizer=object())
    assert intervener.sampling_cfg == SAMPLING  # its own slots, not another stage's


def test_a_stage_config_module_loads_without_jax():
    """`sampling.config` types every stage section; the package loads its JAX parts lazily,
    so the stage configs stay free of JAX."""
    import subprocess
    import sys

    code = ("import sys; import jaxint.train.config, jaxint.evaluation.config, "
            "jaxint.intervene.config, jaxint.stages.config; print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
