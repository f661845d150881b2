"""`jaxint bench sampler`: decode throughput against transformers.generate and the engine's
gain over static batching on a long-tailed workload, in one process.

Default workload (fixed so figures stay comparable across changes): a Qwen3-shaped model,
vocab 4096, hidden 256, intermediate 768, 4 layers, 8 heads, 2 kv heads, head_dim 32, tied,
float32, random weights; batch 16, 64-token prompts, 192 new tokens, no early stop; greedy
and T=0.7 / top-k 20 / top-p 0.8.
"""

from __future__ import annotations

import dataclasses
import tempfile
from typing import Any

import numpy as np

from jaxint.bench import timing, workloads
from jaxint.models import build, hf_io
from jaxint.sampling import api as sampling_api
from jaxint.sampling import config as sampling_config

MODES = {
    "greedy": ({"temperature": 0.0}, {"do_sample": False}),
    "sample": ({"temperature": 0.7, "top_k": 20, "top_p": 0.8},
               {"do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.8}),
}


def _jaxint_tokens_per_s(model, prompts: np.ndarray, new: int, mode: dict, repeats: int,
                         chunk: int) -> tuple[float, float]:
    cfg = sampling_config.SamplingConfig(max_new_tokens=new, max_batch_slots=len(prompts),
                                         chunk_steps=chunk, **mode)
    counter = iter(range(10**6))

    def once():
        out = sampling_api.generate(model, prompts.tolist(), cfg, seed=next(counter),
                                    progress=False)
        assert all(len(r[0].tokens) == new for r in out)

    first, median = timing.median_seconds(once, repeats)
    return prompts.size // prompts.shape[1] * new / median, first


def _hf_tokens_per_s(model_dir: str, prompts: np.ndarray, new: int, mode: dict,
                     repeats: int) -> float:
    import torch
    import transformers

    hf = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = torch.tensor(prompts, dtype=torch.long)

    def once():
        with torch.no_grad():
            out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                              min_new_tokens=new, pad_token_id=0, **mode)
        assert out.shape[1] == prompts.shape[1] + new

    _, median = timing.median_seconds(once, repeats)
    return len(prompts) * new / median


def long_tail(model, *, requests: int, slots: int, lo: int, hi: int, repeats: int,
              chunk: int) -> dict[str, Any]:
    """Useful tokens/s of the refilling engine vs one static batch per `slots` requests."""
    lengths = workloads.long_tail_lengths(requests, lo=lo, hi=hi)
    prompts = workloads.random_prompts(requests, 64, model.config.vocab_size, seed=1)
    out = {"requests": requests, "slots": slots, "lengths": {
        "mean": float(lengths.mean()), "max": int(lengths.max()), "min": int(lengths.min())}}
    for refill in (True, False):
        cfg = sampling_config.SamplingConfig(max_new_tokens=int(hi), temperature=0.0,
                                             max_batch_slots=slots, chunk_steps=chunk,
                                             refill=refill)
        run = lambda c=cfg: sampling_api.generate(  # noqa: E731
            model, prompts.tolist(), c, seed=0, progress=False, max_new_tokens=lengths.tolist())
        _, median = timing.median_seconds(run, repeats)
        out["engine" if refill else "static"] = float(lengths.sum() / median)
    out["gain"] = out["engine"] / out["static"]
    return out


def run(*, repeats: int = 3, batch: int = 16, prompt_len: int = 64, new_tokens: int = 192,
        chunk: int = 64, with_hf: bool = True, tail_requests: int = 256) -> dict[str, Any]:
    cfg = workloads.qwen3_bench()
    model = build.random_init(cfg, seed=0)
    prompts = workloads.random_prompts(batch, prompt_len, cfg.vocab_size)
    result: dict[str, Any] = {"device": timing.device_name(), "workload": {
        "model": dataclasses.asdict(cfg), "batch": batch, "prompt_len": prompt_len,
        "new_tokens": new_tokens, "repeats": repeats}}
    with tempfile.TemporaryDirectory() as d:
        if with_hf:
            hf_io.save_hf(model, d)
        for name in MODES:
            result[name] = _compare(model, d if with_hf else None, prompts, name,
                                    new_tokens=new_tokens, repeats=repeats, chunk=chunk)
    result["long_tail"] = long_tail(model, requests=tail_requests, slots=batch, lo=16, hi=512,
                                    repeats=max(1, repeats - 1), chunk=chunk)
    return result


def run_model_dir(model_dir: str, *, repeats: int = 3, batch: int = 8, prompt_len: int = 128,
                  new_tokens: int = 128, chunk: int = 64, with_hf: bool = True,
                  modes: tuple[str, ...] = tuple(MODES)) -> dict[str, Any]:
    """The same jaxint-vs-transformers comparison on a real HF directory (float32 both sides).

    Prompts are random ids of the model's vocabulary and no stop applies, so both sides
    decode exactly `new_tokens`; the engine-vs-static long-tail part is left out (it would
    take hours with a real model on a CPU).
    """
    model = hf_io.load_hf(model_dir, dtype="float32", scan_layers=True)
    cfg = model.config
    prompts = workloads.random_prompts(batch, prompt_len, cfg.vocab_size)
    result: dict[str, Any] = {"device": timing.device_name(), "workload": {
        "model_dir": str(model_dir), "model": dataclasses.asdict(cfg), "batch": batch,
        "prompt_len": prompt_len, "new_tokens": new_tokens, "repeats": repeats}}
    for name in modes:
        result[name] = _compare(model, model_dir if with_hf else None, prompts, name,
                                new_tokens=new_tokens, repeats=repeats, chunk=chunk)
    return result


def _compare(model: Any, hf_dir: str | None, prompts: Any, mode: str, *, new_tokens: int,
             repeats: int, chunk: int) -> dict[str, float]:
    """One `MODES` row: jaxint's tokens/s, and transformers' on `hf_dir` (None: jaxint only)."""
    jx_mode, hf_mode = MODES[mode]
    tps, first = _jaxint_tokens_per_s(model, prompts, new_tokens, jx_mode, repeats, chunk)
    entry = {"jaxint_tokens_per_s": tps, "jaxint_first_call_s": first}
    if hf_dir is not None:
        entry["transformers_tokens_per_s"] = _hf_tokens_per_s(
            hf_dir, prompts, new_tokens, hf_mode, repeats)
        entry["ratio"] = tps / entry["transformers_tokens_per_s"]
    return entry


def format_table(r: dict[str, Any]) -> str:
    lines = [f"device: {r['device']}", "",
             "| mode | jaxint tok/s | transformers tok/s | ratio |", "|---|---|---|---|"]
    if "model_dir" in r["workload"]:
        w = r["workload"]
        lines.insert(1, f"model: {w['model_dir']} (batch {w['batch']}, {w['prompt_len']}-token "
                     f"prompts, {w['new_tokens']} new tokens)")
    for name in (m for m in MODES if m in r):
        e = r[name]
        hf = e.get("transformers_tokens_per_s")
        hf_cell, ratio_cell = ("-", "-") if hf is None else (f"{hf:.0f}", f"{e['ratio']:.2f}x")
        lines.append(f"| {name} | {e['jaxint_tokens_per_s']:.0f} | {hf_cell} | {ratio_cell} |")
    t = r.get("long_tail")
    if t is not None:
        lines += ["", f"long tail ({t['requests']} requests, {t['slots']} slots, output lengths "
                  f"{t['lengths']['min']}-{t['lengths']['max']}, mean {t['lengths']['mean']:.0f}): "
                  f"engine {t['engine']:.0f} tok/s, static batching {t['static']:.0f} tok/s, "
                  f"gain {t['gain']:.2f}x"]
    if "roofline" in r:
        lines.append(format_roofline(r["roofline"]))
    return "\n".join(lines)


def format_roofline(rows: list[dict[str, Any]]) -> str:
    out = ["", "| batch | decode tok/s | HBM GB/s | % of HBM roofline | prefill tok/s |",
           "|---|---|---|---|---|"]
    for row in rows:
        out.append(f"| {row['batch']} | {row['tokens_per_s']:.0f} | {row['bytes_per_s'] / 1e9:.0f}"
                   f" | {100 * row['fraction_of_peak']:.0f}% | "
                   f"{row.get('prefill_tokens_per_s', float('nan')):.0f} |")
    return "\n".join(out)
