"""Decode roofline on an accelerator: achieved HBM bytes/s of the engine's decode against the
device's peak, for a Qwen3-1.7B-shaped model with random weights (bf16)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxint.bench import hardware, timing, workloads
from jaxint.models import build
from jaxint.sampling import api as sampling_api
from jaxint.sampling import config as sampling_config


def bytes_per_step(cfg, batch: int, mean_kv: float) -> float:
    """Weights once per step plus every slot's keys and values (bf16 = 2 bytes)."""
    itemsize = np.dtype(jax.numpy.dtype(cfg.dtype)).itemsize
    kv = 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * itemsize * batch * mean_kv
    return cfg.num_params() * itemsize + kv


def run(batches=(1, 32, 128, 256), *, prompt_len: int = 512, new_tokens: int = 256,
        repeats: int = 2, kv_cache: str = "dense") -> list[dict[str, Any]]:
    """One row per batch size; `kv_cache` is the engine's `sampling.kv_cache` (the paged
    cache's pool defaults to what the dense one would hold, so both decode the same work)."""
    peak = hardware.peaks()
    if peak is None:
        raise RuntimeError("roofline needs a GPU or TPU with known peak bandwidth")
    cfg = workloads.qwen3_1p7b()
    model = build.random_init(cfg, seed=0)
    rows = []
    for b in batches:
        prompts = workloads.random_prompts(b, prompt_len, cfg.vocab_size).tolist()

        def timed(new: int, b: int = b, prompts: list = prompts) -> float:
            scfg = sampling_config.SamplingConfig(max_new_tokens=new, temperature=0.0,
                                                  max_batch_slots=b, chunk_steps=64,
                                                  kv_cache=kv_cache)
            return timing.median_seconds(lambda: sampling_api.generate(
                model, prompts, scfg, seed=0, progress=False), repeats)[1]

        prefill_s = timed(1)  # prefill + one token: the prefill's cost
        total_s = timed(new_tokens)
        # Decode alone: the difference; a floor of 1% of the total guards timer noise.
        decode_s = max(total_s - prefill_s, 0.01 * total_s)
        steps_per_s = (new_tokens - 1) / decode_s
        moved = bytes_per_step(cfg, b, prompt_len + new_tokens / 2) * steps_per_s
        rows.append({"batch": b, "kv_cache": kv_cache, "tokens_per_s": b * steps_per_s,
                     "bytes_per_s": moved,
                     "fraction_of_peak": moved / peak[1],
                     "prefill_tokens_per_s": b * prompt_len / prefill_s,
                     "end_to_end_tokens_per_s": b * new_tokens / total_s})
    return rows
