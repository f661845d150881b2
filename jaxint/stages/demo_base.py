"""The demo's preparation: a character tokenizer, synthetic problem sets, and a small base
model trained from scratch on full solutions so that it is an imperfect solver."""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import zlib
from typing import Any

from jaxint import configlib, rundir
from jaxint.data import chat, records, synthetic, tokenizers
from jaxint.models import build
from jaxint.models import config as model_config
from jaxint.models import spec as model_spec
from jaxint.stages import sft as sft_stage
from jaxint.train import config as train_config
from jaxint.train import sft


@dataclasses.dataclass
class _Seen:
    """What earlier sets hold: problem texts and arithmetic chains."""

    texts: set[str] = dataclasses.field(default_factory=set)
    chains: set[tuple] = dataclasses.field(default_factory=set)

    def add(self, problems: list[records.Problem]) -> None:
        self.texts.update(p.problem for p in problems)
        self.chains.update(synthetic.chain_key(p) for p in problems)


def heldout_trap_pair(pair: tuple[int, int], seed: int) -> bool:
    """The seed's split of trap-step operand pairs: held-out trap steps use only pairs for
    which this is True, pool trap steps only the others (about half each), so no held-out trap
    step repeats a computation the SFT data taught."""
    return zlib.crc32(f"jaxint.demo:{seed}:{pair[0]},{pair[1]}".encode()) % 2 == 0


def _problems(cfg, n: int, seed: int, *, trap_fraction: float, reading: str, seen: _Seen,
              distinct: bool = True, trap_pairs=None) -> list[records.Problem]:
    """``n`` problems of the stream ``seed``: exactly ``round(n * trap_fraction)`` with a trap
    step; none repeats a text or an arithmetic chain in ``seen`` (nor, with ``distinct``, one
    of the set itself); with ``trap_pairs``, trap steps only on operand pairs it accepts."""
    out: list[records.Problem] = []
    local = _Seen(set(seen.texts), set(seen.chains))
    traps = 0
    for index in range(200 * n + 1000):
        trap = None
        if synthetic.is_trap_index(len(out), trap_fraction):
            trap = cfg.trap_kinds[traps % len(cfg.trap_kinds)]  # the kinds in turn
        p = synthetic.make_problem(
            index, seed=seed, num_steps=cfg.num_steps, max_digits=cfg.max_digits,
            max_factor=cfg.max_factor, ops=tuple(cfg.ops), max_value=cfg.max_value,
            max_start=cfg.max_start, trap=trap, reading=reading)
        if p.problem in local.texts or synthetic.chain_key(p) in local.chains:
            continue
        if trap and trap_pairs is not None and not trap_pairs(synthetic.trap_pair(p)):
            continue
        if distinct:
            local.add([p])
        else:
            local.texts.add(p.problem)
        out.append(dataclasses.replace(p, id=f"syn-{seed}-{len(out)}"))
        traps += trap is not None
        if len(out) == n:
            return out
    raise configlib.ConfigError(
        f"demo: only {len(out)} of {n} distinct problems found for seed {seed}; widen the task "
        "(demo.max_start, demo.max_digits, demo.num_steps, demo.ops) or ask for fewer problems")


def problem_sets(cfg) -> dict[str, list[records.Problem]]:
    """Held-out set, training pool and pretraining corpus, drawn in that order.

    The held-out set comes first and the others avoid it: no pool or pretraining problem
    shares a text or an arithmetic chain (start and (operation, operand) per step) with a
    held-out problem, and trap-step operand pairs are split between held-out and pool
    (:func:`heldout_trap_pair`), so held-out accuracy measures a learnt reading of the trap
    phrase, not recalled problems. Pool and held-out are gold; the pretraining corpus is
    written in the corpus reading (trap steps computed wrongly, the same way every time) and
    may repeat its own chains in other words (the task has only a few thousand chains).
    """
    seen = _Seen()
    held_zone = functools.partial(heldout_trap_pair, seed=cfg.seed)
    held = _problems(cfg, cfg.heldout_problems, cfg.seed * 3 + 1,
                     trap_fraction=cfg.trap_fraction, reading="true", seen=seen,
                     trap_pairs=held_zone)
    seen.add(held)
    pool = _problems(cfg, cfg.train_problems, cfg.seed * 3 + 2,
                     trap_fraction=cfg.trap_fraction, reading="true", seen=seen,
                     trap_pairs=lambda pair: not held_zone(pair))
    pool_texts = {p.problem for p in pool}
    pre = _problems(cfg, cfg.pretrain_problems, cfg.seed * 3 + 3,
                    trap_fraction=cfg.pretrain_trap_fraction, reading="corpus",
                    seen=_Seen(seen.texts | pool_texts, set(seen.chains)), distinct=False)
    return {"heldout": held, "train": pool, "pretrain": pre}


def write_problem_sets(run_dir: rundir.RunDir, cfg) -> dict[str, pathlib.Path]:
    """The three sets of :func:`problem_sets` as JSONL files under ``data/``."""
    data_dir = run_dir.stage("data")
    paths = {}
    for name, probs in problem_sets(cfg).items():
        paths[name] = data_dir / f"{name}.jsonl"
        rundir.write_jsonl(paths[name], [p.to_dict() for p in probs])
    return paths


def pretrain(
    run_dir: rundir.RunDir, cfg, model_cfg_spec: model_spec.ModelSpec, tokenizer: Any,
    problems: list[records.Problem], *, mesh: Any = None, progress: bool = True,
) -> tuple[rundir.Summary, pathlib.Path]:
    """SFT from random weights on (problem -> full solution + end of turn); exports base/hf."""
    arch = model_config.ModelConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size, num_layers=cfg.num_layers,
        num_heads=cfg.num_heads, num_kv_heads=cfg.num_kv_heads, head_dim=cfg.head_dim,
        qk_norm=True, tie_embeddings=True, rope_theta=10_000.0, max_position_embeddings=4096,
        model_type="qwen3", **model_cfg_spec.runtime(),
    )
    model = build.random_init(arch, seed=cfg.seed, mesh=mesh)
    examples = [chat.render_sft(tokenizer, sft_stage.solution_example(p, p.solution))
                for p in problems]
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
