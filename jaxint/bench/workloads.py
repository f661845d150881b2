"""The benchmark model shapes and prompt sets (fixed, so figures stay comparable)."""

from __future__ import annotations

import numpy as np

from jaxint.models import config as model_config


def qwen3_bench(dtype: str = "float32") -> model_config.ModelConfig:
    """The issue's default sampler-bench model: Qwen3-shaped, vocab 4096, hidden 256,
    intermediate 768, 4 layers, 8 heads, 2 kv heads, head_dim 32, tied embeddings."""
    return model_config.ModelConfig(
        vocab_size=4096, hidden_size=256, intermediate_size=768, num_layers=4, num_heads=8,
        num_kv_heads=2, head_dim=32, qk_norm=True, tie_embeddings=True, model_type="qwen3",
        dtype=dtype, param_dtype=dtype, attention_impl="xla",
    )


def qwen3_1p7b(dtype: str = "bfloat16") -> model_config.ModelConfig:
    """Qwen3-1.7B's shape (for accelerator runs; random weights)."""
    return model_config.ModelConfig(
        vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_layers=28,
        num_heads=16, num_kv_heads=8, head_dim=128, qk_norm=True, tie_embeddings=True,
        rope_theta=1_000_000.0, model_type="qwen3", dtype=dtype, param_dtype=dtype,
    )


def random_prompts(batch: int, length: int, vocab: int, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(1, vocab, size=(batch, length)).astype(np.int32)


def long_tail_lengths(n: int, *, lo: int, hi: int, seed: int = 0) -> np.ndarray:
    """Output lengths from a heavy-tailed (Pareto, alpha 1.2) distribution clipped to
    [lo, hi]: most outputs are short, a few are very long, as in math rollouts."""
    rs = np.random.RandomState(seed)
    return np.clip((lo * (1 + rs.pareto(1.2, size=n))).astype(int), lo, hi)
