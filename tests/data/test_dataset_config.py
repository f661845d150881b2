"""DatasetConfig validation and loading through the project's YAML config loader."""

import pytest

from jaxint import configlib
from jaxint.data import config as data_config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("path", ""),
        ("problem_key", ""),
        ("on_bad_row", "ignore"),
        ("limit", 0),
        ("limit", -3),
    ],
)
def test_invalid_values_name_field_and_value(field, value):
    with pytest.raises(ValueError) as err:
        data_config.DatasetConfig(**{field: value})
    assert field in str(err.value)
    assert repr(value) in str(err.value)


def test_keys_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        data_config.DatasetConfig(problem_key="text", answer_key="text")


def test_loads_from_yaml_with_overrides(tmp_path):
    yaml_file = tmp_path / "data.yaml"
    yaml_file.write_text("path: pool.jsonl\nproblem_key: question\non_bad_row: skip\n")
    cfg = configlib.load(data_config.DatasetConfig, yaml_file, ["limit=7"])
    assert cfg == data_config.DatasetConfig(
        path="pool.jsonl", problem_key="question", on_bad_row="skip", limit=7
    )


def test_yaml_unknown_key_and_bad_value_are_errors(tmp_path):
    yaml_file = tmp_path / "data.yaml"
    yaml_file.write_text("path: pool.jsonl\nproblem_kye: question\n")
    with pytest.raises(configlib.ConfigError, match="problem_kye"):
        configlib.load(data_config.DatasetConfig, yaml_file)
    with pytest.raises(configlib.ConfigError, match="on_bad_row"):
        configlib.load(data_config.DatasetConfig, None, ["on_bad_row=maybe"])
