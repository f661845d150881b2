"""Stage `generate`: n rollouts of the policy per problem, written shard by shard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jax.sharding import Mesh

from jaxint import rundir
from jaxint.data import records
from jaxint.models import decoder
from jaxint.sampling import api as sampling_api
from jaxint.sampling import config as sampling_config
from jaxint.sampling import engine as engine_lib
from jaxint.stages import config as config_lib
from jaxint.train import rollouts


def sampler_config(
    cfg: config_lib.GenerateConfig, tokenizer: Any
) -> sampling_config.SamplingConfig:
    return sampling_config.SamplingConfig(
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k,
        top_p=cfg.top_p, n=cfg.samples_per_problem,
        stop_token_ids=tuple(sampling_api.end_of_turn_ids(tokenizer)),
        max_batch_slots=cfg.max_batch_slots, chunk_steps=cfg.chunk_steps,
    )


def run(
    run_dir: rundir.RunDir, cfg: config_lib.GenerateConfig, *, model: decoder.Decoder,
    tokenizer: Any, problems: Sequence[records.Problem], mesh: Mesh | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Writes `generate/shard-*.jsonl`: one record per (problem, sample) with the completion.

    Shard k always holds the same problems and uses seed (seed, k), so a resumed run
    produces exactly what an uninterrupted one would.
    """
    problems = list(problems)[: cfg.limit] if cfg.limit else list(problems)
    shards = rundir.Shards(run_dir.stage("generate"))
    metrics = run_dir.metrics("generate")
    graphdef, params = sampling_api.sampling_params(model)
    engine = engine_lib.Engine(graphdef, model.config, sampler_config(cfg, tokenizer),
                               mesh=mesh, tokenizer=tokenizer)
    parts = rundir.chunks(problems, cfg.shard_size)
    for k, chunk in enumerate(parts):
        if shards.done(k):
            continue
        _, samples = rollouts.sample(engine, params, tokenizer, chunk,
                                     seed=cfg.seed * 1_000_003 + k, progress=progress)
        shards.write(k, [
            {"problem_id": p.id, "sample_index": s.sample_index, "completion": s.text,
             "num_tokens": int(len(s.tokens)), "finish_reason": s.finish_reason}
            for p, group in zip(chunk, samples) for s in group
        ])
        metrics.write({"shard": k, "of": len(parts), **engine.stats})
    count = sum(1 for _ in shards.read())
    return {"records": count, "problems": len(problems), "shards": len(parts)}
