"""`jaxint bench sampler --workload groups`: shared-prefix forking on InT's two group shapes.

  grpo      n samples of each of many prompts (a GRPO step's groups): 8 x 64 prompts of 512
            tokens by default.
  prefixes  many continuations of a few long prefixes (the filter / conditioning): 32 x 8
            prefixes of 1,536 tokens by default.

Each runs with and without forking (`SamplingConfig.fork`) in the same process on the bench
model (`workloads.qwen3_bench`), T=0.7 / top-k 20 / top-p 0.8, every sample exactly
`new_tokens` long (no stop), and reports the prefill work (prompt tokens, and tokens computed
including the padding of prompt and row buckets) and end-to-end tokens/s; the first run of
each setting compiles and is not timed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxint.bench import timing, workloads
from jaxint.models import build
from jaxint.sampling import api as sampling_api
from jaxint.sampling import config as sampling_config
from jaxint.sampling import engine as engine_lib


@dataclasses.dataclass(frozen=True)
class Group:
    """`n` samples of each of `prompts` random prompts of `prompt_len` tokens."""

    name: str
    prompts: int
    prompt_len: int
    n: int


def default_groups(
    *, grpo_prompts: int = 64, grpo_len: int = 512, grpo_n: int = 8, prefixes: int = 8,
    prefix_len: int = 1536, continuations: int = 32,
) -> tuple[Group, Group]:
    return (Group("grpo", grpo_prompts, grpo_len, grpo_n),
            Group("prefixes", prefixes, prefix_len, continuations))


def run_group(model, group: Group, *, new_tokens: int, slots: int, fork: bool,
              repeats: int, chunk: int) -> dict[str, Any]:
    """Tokens/s (median of `repeats` after a compiling run) and the engine's prefill counts."""
    cfg = sampling_config.SamplingConfig(
        max_new_tokens=new_tokens, temperature=0.7, top_k=20, top_p=0.8, n=group.n,
        max_batch_slots=slots, chunk_steps=chunk, fork=fork)
    graphdef, params = sampling_api.sampling_params(model)
    engine = engine_lib.Engine(graphdef, model.config, cfg)
    prompts = workloads.random_prompts(group.prompts, group.prompt_len,
                                       model.config.vocab_size, seed=3).tolist()

    def once():
        out = engine.run(params, prompts, seed=0, progress=False)
        assert all(len(s.tokens) == new_tokens for row in out for s in row)

    _, median = timing.median_seconds(once, repeats)
    stats = engine.stats
    return {"fork": fork, "tokens_per_s": group.prompts * group.n * new_tokens / median,
            "wall_s": median, "prefill_rows": int(stats["prefill_rows"]),
            "prefill_tokens": int(stats["prefill_tokens"]),
            "prefill_tokens_computed": int(stats["prefill_tokens_padded"]),
            "forked": int(stats["forked"])}


def run(*, groups: tuple[Group, ...], new_tokens: int = 128, slots: int = 64, repeats: int = 1,
        chunk: int = 64) -> dict[str, Any]:
    model = build.random_init(workloads.qwen3_bench(), seed=0)
    out: dict[str, Any] = {"device": timing.device_name(), "new_tokens": new_tokens,
                           "slots": slots, "groups": []}
    for g in groups:
        rows = [run_group(model, g, new_tokens=new_tokens, slots=slots, fork=f,
                          repeats=repeats, chunk=chunk) for f in (True, False)]
        on, off = rows
        out["groups"].append({
            **dataclasses.asdict(g), "runs": rows,
            "prefill_reduction": off["prefill_tokens_computed"] / on["prefill_tokens_computed"],
            "speedup": on["tokens_per_s"] / off["tokens_per_s"]})
    return out


def format_table(r: dict[str, Any]) -> str:
    lines = [f"device: {r['device']}; {r['slots']} slots, {r['new_tokens']} new tokens per "
             "sample, T=0.7 top-k 20 top-p 0.8", "",
             "| workload | fork | prefill rows | prompt tokens prefilled | prefill tokens "
             "computed | forked samples | tok/s | wall s |", "|---|---|---|---|---|---|---|---|"]
    for g in r["groups"]:
        label = f"{g['name']}: {g['n']} x {g['prompts']} prompts of {g['prompt_len']}"
        for run in g["runs"]:
            lines.append(
                f"| {label} | {'on' if run['fork'] else 'off'} | {run['prefill_rows']} | "
                f"{run['prefill_tokens']} | {run['prefill_tokens_computed']} | {run['forked']}"
                f" | {run['tokens_per_s']:.0f} | {run['wall_s']:.2f} |")
    lines.append("")
    for g in r["groups"]:
        lines.append(f"{g['name']}: forking computes {g['prefill_reduction']:.1f}x fewer "
                     f"prefill tokens (n = {g['n']}) and is {g['speedup']:.2f}x faster end to end")
    return "\n".join(lines)
