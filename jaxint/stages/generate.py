"""Stage `generate`: n rollouts of the policy per problem, written shard by shard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jax.sharding import Mesh

from jaxint import progress as progress_lib
from jaxint import rundir, sample_score
from jaxint.data import loaders, records
from jaxint.models import decoder
from jaxint.sampling import api as sampling_api
from jaxint.sampling import config as sampling_config
from jaxint.sampling import engine as engine_lib
from jaxint.stages import config as stages_config


def sampler_config(cfg: stages_config.GenerateConfig,
                   stop_token_ids: Sequence[int] = ()) -> sampling_config.SamplingConfig:
    """The generate stage's engine settings (also what `jaxint plan` sizes): its `sampling:`
    section with `samples_per_problem`, the stop tokens and `max_prompt_tokens`."""
    return cfg.sampling.with_count(cfg.samples_per_problem, stop_token_ids=stop_token_ids,
                                   max_prompt_tokens=cfg.max_prompt_tokens)


def fitting_problems(
    run_dir: rundir.RunDir, cfg: stages_config.GenerateConfig, tokenizer: Any,
    problems: Sequence[records.Problem],
) -> tuple[list[records.Problem], int]:
    """The problems whose chat-templated prompt fits `generate.max_prompt_tokens`, and how
    many were skipped; each skipped one is written to generate/rejects.jsonl with its reason
    (rewritten on every run, so a rerun does not repeat it). The selection depends only on
    the problems, tokenizer and config, so shards stay the same across resumes."""
    kept, rejects = [], []
    for p in problems:
        n = len(sample_score.user_prompt(tokenizer, p))
        if n > cfg.max_prompt_tokens:
            rejects.append({"problem_id": p.id, "reason": "prompt_too_long", "prompt_tokens": n,
                            "detail": f"prompt has {n} tokens > generate.max_prompt_tokens="
                                      f"{cfg.max_prompt_tokens}"})
        else:
            kept.append(p)
    path = run_dir.stage("generate") / "rejects.jsonl"
    if rejects and rundir.is_writer():
        rundir.write_jsonl(path, rejects)
    elif path.is_file() and rundir.is_writer():
        path.unlink()
    if problems and not kept:
        raise loaders.DataError(
            f"{path}: all {len(problems)} problems are longer than generate.max_prompt_tokens="
            f"{cfg.max_prompt_tokens}", file=str(path))
    return kept, len(rejects)


def run(
    run_dir: rundir.RunDir, cfg: stages_config.GenerateConfig, *, model: decoder.Decoder,
    tokenizer: Any, problems: Sequence[records.Problem], mesh: Mesh | None = None,
    progress: bool = True,
) -> rundir.Summary:
    """Writes `generate/shard-*.jsonl`: one `records.Rollout` per (problem, sample).

    Shard k always holds the same problems and uses seed (seed, k), so a resumed run
    produces exactly what an uninterrupted one would.
    """
    problems = list(problems)[: cfg.limit] if cfg.limit else list(problems)
    problems, skipped = fitting_problems(run_dir, cfg, tokenizer, problems)
    shards = rundir.Shards(run_dir.stage("generate"))
    metrics = run_dir.metrics("generate")
    graphdef, params = sampling_api.sampling_params(model)
    settings = sampler_config(cfg, sampling_api.end_of_turn_ids(tokenizer))
    engine = engine_lib.Engine(graphdef, model.config, settings, mesh=mesh, tokenizer=tokenizer)
    parts = rundir.chunks(problems, cfg.shard_size)
    for k, chunk in enumerate(progress_lib.Bar(parts, desc="generate", unit="shard",
                                               disable=not progress)):
        if shards.done(k):
            continue
        _, samples = sample_score.sample(engine, params, tokenizer, chunk,
                                     seed=cfg.seed * 1_000_003 + k, progress=progress)
        shards.write(k, [
            records.Rollout(p.id, s.sample_index, s.text, num_tokens=int(len(s.tokens)),
                            finish_reason=s.finish_reason)
            for p, group in zip(chunk, samples) for s in group
        ])
        metrics.write({"shard": k, "of": len(parts), **engine.stats})
    count = sum(1 for _ in shards.read())
    summary = {"records": count, "problems": len(problems), "shards": len(parts)}
    return {**summary, "skipped_long_prompts": skipped} if skipped else summary
