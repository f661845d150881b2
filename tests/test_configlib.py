"""Strict YAML configs: unknown keys and wrong types name key and file; overrides; `base:`."""

from __future__ import annotations

import dataclasses

import pytest

from jaxint import configlib
from jaxint.parallel import config as parallel_config


@dataclasses.dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    steps: int = 10
    schedule: str = "cosine"


@dataclasses.dataclass(frozen=True)
class Run:
    name: str = "run"
    optim: Optim = dataclasses.field(default_factory=Optim)
    mesh: parallel_config.MeshConfig = dataclasses.field(
        default_factory=parallel_config.MeshConfig)
    tags: tuple[str, ...] = ()


def _write(path, text):
    path.write_text(text)
    return path


def test_defaults_file_and_overrides_in_order(tmp_path):
    assert configlib.load(Run) == Run()
    f = _write(tmp_path / "run.yaml", "name: a\noptim:\n  lr: 0.5\n  steps: 3\n")
    cfg = configlib.load(Run, f, ["optim.steps=7", "mesh.tensor=2", "tags=[x,y]"])
    assert cfg == Run(name="a", optim=Optim(lr=0.5, steps=7), tags=("x", "y"),
                      mesh=parallel_config.MeshConfig(tensor=2))
    assert isinstance(cfg.optim, Optim) and isinstance(cfg.tags, tuple)


def test_unknown_key_names_key_and_file(tmp_path):
    f = _write(tmp_path / "typo.yaml", "optim:\n  lrr: 0.5\n")
    with pytest.raises(configlib.ConfigError) as err:
        configlib.load(Run, f)
    assert "optim.lrr" in str(err.value) and str(f) in str(err.value)
    with pytest.raises(configlib.ConfigError, match=r"command line.*optim\.stepz"):
        configlib.load(Run, None, ["optim.stepz=3"])


def test_wrong_type_names_key_and_file(tmp_path):
    f = _write(tmp_path / "bad.yaml", "optim:\n  steps: many\n")
    with pytest.raises(configlib.ConfigError) as err:
        configlib.load(Run, f)
    assert "optim.steps" in str(err.value) and str(f) in str(err.value)
    with pytest.raises(configlib.ConfigError, match=r"command line.*optim\.lr"):
        configlib.load(Run, None, ["optim.lr=fast"])
    with pytest.raises(configlib.ConfigError, match="key.sub=value"):
        configlib.load(Run, None, ["optim.lr"])


def test_validation_errors_of_the_dataclass_surface(tmp_path):
    f = _write(tmp_path / "mesh.yaml", "mesh:\n  data: 0\n")
    with pytest.raises(configlib.ConfigError, match=r"mesh\.yaml.*mesh\.data must be .* got 0"):
        configlib.load(Run, f)
    with pytest.raises(configlib.ConfigError, match=r"command line.*at most one mesh axis"):
        configlib.load(Run, None, ["mesh.data=-1"])


def test_base_inheritance(tmp_path):
    _write(tmp_path / "base.yaml", "name: base\noptim:\n  lr: 0.1\n  steps: 5\n")
    (tmp_path / "sub").mkdir()
    child = _write(tmp_path / "sub" / "child.yaml",
                   "base: ../base.yaml\noptim:\n  steps: 9\ntags: [c]\n")
    cfg = configlib.load(Run, child, ["name=cli"])
    assert cfg == Run(name="cli", optim=Optim(lr=0.1, steps=9), tags=("c",))


def test_unknown_key_in_a_base_file_names_the_base_file(tmp_path):
    base = _write(tmp_path / "base.yaml", "optim:\n  warmup: 3\n")
    child = _write(tmp_path / "child.yaml", "base: base.yaml\nname: c\n")
    with pytest.raises(configlib.ConfigError) as err:
        configlib.load(Run, child)
    assert "optim.warmup" in str(err.value) and str(base) in str(err.value)
    assert str(child) not in str(err.value)


def test_missing_and_circular_base(tmp_path):
    child = _write(tmp_path / "child.yaml", "base: nowhere.yaml\n")
    with pytest.raises(configlib.ConfigError, match="nowhere.yaml"):
        configlib.load(Run, child)
    _write(tmp_path / "a.yaml", "base: b.yaml\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(configlib.ConfigError, match="circular"):
        configlib.load(Run, tmp_path / "a.yaml")


def test_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(configlib.ConfigError, match="top level must be a mapping"):
        configlib.load(Run, _write(tmp_path / "list.yaml", "- 1\n- 2\n"))
    with pytest.raises(configlib.ConfigError, match="not found"):
        configlib.load(Run, tmp_path / "absent.yaml")


def test_to_dict_round_trips_through_yaml(tmp_path):
    cfg = Run(name="r", optim=Optim(lr=0.25), tags=("a",))
    import yaml

    f = _write(tmp_path / "dump.yaml", yaml.safe_dump(configlib.to_dict(cfg)))
    assert configlib.load(Run, f) == cfg


def test_an_override_yaml_cannot_read_is_a_config_error_naming_it():
    # "*" starts a YAML alias: this was an "internal error" with a scanner traceback line.
    with pytest.raises(configlib.ConfigError, match=r"tags=\[-,\*\]"):
        configlib.load(Run, None, ["optim.steps=2", "tags=[-,*]"])
    assert configlib.load(Run, None, ['tags=["-","*"]']).tags == ("-", "*")
