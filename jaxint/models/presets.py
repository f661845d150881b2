"""Architecture presets of the supported checkpoints, by name.

Presets are for planning (`jaxint plan`, memory and FLOP estimates) and for random
initialisation (tests, benchmarks). Loading a checkpoint never uses them: `load_hf` always
reads the checkpoint's own config.json, so a preset that drifted from the hub cannot corrupt a
real run.

The numbers are those of each model's config.json on the Hugging Face hub. Names are matched
case-insensitively; run-time options (dtype, remat, scan_layers, ...) are passed as overrides:

    cfg = presets.get("Qwen3-4B", dtype="bfloat16", remat="full")
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxint.models import config as model_config

_QWEN3 = dict(
    model_type="qwen3", qk_norm=True, attention_bias=False, vocab_size=151936, head_dim=128,
    rope_theta=1_000_000.0, rms_norm_eps=1e-6, max_position_embeddings=40960,
)
_QWEN2_MATH = dict(
    model_type="qwen2", qk_norm=False, attention_bias=True, rope_theta=10_000.0,
    rms_norm_eps=1e-6, max_position_embeddings=4096, head_dim=128,
)
_LLAMA32 = dict(
    model_type="llama", qk_norm=False, attention_bias=False, vocab_size=128256,
    rope_theta=500_000.0, rope_type="llama3", rope_factor=32.0, rope_low_freq_factor=1.0,
    rope_high_freq_factor=4.0, rope_original_max_position=8192, rms_norm_eps=1e-5,
    max_position_embeddings=131072, tie_embeddings=True, num_kv_heads=8,
)
_SMOLLM2 = dict(
    model_type="llama", qk_norm=False, attention_bias=False, vocab_size=49152, head_dim=64,
    rms_norm_eps=1e-5, max_position_embeddings=8192, tie_embeddings=True,
)


def _arch(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**base, **fields}


_PRESETS: dict[str, dict[str, Any]] = {
    # Qwen3 (q/k RMSNorm, no biases); the 8B unties its embeddings.
    "Qwen3-0.6B": _arch(_QWEN3, hidden_size=1024, intermediate_size=3072, num_layers=28,
                        num_heads=16, num_kv_heads=8, tie_embeddings=True),
    "Qwen3-1.7B": _arch(_QWEN3, hidden_size=2048, intermediate_size=6144, num_layers=28,
                        num_heads=16, num_kv_heads=8, tie_embeddings=True),
    "Qwen3-4B": _arch(_QWEN3, hidden_size=2560, intermediate_size=9728, num_layers=36,
                      num_heads=32, num_kv_heads=8, tie_embeddings=True),
    "Qwen3-4B-Instruct-2507": _arch(_QWEN3, hidden_size=2560, intermediate_size=9728,
                                    num_layers=36, num_heads=32, num_kv_heads=8,
                                    tie_embeddings=True, rope_theta=5_000_000.0,
                                    max_position_embeddings=262144),
    "Qwen3-8B": _arch(_QWEN3, hidden_size=4096, intermediate_size=12288, num_layers=36,
                      num_heads=32, num_kv_heads=8, tie_embeddings=False),
    # Qwen2.5-Math (q/k/v biases, 4K context, rope theta 1e4).
    "Qwen2.5-Math-1.5B": _arch(_QWEN2_MATH, vocab_size=151936, hidden_size=1536,
                               intermediate_size=8960, num_layers=28, num_heads=12,
                               num_kv_heads=2, tie_embeddings=True),
    "Qwen2.5-Math-7B": _arch(_QWEN2_MATH, vocab_size=152064, hidden_size=3584,
                             intermediate_size=18944, num_layers=28, num_heads=28,
                             num_kv_heads=4, tie_embeddings=False),
    # Llama 3.2 (llama3 rope scaling, tied embeddings).
    "Llama-3.2-1B": _arch(_LLAMA32, hidden_size=2048, intermediate_size=8192, num_layers=16,
                          num_heads=32, head_dim=64),
    "Llama-3.2-3B": _arch(_LLAMA32, hidden_size=3072, intermediate_size=8192, num_layers=28,
                          num_heads=24, head_dim=128),
    # SmolLM2 (Llama architecture, tied embeddings).
    "SmolLM2-135M": _arch(_SMOLLM2, hidden_size=576, intermediate_size=1536, num_layers=30,
                          num_heads=9, num_kv_heads=3, rope_theta=100_000.0),
    "SmolLM2-360M": _arch(_SMOLLM2, hidden_size=960, intermediate_size=2560, num_layers=32,
                          num_heads=15, num_kv_heads=5, rope_theta=100_000.0),
    "SmolLM2-1.7B": _arch(_SMOLLM2, hidden_size=2048, intermediate_size=8192, num_layers=24,
                          num_heads=32, num_kv_heads=32, rope_theta=130_000.0),
    # Test and benchmark shape: a 4-layer Qwen3 that compiles in seconds on a CPU.
    "qwen3-tiny": _arch(_QWEN3, vocab_size=4096, hidden_size=256, intermediate_size=768,
                        num_layers=4, num_heads=8, num_kv_heads=2, head_dim=32,
                        tie_embeddings=True, max_position_embeddings=32768),
}
# Instruct variants share their base model's architecture.
for _base in ("SmolLM2-135M", "SmolLM2-360M", "SmolLM2-1.7B", "Qwen2.5-Math-1.5B",
              "Qwen2.5-Math-7B", "Llama-3.2-1B", "Llama-3.2-3B"):
    _PRESETS[_base + "-Instruct"] = _PRESETS[_base]

_BY_KEY = {name.lower(): name for name in _PRESETS}


def names() -> list[str]:
    """All preset names, in their canonical spelling."""
    return list(_PRESETS)


def get(name: str, **overrides: Any) -> model_config.ModelConfig:
    """The `ModelConfig` of preset `name` (case-insensitive, an `org/` prefix is ignored).

    Args:
        name: e.g. "Qwen3-4B", "qwen/qwen3-4b", "smollm2-135m-instruct", "qwen3-tiny".
        **overrides: ModelConfig fields to replace (run-time options such as dtype).

    Raises:
        KeyError: unknown name; the message lists the known ones.
    """
    key = name.rsplit("/", 1)[-1].lower()
    if key not in _BY_KEY:
        raise KeyError(f"unknown model preset {name!r}; known presets: {', '.join(names())}")
    fields = dict(_PRESETS[_BY_KEY[key]])
    unknown = set(overrides) - {f.name for f in dataclasses.fields(model_config.ModelConfig)}
    if unknown:
        raise KeyError(f"preset {name!r}: unknown ModelConfig fields {sorted(unknown)}")
    return model_config.ModelConfig(**{**fields, **overrides})
