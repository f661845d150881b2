"""The decoder's architecture and run-time options, and conversion from/to HF config.json.

Dimension letters used across jaxint (einsum strings, shape comments, variable suffixes):
    B batch, T query sequence, S key/value (cache) sequence, D model width, N query heads,
    K key/value heads, G query heads per kv head (N // K), H head dim, F MLP width, V vocab,
    L layers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

ATTENTION_IMPLS = ("auto", "xla", "cudnn", "splash", "chunked")
REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch")
# float64 (with jax_enable_x64) serves numerical reference tests against transformers.
DTYPES = ("float32", "bfloat16", "float16", "float64")
ROPE_TYPES = ("default", "linear", "llama3")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One Llama-family decoder: Llama 3.x, Qwen2.5 and Qwen3 differ only in these flags.

    Architecture fields mirror HF config.json. Run-time fields (`dtype`, `param_dtype`,
    `attention_impl`, `remat`, `scan_layers`, `attention_chunk`) change how the same weights
    are computed, never the result beyond floating-point rounding.
    """

    vocab_size: int = 4096
    hidden_size: int = 256  # D
    intermediate_size: int = 768  # F
    num_layers: int = 4  # L
    num_heads: int = 8  # N
    num_kv_heads: int = 2  # K
    head_dim: int = 32  # H
    rope_theta: float = 1_000_000.0
    rope_type: str = "default"
    rope_factor: float = 1.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_position: int = 8192
    rms_norm_eps: float = 1e-6
    qk_norm: bool = False  # Qwen3
    attention_bias: bool = False  # Qwen2.5: bias on q, k, v
    tie_embeddings: bool = True
    max_position_embeddings: int = 32768
    model_type: str = "qwen3"  # written back to config.json on export
    # run-time options
    dtype: str = "float32"  # compute dtype
    param_dtype: str = "float32"
    attention_impl: str = "auto"
    attention_chunk: int = 1024  # query block of the "chunked" implementation
    remat: str = "none"
    scan_layers: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers",
                     "num_heads", "num_kv_heads", "head_dim", "attention_chunk"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"model.num_heads ({self.num_heads}) must be a multiple of "
                f"model.num_kv_heads ({self.num_kv_heads})"
            )
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("param_dtype", self.param_dtype, DTYPES)
        _check_choice("attention_impl", self.attention_impl, ATTENTION_IMPLS)
        _check_choice("remat", self.remat, REMAT_POLICIES)
        _check_choice("rope_type", self.rope_type, ROPE_TYPES)

    @property
    def q_per_kv(self) -> int:
        """G: query heads sharing one key/value head."""
        return self.num_heads // self.num_kv_heads

    def num_params(self) -> int:
        """Parameter count (embeddings counted once when tied)."""
        d, f, v = self.hidden_size, self.intermediate_size, self.vocab_size
        qkv = d * self.head_dim * (self.num_heads + 2 * self.num_kv_heads)
        attn = qkv + self.num_heads * self.head_dim * d
        if self.attention_bias:
            attn += self.head_dim * (self.num_heads + 2 * self.num_kv_heads)
        norms = 2 * d + (2 * self.head_dim if self.qk_norm else 0)
        layer = attn + 3 * d * f + norms
        return self.num_layers * layer + v * d * (1 if self.tie_embeddings else 2) + d


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"model.{field} must be one of {choices}, got {value!r}")


_FAMILY = {
    "qwen3": {"qk_norm": True, "attention_bias": False},
    "qwen2": {"qk_norm": False, "attention_bias": True},
    "llama": {"qk_norm": False},
    "mistral": {"qk_norm": False, "attention_bias": False},
}


