"""Pure-JAX sampling: KV-cache prefill/decode, token selection, the slot-refilling engine.

Public API: `SamplingConfig`, `generate(model, prompts, config, *, seed)`, `generate_chat`,
`Sample`, `Engine`.

The names load on first use (PEP 562), so that `jaxint.sampling.config`, which every stage
section's `sampling:` is typed with, is read without importing JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jaxint.sampling.api import generate, generate_chat, render_chat, sampling_params
    from jaxint.sampling.config import SamplingConfig
    from jaxint.sampling.engine import Engine
    from jaxint.sampling.results import Sample

_WHERE = {
    "generate": "api", "generate_chat": "api", "render_chat": "api", "sampling_params": "api",
    "SamplingConfig": "config", "Engine": "engine", "Sample": "results",
}
__all__ = [
    "Engine", "Sample", "SamplingConfig", "generate", "generate_chat", "render_chat",
    "sampling_params",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value  # later lookups (and monkeypatches) see a plain attribute
    return value
