"""Pure-JAX sampling: KV-cache prefill/decode, token selection, the slot-refilling engine.

Public API: `SamplingConfig`, `generate(model, prompts, config, *, seed)`, `generate_chat`,
`Sample`, `Engine`.
"""

from jaxint.sampling.api import generate, generate_chat, render_chat, sampling_params
from jaxint.sampling.config import SamplingConfig
from jaxint.sampling.engine import Engine
from jaxint.sampling.results import Sample

__all__ = [
    "Engine", "Sample", "SamplingConfig", "generate", "generate_chat", "render_chat",
    "sampling_params",
]