def _rope_fields(hf: dict[str, Any]) -> dict[str, Any]:
    """Reads rope settings from both spellings.

    transformers 4.x checkpoints (the hub's Qwen3, Llama 3.2) write a top-level `rope_theta`
    and `rope_scaling`; transformers 5 writes `rope_parameters` with `rope_theta` inside.
    """
    params = dict(hf.get("rope_parameters") or {})
    scaling = hf.get("rope_scaling") or {}
    theta = params.get("rope_theta", hf.get("rope_theta", 10000.0))
    rope_type = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type")
    merged = {**scaling, **params}
    rope_type = rope_type or "default"
    if rope_type not in ROPE_TYPES:
        raise ValueError(
            f"config.json: rope type {rope_type!r} is not supported (supported: {ROPE_TYPES})"
        )
    out: dict[str, Any] = {"rope_theta": float(theta), "rope_type": rope_type}
    if rope_type in ("linear", "llama3"):
        out["rope_factor"] = float(merged["factor"])
    if rope_type == "llama3":
        out["rope_low_freq_factor"] = float(merged["low_freq_factor"])
        out["rope_high_freq_factor"] = float(merged["high_freq_factor"])
        out["rope_original_max_position"] = int(merged["original_max_position_embeddings"])
    return out


def from_hf_config(hf: dict[str, Any], **runtime: Any) -> ModelConfig:
    """ModelConfig from a parsed HF config.json (plus run-time options such as dtype)."""
    model_type = hf.get("model_type", "llama")
    if model_type not in _FAMILY:
        raise ValueError(
            f"config.json: model_type {model_type!r} is not supported "
            f"(supported: {sorted(_FAMILY)})"
        )
    if hf.get("use_sliding_window"):
        raise ValueError("config.json: use_sliding_window=true is not supported")
    heads = hf["num_attention_heads"]
    fields: dict[str, Any] = dict(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        intermediate_size=hf["intermediate_size"],
        num_layers=hf["num_hidden_layers"],
        num_heads=heads,
        num_kv_heads=hf.get("num_key_value_heads") or heads,
        head_dim=hf.get("head_dim") or hf["hidden_size"] // heads,
        rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        max_position_embeddings=hf.get("max_position_embeddings", 32768),
        model_type=model_type,
        **_FAMILY[model_type],
        **_rope_fields(hf),
    )
    if model_type != "qwen2" and hf.get("attention_bias"):
        # In these families the flag also puts a bias on o_proj, which the decoder lacks.
        raise ValueError(
            f"config.json: attention_bias=true (biases on q, k, v and o) is not supported "
            f"for model_type {model_type!r}"
        )
    if model_type == "llama" and hf.get("mlp_bias"):
        raise ValueError("config.json: mlp_bias=true is not supported")
    return ModelConfig(**{**fields, **runtime})


_HF_ARCH = {
    "qwen3": "Qwen3ForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
}


def to_hf_config(cfg: ModelConfig, *, torch_dtype: str | None = None) -> dict[str, Any]:
    """A config.json dict that transformers 4.x and 5.x both load (top-level rope keys).

    Raises:
        ValueError: the feature flags do not match `cfg.model_type` in transformers (e.g.
            qk_norm outside Qwen3), so transformers would build a different model.
    """
    family = {"attention_bias": False, **_FAMILY[cfg.model_type]}
    for flag, value in family.items():
        if getattr(cfg, flag) != value:
            raise ValueError(
                f"model.{flag}={getattr(cfg, flag)} cannot be exported as model_type "
                f"{cfg.model_type!r}: transformers' {_HF_ARCH[cfg.model_type]} has {flag}={value}"
            )
    rope_scaling = None
    if cfg.rope_type == "linear":
        rope_scaling = {"rope_type": "linear", "factor": cfg.rope_factor}
    elif cfg.rope_type == "llama3":
        rope_scaling = {
            "rope_type": "llama3",
            "factor": cfg.rope_factor,
            "low_freq_factor": cfg.rope_low_freq_factor,
            "high_freq_factor": cfg.rope_high_freq_factor,
            "original_max_position_embeddings": cfg.rope_original_max_position,
        }
    out = {
        "architectures": [_HF_ARCH[cfg.model_type]],
        "model_type": cfg.model_type,
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": rope_scaling,
        "tie_word_embeddings": cfg.tie_embeddings,
        "max_position_embeddings": cfg.max_position_embeddings,
        "attention_bias": cfg.attention_bias,  # Qwen2 ignores it (always q/k/v biases)
        "attention_dropout": 0.0,
        "use_cache": True,
        "torch_dtype": torch_dtype or cfg.param_dtype,
    }
    if cfg.model_type == "llama":
        out["mlp_bias"] = False
    return out
