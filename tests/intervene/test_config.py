"""Config validation and strict loading."""

import pytest

from jaxint import configlib
from jaxint.intervene import config as intervene_config


def test_defaults_follow_the_paper():
    cfg = intervene_config.InterveneConfig()
    assert (cfg.proposals_per_attempt, cfg.max_prompt_tokens, cfg.intervener) == (4, 30_000,
                                                                                 "policy")
    f = intervene_config.FilterConfig()
    assert (f.enabled, f.num_samples, f.min_correct) == (True, 32, 1)
    s = f.continuation_sampling()
    assert (s.n, s.temperature, s.top_k, s.top_p) == (32, 0.7, 20, 0.8)
    assert (s.max_new_tokens, s.max_prompt_tokens) == (16_384, 30_000)


@pytest.mark.parametrize("kwargs, match", [
    ({"intervener": "teacher"}, r"InterveneConfig.intervener must be one of .* got 'teacher'"),
    ({"intervener": "model"}, r"InterveneConfig.intervener_path .* got None"),
    ({"intervener_path": "/m"}, r"InterveneConfig.intervener_path .* got '/m'"),
    ({"proposals_per_attempt": 0}, r"InterveneConfig.proposals_per_attempt must be >= 1, got 0"),
    ({"splitter": "lines"}, r"InterveneConfig.splitter .* got 'lines'"),
])
def test_intervene_config_errors_name_field_and_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        intervene_config.InterveneConfig(**kwargs)


def test_filter_config_errors():
    with pytest.raises(ValueError, match=r"FilterConfig.min_correct must be in 0..num_samples"):
        intervene_config.FilterConfig(num_samples=4, min_correct=5)
    with pytest.raises(ValueError, match=r"FilterConfig.score_workers .* got 0"):
        intervene_config.FilterConfig(score_workers=0)


def test_strict_loading_with_overrides(tmp_path):
    path = tmp_path / "i.yaml"
    path.write_text("intervener: model\nintervener_path: /models/big\nsplitter: max_steps\n")
    cfg = configlib.load(intervene_config.InterveneConfig, path,
                         ["max_steps=12", "template_dir=/t"])
    assert (cfg.intervener_path, cfg.max_steps, cfg.template_dir) == ("/models/big", 12, "/t")
    with pytest.raises(configlib.ConfigError, match="proposals"):
        configlib.load(intervene_config.InterveneConfig, None, ["proposals=3"])
    with pytest.raises(configlib.ConfigError, match="min_correct"):
        configlib.load(intervene_config.FilterConfig, None, ["num_samples=2", "min_correct=3"])
