"""`jaxint bench sampler --model-dir`: the real-model comparison runs end to end (tiny model)."""

from __future__ import annotations

from jaxint.bench import sampler


def test_model_dir_bench_runs_both_sides(tiny_hf):
    result = sampler.run_model_dir(str(tiny_hf["qwen2"].path), repeats=1, batch=2, prompt_len=5,
                                   new_tokens=4, chunk=4, modes=("greedy",))
    entry = result["greedy"]
    assert entry["jaxint_tokens_per_s"] > 0 and entry["transformers_tokens_per_s"] > 0
    assert entry["ratio"] == entry["jaxint_tokens_per_s"] / entry["transformers_tokens_per_s"]
    table = sampler.format_table(result)
    assert "| greedy |" in table and "sample" not in table and "long tail" not in table
