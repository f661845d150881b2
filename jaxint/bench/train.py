"""`jaxint bench train`: SFT step throughput (tokens/s) and, on accelerators, model FLOPs
utilisation (6 * params * tokens + attention FLOPs, over the device's peak)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import nnx

from jaxint.bench import hardware, timing, workloads
from jaxint.models import build
from jaxint.train import config as train_config
from jaxint.train import loop_utils, optim, sft_step
from jaxint.train import state as state_lib


def model_flops_per_token(cfg, seq_len: int) -> float:
    """Training FLOPs per token: 6N for the matmuls plus 12 * L * D_attn * T for attention."""
    return 6 * cfg.num_params() + 12 * cfg.num_layers * cfg.num_heads * cfg.head_dim * seq_len


def run(*, model: str = "bench", batch: int = 8, seq_len: int = 512, repeats: int = 5,
        remat: str = "none") -> dict[str, Any]:
    cfg = workloads.qwen3_bench() if model == "bench" else workloads.qwen3_1p7b()
    cfg = cfg.__class__(**{**cfg.__dict__, "remat": remat,
                           "param_dtype": "float32" if model != "bench" else cfg.param_dtype})
    m = build.random_init(cfg, seed=0)
    graphdef, params = nnx.split(m)
    tx = optim.make(train_config.OptimizerConfig(lr=1e-5), 1000)
    state = state_lib.create(params, tx, None)
    step = jax.jit(sft_step.make_train_step(graphdef, tx), donate_argnums=0)
    rs = np.random.RandomState(0)
    host = {"tokens": rs.randint(0, cfg.vocab_size, (batch, seq_len)).astype(np.int32),
            "positions": np.tile(np.arange(seq_len, dtype=np.int32), (batch, 1)),
            "segment_ids": np.ones((batch, seq_len), np.int32),
            "loss_mask": np.ones((batch, seq_len), np.float32)}
    placed = jax.device_put(loop_utils.reshape_accumulation(host, 1))
    box = {"state": state}

    def once():
        box["state"], m_ = step(box["state"], placed)
        jax.block_until_ready(m_)

    first, median = timing.median_seconds(once, repeats)
    tokens = batch * seq_len
    out = {"device": timing.device_name(), "model": model, "batch": batch, "seq_len": seq_len,
           "tokens_per_s": tokens / median, "step_s": median, "first_call_s": first}
    peak = hardware.peaks()
    if peak is not None:
        out["mfu"] = model_flops_per_token(cfg, seq_len) * tokens / median / peak[0]
    return out
