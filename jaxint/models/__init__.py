"""The Llama-family decoder in Flax NNX, its presets, and Hugging Face checkpoint I/O.

Public API:
    ModelConfig, Decoder, random_init(cfg, seed=, mesh=), abstract(cfg),
    load_hf(path, dtype=, mesh=), save_hf(model, path), presets.get(name).

Dimension letters: see `jaxint.models.config`.
"""

from jaxint.models.build import abstract, random_init
from jaxint.models.config import ModelConfig, from_hf_config, to_hf_config
from jaxint.models.decoder import Decoder
from jaxint.models.hf_io import CheckpointError, load_hf, read_config, save_hf

__all__ = [
    "CheckpointError", "Decoder", "ModelConfig", "abstract", "from_hf_config", "load_hf",
    "random_init", "read_config", "save_hf", "to_hf_config",
]
