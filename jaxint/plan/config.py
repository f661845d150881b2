"""What `jaxint plan` reads from a config file: the sections that size a run.

A plan is made from the very file a user launches (a full `jaxint run` config), so loading
cannot be strict about sections it does not use (data, verify, intervene, ...). It reads the
YAML (following `base:` chains), keeps only `model`, `mesh`, `sft`, `rl`, `generate` and its
own optional `plan` section, and loads those strictly through `jaxint.configlib.load`: a typo
inside a section it reads is still an error naming the key and the file. Command-line
overrides for other sections are ignored the same way.
"""

from __future__ import annotations

import dataclasses
import pathlib
import tempfile
from collections.abc import Sequence
from typing import Any

import yaml

from jaxint import configlib
from jaxint.models import spec as model_spec
from jaxint.parallel import config as parallel_config
from jaxint.stages import config as stages_config
from jaxint.train import config as train_config

DEFAULT_FUNCTIONS = ("sft_step", "grpo_update", "grpo_score", "rl_prefill", "rl_decode",
                     "gen_prefill", "gen_decode")
# Opt-in (`--functions`): the decode chunk over a paged KV cache, sized at the sampler's
# `expected_len`, with a dense-vs-paged slots-per-device summary.
FUNCTIONS = (*DEFAULT_FUNCTIONS, "rl_decode_paged", "gen_decode_paged")
SECTIONS = ("model", "mesh", "sft", "rl", "generate", "plan")


@dataclasses.dataclass(frozen=True)
class PlanSettings:
    """Sizes a run config does not state.

    Attributes:
        prompt_tokens: longest prompt planned for: it sets the prefill bucket, the KV cache
            length (prompt + max_new_tokens) and the GRPO sequence length.
        functions: which steps to compile (default: DEFAULT_FUNCTIONS; the paged decode
            rows of FUNCTIONS are opt-in).
        hbm_gib: judge against this many GiB per device instead of the chip's HBM.
    """

    prompt_tokens: int = 512
    functions: tuple[str, ...] = DEFAULT_FUNCTIONS
    hbm_gib: float | None = None

    def __post_init__(self) -> None:
        if self.prompt_tokens < 1:
            raise ValueError(f"plan.prompt_tokens must be >= 1, got {self.prompt_tokens}")
        unknown = [f for f in self.functions if f not in FUNCTIONS]
        if unknown:
            raise ValueError(f"plan.functions: unknown {unknown} (known: {', '.join(FUNCTIONS)})")
        if self.hbm_gib is not None and self.hbm_gib <= 0:
            raise ValueError(f"plan.hbm_gib must be positive, got {self.hbm_gib}")


@dataclasses.dataclass(frozen=True)
class PlanConfig:
    """The subset of a run config that decides memory and FLOPs, plus `plan:` settings."""

    model: model_spec.ModelSpec = dataclasses.field(
        default_factory=lambda: model_spec.ModelSpec(preset="qwen3-tiny"))
    mesh: parallel_config.MeshConfig = dataclasses.field(default_factory=parallel_config.MeshConfig)
    sft: train_config.SFTConfig = dataclasses.field(default_factory=train_config.SFTConfig)
    rl: train_config.GRPOConfig = dataclasses.field(default_factory=train_config.GRPOConfig)
    generate: stages_config.GenerateConfig = dataclasses.field(
        default_factory=stages_config.GenerateConfig)
    plan: PlanSettings = dataclasses.field(default_factory=PlanSettings)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_merged(path: pathlib.Path, seen: frozenset = frozenset()) -> dict[str, Any]:
    """The file's values over those of its `base:` ancestors."""
    path = path.resolve()
    if path in seen:
        raise configlib.ConfigError(f"{path}: `base:` chain is circular")
    if not path.is_file():
        raise configlib.ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise configlib.ConfigError(f"{path}: invalid YAML: {err}") from err
    if not isinstance(data, dict):
        raise configlib.ConfigError(f"{path}: top level must be a mapping")
    base = data.pop("base", None)
    if base is None:
        return data
    return _deep_merge(_read_merged(path.parent / base, seen | {path}), data)


def load(path: str | pathlib.Path | None, overrides: Sequence[str] = ()) -> PlanConfig:
    """PlanConfig from a (full) run config file and `key=value` overrides.

    Raises:
        configlib.ConfigError: an invalid value in one of the sections read; the message
            names the key and `path`.
    """
    ours = [o for o in overrides if o.split("=", 1)[0].split(".", 1)[0] in SECTIONS]
    if path is None:
        return configlib.load(PlanConfig, None, ours)
    path = pathlib.Path(path)
    picked = {k: v for k, v in _read_merged(path).items() if k in SECTIONS}
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / path.name
        copy.write_text(yaml.safe_dump(picked))
        try:
            return configlib.load(PlanConfig, copy, ours)
        except configlib.ConfigError as err:
            message = str(err).replace(str(copy.resolve()), str(path)).replace(str(copy), str(path))
            raise configlib.ConfigError(message) from None
