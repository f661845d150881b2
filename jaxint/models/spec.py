"""Which model a stage uses and how to compute it: a config section plus its loader."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from jax.sharding import Mesh

from jaxint.models import build, decoder, hf_io
from jaxint.models.config import ModelConfig  # (a module alias would shadow model_config)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """An HF checkpoint directory (`path`), or a preset with random weights (`preset`: for
    benchmarks and `jaxint plan`); plus the run-time options of the decoder."""

    path: Optional[str] = None
    preset: Optional[str] = None
    dtype: str = "bfloat16"
    param_dtype: str = "float32"
    attention_impl: str = "auto"
    attention_chunk: int = 1024
    remat: str = "none"
    scan_layers: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.path is None) == (self.preset is None):
            raise ValueError("model: set exactly one of model.path (an HF directory) and "
                             f"model.preset, got path={self.path!r} preset={self.preset!r}")
        ModelConfig(**self.runtime())  # validates the run-time options

    def runtime(self) -> dict:
        return {"dtype": self.dtype, "param_dtype": self.param_dtype,
                "attention_impl": self.attention_impl, "attention_chunk": self.attention_chunk,
                "remat": self.remat, "scan_layers": self.scan_layers}

    def with_path(self, path: str) -> ModelSpec:
        return dataclasses.replace(self, path=str(path), preset=None)


def local_path(path: str) -> str:
    """A config path with `~` expanded (configs may name ~/.cache/...)."""
    return os.path.expanduser(path)


def model_config(spec: ModelSpec) -> ModelConfig:
    """The architecture + run-time config, without loading weights."""
    if spec.path is not None:
        return hf_io.read_config(local_path(spec.path), **spec.runtime())
    from jaxint.models import presets

    return dataclasses.replace(presets.get(spec.preset), **spec.runtime())


def load(spec: ModelSpec, *, mesh: Mesh | None = None) -> decoder.Decoder:
    """Loads (or randomly initialises) the model, placed on `mesh` when given."""
    if spec.path is not None:
        return hf_io.load_hf(local_path(spec.path), mesh=mesh, **spec.runtime())
    return build.random_init(model_config(spec), seed=spec.seed, mesh=mesh)
