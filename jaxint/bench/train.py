"""`jaxint bench train`: SFT or GRPO update-step throughput (tokens/s) and, on accelerators,
model FLOPs utilisation (6 * params * tokens + attention FLOPs, over the device's peak).

Both steps are the trainers' own jitted functions on random tokens; the GRPO update adds the
clipped-ratio loss over the same forward/backward, so its MFU shows what the policy loss and
the log-prob chunking cost on top of SFT."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import nnx

from jaxint.bench import hardware, timing, workloads
from jaxint.models import build
from jaxint.train import config as train_config
from jaxint.train import grpo_step, loop_utils, optim, sft_step
from jaxint.train import state as state_lib


def model_flops_per_token(cfg, seq_len: int) -> float:
    """Training FLOPs per token: 6N for the matmuls plus 12 * L * D_attn * T for attention."""
    return 6 * cfg.num_params() + 12 * cfg.num_layers * cfg.num_heads * cfg.head_dim * seq_len


def run(*, model: str = "bench", batch: int = 8, seq_len: int = 512, repeats: int = 5,
        remat: str = "none", step_kind: str = "sft",
        attention_impl: str | None = None) -> dict[str, Any]:
    """Times `repeats` calls of one train step (the first, compiling, reported apart).

    Args:
        model: "bench" (a small float32 Qwen3 shape, CPU-sized) or "qwen3-1.7b" (bf16 compute,
            float32 master weights, random init).
        attention_impl: `model.attention_impl` (None: the model's own; the 1.7B's is auto,
            the fused kernel of the platform), to set a fused kernel against `xla`.
        step_kind: "sft" (token-mean NLL) or "grpo" (the GRPO update: clipped ratio against
            old log-probs, token-mean aggregation, no KL).
    """
    if step_kind not in ("sft", "grpo"):
        raise ValueError(f"step_kind must be sft or grpo, got {step_kind!r}")
    cfg = workloads.qwen3_bench() if model == "bench" else workloads.qwen3_1p7b()
    cfg = cfg.__class__(**{**cfg.__dict__, "remat": remat,
                           "param_dtype": "float32" if model != "bench" else cfg.param_dtype,
                           "attention_impl": attention_impl or cfg.attention_impl})
    m = build.random_init(cfg, seed=0)
    graphdef, params = nnx.split(m)
    tx = optim.make(train_config.OptimizerConfig(lr=1e-5), 1000)
    state = state_lib.create(params, tx, None)
    rs = np.random.RandomState(0)
    host = {"tokens": rs.randint(0, cfg.vocab_size, (batch, seq_len)).astype(np.int32),
            "positions": np.tile(np.arange(seq_len, dtype=np.int32), (batch, 1)),
            "segment_ids": np.ones((batch, seq_len), np.int32),
            "loss_mask": np.ones((batch, seq_len), np.float32)}
    if step_kind == "sft":
        fn = sft_step.make_train_step(graphdef, tx)
    else:
        fn = grpo_step.make_update_fn(graphdef, tx, train_config.GRPOConfig())
        # Old log-probs near a random model's (-log V) and +-1 advantages: ratios near 1.
        host["old_logp"] = np.full((batch, seq_len - 1), -np.log(cfg.vocab_size), np.float32)
        host["advantages"] = np.where(np.arange(batch) % 2 == 0, 1.0, -1.0).astype(np.float32)
    step = jax.jit(fn, donate_argnums=0)
    placed = jax.device_put(loop_utils.reshape_accumulation(host, 1))
    box = {"state": state}

    def once():
        box["state"], m_ = step(box["state"], placed)
        jax.block_until_ready(m_)

    first, median = timing.median_seconds(once, repeats)
    tokens = batch * seq_len
    out = {"device": timing.device_name(), "step": step_kind, "model": model, "batch": batch,
           "seq_len": seq_len, "remat": remat, "attention_impl": cfg.attention_impl,
           "tokens_per_s": tokens / median, "step_s": median, "first_call_s": first}
    peak = hardware.peaks()
    if peak is not None:
        out["mfu"] = model_flops_per_token(cfg, seq_len) * tokens / median / peak[0]
    return out
