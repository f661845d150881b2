"""The benchmark's roofline and MFU formulas against hand-computed figures, and the train
benchmark running both of its steps (SFT and the GRPO update)."""

from __future__ import annotations

import pytest

from jaxint.bench import roofline, train, workloads


def test_qwen3_1p7b_shape_has_its_published_size():
    """Qwen3-1.7B: 1.72B parameters with tied embeddings (Qwen's model card: 1.7B, 1.4B
    non-embedding; 151936 x 2048 = 0.311B embedding)."""
    cfg = workloads.qwen3_1p7b()
    assert 1.70e9 < cfg.num_params() < 1.74e9
    assert 1.39e9 < cfg.num_params() - 151936 * 2048 < 1.43e9


def test_decode_bytes_per_step_hand_computed():
    """bf16: weights once, plus K and V of every layer for every slot's context."""
    cfg = workloads.qwen3_1p7b()
    batch, kv_len = 32, 640
    kv = 2 * 28 * 8 * 128 * 2 * batch * kv_len  # K,V x layers x kv heads x head_dim x bytes
    assert roofline.bytes_per_step(cfg, batch, kv_len) == cfg.num_params() * 2 + kv


def test_train_flops_per_token_hand_computed():
    cfg = workloads.qwen3_bench()
    T = 512
    attention = 12 * 4 * 8 * 32 * T  # 12 x layers x heads x head_dim x T
    assert train.model_flops_per_token(cfg, T) == 6 * cfg.num_params() + attention


@pytest.mark.parametrize("step_kind", ["sft", "grpo"])
def test_train_bench_steps_run(step_kind):
    out = train.run(model="bench", batch=2, seq_len=32, repeats=2, step_kind=step_kind)
    assert out["step"] == step_kind and out["tokens_per_s"] > 0 and out["step_s"] > 0
    assert out["attention_impl"] == "xla"  # the bench model's own
    chunked = train.run(model="bench", batch=2, seq_len=32, repeats=1, step_kind=step_kind,
                        attention_impl="chunked")
    assert chunked["attention_impl"] == "chunked"
    assert out["first_call_s"] >= out["step_s"]  # the first call compiles
    with pytest.raises(ValueError, match="step_kind"):
        train.run(step_kind="dpo")
