"""The demo's preparation: a character tokenizer, synthetic problem sets, and a small base
model trained from scratch on full solutions so that it is an imperfect solver."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from jaxint import rundir
from jaxint.data import chat, records, synthetic, tokenizers
from jaxint.models import build
from jaxint.models import config as model_config
from jaxint.models import spec as model_spec
from jaxint.train import config as train_config
from jaxint.train import sft


def _problems(cfg, n: int, seed: int, exclude: set[str]) -> list[records.Problem]:
    out, seen = [], set(exclude)
    batch = synthetic.make_problems(3 * n, seed=seed, num_steps=cfg.num_steps,
                                    max_digits=cfg.max_digits, max_factor=cfg.max_factor,
                                    ops=tuple(cfg.ops), max_value=cfg.max_value)
    for p in batch:
        if p.problem not in seen:
            seen.add(p.problem)
            out.append(dataclasses.replace(p, id=f"syn-{seed}-{len(out)}"))
        if len(out) == n:
            break
    return out


def write_problem_sets(run_dir: rundir.RunDir, cfg) -> dict[str, pathlib.Path]:
    """Disjoint pretraining, training-pool and held-out problem sets as JSONL files."""
    data_dir = run_dir.stage("data")
    held = _problems(cfg, cfg.heldout_problems, cfg.seed * 3 + 1, set())
    pool = _problems(cfg, cfg.train_problems, cfg.seed * 3 + 2, {p.problem for p in held})
    pre = _problems(cfg, cfg.pretrain_problems, cfg.seed * 3 + 3,
                    {p.problem for p in held} | {p.problem for p in pool})
    paths = {}
    for name, probs in (("heldout", held), ("train", pool), ("pretrain", pre)):
        paths[name] = data_dir / f"{name}.jsonl"
        rundir.write_jsonl(paths[name], [p.to_dict() for p in probs])
    return paths


def pretrain(
    run_dir: rundir.RunDir, cfg, model_cfg_spec: model_spec.ModelSpec, tokenizer: Any,
    problems: list[records.Problem], *, mesh: Any = None, progress: bool = True,
) -> tuple[dict[str, Any], pathlib.Path]:
    """SFT from random weights on (problem -> full solution + end of turn); exports base/hf."""
    arch = model_config.ModelConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size, num_layers=cfg.num_layers,
        num_heads=cfg.num_heads, num_kv_heads=cfg.num_kv_heads, head_dim=cfg.head_dim,
        qk_norm=True, tie_embeddings=True, rope_theta=10_000.0, max_position_embeddings=4096,
        model_type="qwen3", **model_cfg_spec.runtime(),
    )
    model = build.random_init(arch, seed=cfg.seed, mesh=mesh)
    examples = [
        chat.render_example(tokenizer, [{"role": "user", "content": p.problem}],
                            [("solution", p.solution, True)], add_eos=True)
        for p in problems
    ]
    sft_cfg = train_config.SFTConfig(
        epochs=1, max_steps=cfg.pretrain_steps, batch_size=cfg.pretrain_batch,
        seq_len=cfg.pretrain_seq_len,
        eval_fraction=0.02, eval_every=max(1, cfg.pretrain_steps // 4), seed=cfg.seed,
        optimizer=train_config.OptimizerConfig(lr=cfg.pretrain_lr, warmup_ratio=0.05,
                                               min_lr_ratio=0.1, weight_decay=0.01),
        checkpoint=train_config.CheckpointConfig(every=max(1, cfg.pretrain_steps // 3), keep=1),
    )
    trainer = sft.SFTTrainer(model, examples, sft_cfg, run_dir.stage("base"), mesh=mesh)
    summary = trainer.run(run_dir.metrics("base"), progress=progress)
    out = run_dir.root / "base" / "hf"
    trainer.export(out, tokenizer_dir=str(run_dir.root / "tokenizer"))
    return summary, out


def build_tokenizer(run_dir: rundir.RunDir) -> pathlib.Path:
    path = run_dir.root / "tokenizer"
    if not (path / "tokenizer_config.json").is_file():
        tokenizers.build_char_tokenizer(path)
    return path
