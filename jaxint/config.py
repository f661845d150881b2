"""The run config: one frozen dataclass per pipeline section, composed here.

Each package owns the dataclass of its settings (validated in its `__post_init__`); this
module only puts them together and loads them strictly (`jaxint.configlib`): unknown keys and
wrong types are errors naming the key and the file, `key.sub=value` overrides on the command
line, and a YAML file may extend another through `base:`.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence
from typing import Optional

from jaxint import configlib, drift
from jaxint.data import config as data_config
from jaxint.data import synthetic
from jaxint.evaluation import config as eval_config
from jaxint.intervene import config as intervene_config
from jaxint.metrics import config as metrics_config
from jaxint.models import spec as model_spec
from jaxint.parallel import config as parallel_config
from jaxint.stages import config as stages_config
from jaxint.train import config as train_config
from jaxint.verify import config as verify_config

STAGES = ("select", "generate", "verify", "intervene", "filter", "sft", "rl", "eval")
# What runs when a config lists no stages: hard-problem selection samples 64 attempts per
# problem, so it runs only when asked for (`stages: [select, ...]` or `jaxint select`).
DEFAULT_STAGES = STAGES[1:]


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The CPU demo: a small base model trained from scratch on the synthetic task, so it is
    an imperfect solver, then InT (oracle intervener) + GRPO against GRPO alone.

    Attributes:
        train_problems, heldout_problems: synthetic problems (disjoint seeds).
        num_steps, max_digits, max_factor, ops, max_value: the task's difficulty knobs
            (every intermediate value lies in [0, max_value)).
        pretrain_steps, pretrain_batch, pretrain_lr, pretrain_seq_len: the base model's
            training (from random weights, one problem per row: the rows are short).
        max_start: largest start value (default: the largest max_digits-digit number).
        trap_fraction: share of pool and held-out problems with exactly one trap step (a
            phrase the pretraining corpus computes wrongly, never the last operation); 0
            gives the plain task.
        pretrain_trap_fraction: share of pretraining problems with a trap step, written the
            corpus's wrong way.
        trap_kinds: which traps (`jaxint.data.synthetic.TRAP_KINDS`), taken in turn by the
            trap problems of each set; kinds with different true operations leave the model
            no rule but the phrase ("the trap step is a subtraction" fits only one kind).
        matched_control: also run "RL only" for extra steps so its trained tokens match InT's
            SFT + RL (the compute-matched control row).
        full: also evaluate InT's SFT model alone and run SFT on (prose) reference
            solutions + RL, the paper's control row (`jaxint demo --full`).
    """

    train_problems: int = 256
    heldout_problems: int = 128
    num_steps: int = 3
    max_digits: int = 2
    max_factor: int = 9
    ops: tuple[str, ...] = ("+", "-", "*")
    max_value: int = 1000
    pretrain_problems: int = 2000
    pretrain_steps: int = 300
    pretrain_batch: int = 32
    pretrain_lr: float = 3e-3
    pretrain_seq_len: int = 512
    seed: int = 0
    max_start: Optional[int] = None
    trap_fraction: float = 0.0
    pretrain_trap_fraction: float = 0.0
    trap_kinds: tuple[str, ...] = ("lower",)
    matched_control: bool = True
    full: bool = False
    # the base model's architecture (a Qwen3-style decoder)
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 3
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 32

    def __post_init__(self) -> None:
        for name in ("train_problems", "heldout_problems", "num_steps", "max_digits",
                     "pretrain_problems", "pretrain_steps", "pretrain_batch",
                     "pretrain_seq_len",
                     "hidden_size", "intermediate_size", "num_layers", "num_heads",
                     "num_kv_heads", "head_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"demo.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("trap_fraction", "pretrain_trap_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"demo.{name} must lie in [0, 1], got {getattr(self, name)}")
        unknown = [k for k in self.trap_kinds if k not in synthetic.TRAP_KINDS]
        if not self.trap_kinds or unknown:
            raise ValueError(f"demo.trap_kinds must be a non-empty list of "
                             f"{sorted(synthetic.TRAP_KINDS)}, got {list(self.trap_kinds)}")
        if self.trap_fraction > 0 and self.num_steps < 2:
            raise ValueError("demo.trap_fraction > 0 needs demo.num_steps >= 2 (a trap step is "
                             f"never the last operation), got num_steps={self.num_steps}")
        if self.max_start is not None and self.max_start < 1:
            raise ValueError(f"demo.max_start must be >= 1, got {self.max_start}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything `jaxint run` needs.

    `stages` lists what to run, in pipeline order (default: all but `select`); `rl_baseline`
    also runs GRPO from the base model with the same budget (the paper's "+ RL" row).
    """

    name: str = "run"
    out_dir: str = "runs"
    stages: tuple[str, ...] = DEFAULT_STAGES
    rl_baseline: bool = False
    tokenizer_path: Optional[str] = None  # default: the model directory
    model: model_spec.ModelSpec = dataclasses.field(
        default_factory=lambda: model_spec.ModelSpec(preset="qwen3-tiny"))
    mesh: parallel_config.MeshConfig = configlib.section(parallel_config.MeshConfig)
    distributed: parallel_config.DistributedConfig = configlib.section(
        parallel_config.DistributedConfig)
    data: data_config.DatasetConfig = dataclasses.field(
        default_factory=lambda: data_config.DatasetConfig(path="math-train", require_solution=True))
    select: stages_config.SelectConfig = configlib.section(stages_config.SelectConfig)
    generate: stages_config.GenerateConfig = configlib.section(stages_config.GenerateConfig)
    verify: verify_config.VerifyConfig = configlib.section(verify_config.VerifyConfig)
    intervene: intervene_config.InterveneConfig = configlib.section(
        intervene_config.InterveneConfig)
    filter: intervene_config.FilterConfig = configlib.section(intervene_config.FilterConfig)
    sft: train_config.SFTConfig = configlib.section(train_config.SFTConfig)
    rl: train_config.GRPOConfig = configlib.section(train_config.GRPOConfig)
    eval: eval_config.EvalConfig = configlib.section(eval_config.EvalConfig)
    # TensorBoard / W&B besides the JSONL
    logging: metrics_config.LoggingConfig = configlib.section(metrics_config.LoggingConfig)
    demo: Optional[DemoConfig] = None

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"stages: unknown stage {unknown[0]!r} (stages: {', '.join(STAGES)})")
        order = [STAGES.index(s) for s in self.stages]
        if order != sorted(order) or len(set(order)) != len(order):
            raise ValueError(
                f"stages must be in pipeline order without repeats, got {list(self.stages)}")
        if not self.name or "/" in self.name:
            raise ValueError(f"name must be a non-empty directory name, got {self.name!r}")

    @property
    def run_dir(self) -> pathlib.Path:
        return pathlib.Path(self.out_dir) / self.name


def load(path: str | pathlib.Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """The run config from a YAML file and `key=value` overrides (see `jaxint.configlib`)."""
    return configlib.load(RunConfig, path, overrides, removed=drift.REMOVED, moved=drift.MOVED)
