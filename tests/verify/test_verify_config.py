"""VerifyConfig: defaults, validation messages, OmegaConf compatibility, score_batch kwargs."""

import inspect

import pytest
from omegaconf import OmegaConf

import jaxint.verify
from jaxint.verify import config as verify_config


def test_defaults_match_the_paper_and_the_functions():
    cfg = verify_config.VerifyConfig()
    assert cfg.timeout_s == 10.0
    assert cfg.num_workers == 0
    signature = inspect.signature(jaxint.verify.score_batch)
    for name, value in cfg.batch_kwargs().items():
        default = signature.parameters[name].default
        assert value == default or (name == "num_workers" and default is None)
    inspect.signature(jaxint.verify.score).bind("c", "g", **cfg.score_kwargs())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout_s", 0.0),
        ("timeout_s", -1.0),
        ("timeout_s", float("inf")),
        ("num_workers", -1),
        ("chunk_size", 0),
        ("max_completion_chars", 0),
        ("max_answer_chars", -5),
    ],
)
def test_invalid_values_name_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"{field}.*{value}"):
        verify_config.VerifyConfig(**{field: value})


def test_omegaconf_structured_round_trip_and_overrides():
    schema = OmegaConf.structured(verify_config.VerifyConfig)
    merged = OmegaConf.merge(schema, OmegaConf.from_dotlist(["timeout_s=2.5", "num_workers=3"]))
    cfg = OmegaConf.to_object(merged)
    assert cfg == verify_config.VerifyConfig(timeout_s=2.5, num_workers=3)
    bad = OmegaConf.merge(schema, OmegaConf.from_dotlist(["chunk_size=0"]))
    with pytest.raises(ValueError, match="chunk_size"):
        OmegaConf.to_object(bad)


def test_config_is_frozen():
    cfg = verify_config.VerifyConfig()
    with pytest.raises(AttributeError):
        cfg.timeout_s = 1.0
