"""Optimizer, checkpoint and SFT settings (frozen, validated). GRPO's live in `grpo_config`."""

from __future__ import annotations

import dataclasses
from typing import Optional

from jaxint import configlib
from jaxint.sampling import config as sampling_config
from jaxint.train.credit import config as credit_config

# The values of `jaxint.train.grpo` (not imported: this module stays free of JAX).
AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm", "sum")
LOSSES = ("ppo_clip", "reinforce")
SFT_BATCHING = ("examples", "pack", "pack_rows")


def _positive(section: str, obj: object, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{section}.{name} must be positive, got {getattr(obj, name)}")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """AdamW with linear warmup then cosine decay to `min_lr_ratio * lr`."""

    lr: float = 1e-6
    warmup_ratio: float = 0.1
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    grad_clip: float = 1.0  # global norm; 0 disables
    # Adam's first moment in this dtype ("bfloat16" saves 2 bytes per parameter, what lets
    # Qwen3-4B's 16K train step fit a v4-8); None keeps the parameters' dtype.
    mu_dtype: str | None = None

    def __post_init__(self) -> None:
        _positive("optimizer", self, "lr", "eps")
        if self.mu_dtype not in (None, "float32", "bfloat16"):
            raise ValueError(f"optimizer.mu_dtype must be float32 or bfloat16, got {self.mu_dtype}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"optimizer.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"optimizer.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.grad_clip < 0:
            raise ValueError(f"optimizer.grad_clip must be >= 0, got {self.grad_clip}")


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Orbax checkpoints: every `every` steps, keep the last `keep`, async where possible."""

    every: int = 100
    keep: int = 2
    async_save: bool = True

    def __post_init__(self) -> None:
        _positive("checkpoint", self, "every", "keep")


@dataclasses.dataclass(frozen=True)
class SFTConfig:
    """Supervised fine-tuning on (prompt, response) examples; defaults from the InT paper
    (4 epochs, lr 1e-6, cosine to 0.1x, warmup 10%, batch 64, max length 16K)."""

    epochs: int = 4
    # examples per optimizer step (batching examples | pack), packed rows (pack_rows)
    batch_size: int = 64
    micro_batch_size: Optional[int] = None  # gradient accumulation when smaller
    seq_len: int = 16384
    # examples: one example per row (LLaMA-Factory's 64 examples per step, as the authors
    # ran it); pack: batch_size whole examples per step, packed into rows of seq_len;
    # pack_rows: batch_size rows each packed full (fewer, larger steps; `train.sft_batching`)
    batching: str = "pack_rows"
    max_steps: Optional[int] = None
    eval_fraction: float = 0.05
    eval_every: int = 50
    log_every: int = 1
    seed: int = 0
    # Also train on the policy's own correct rollouts of the pool (from `verify`), whole and
    # with the end of turn. Off in the paper's recipe; a small model trained only on hundreds
    # of corrections of one kind shifts its whole output distribution toward them, and its
    # own correct solutions anchor everything the corrections do not touch.
    replay_correct: bool = False
    # Train each distinct (problem, target) once. Failed rollouts of a problem often fail the
    # same way, and the intervener then proposes the same fix for each: without this, a problem
    # with four identical failures weighs four times as much as one with a single failure.
    unique_targets: bool = False
    optimizer: OptimizerConfig = configlib.section(OptimizerConfig)
    checkpoint: CheckpointConfig = configlib.section(CheckpointConfig)

    def __post_init__(self) -> None:
        _positive("sft", self, "epochs", "batch_size", "seq_len", "eval_every", "log_every")
        if self.batching not in SFT_BATCHING:
            hint = " (pad is now called examples)" if self.batching == "pad" else ""
            raise ValueError(f"sft.batching must be {'|'.join(SFT_BATCHING)}, "
                             f"got {self.batching!r}{hint}")
        mb = self.micro_batch_size
        if mb is not None and (mb <= 0 or self.batch_size % mb):
            raise ValueError(
                f"sft.micro_batch_size ({mb}) must divide sft.batch_size ({self.batch_size})"
            )
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"sft.eval_fraction must be in [0, 1), got {self.eval_fraction}")

    @property
    def accumulation(self) -> int:
        return self.batch_size // (self.micro_batch_size or self.batch_size)


@dataclasses.dataclass(frozen=True)
class GRPOConfig:
    """GRPO from a checkpoint; defaults from the InT paper (32 prompts x 8 rollouts per step,
    mini-batch 16 prompts, lr 1e-6, no KL, no entropy bonus, temperature 1.0, advantage =
    reward - group mean).

    `mini_batch_prompts` prompts (groups) per optimizer update, so each step makes
    prompts_per_step / mini_batch_prompts updates per epoch over its rollouts; old
    log-probs are recomputed once per step before the first update.
    """

    steps: int = 400
    prompts_per_step: int = 32
    samples_per_prompt: int = 8
    mini_batch_prompts: int = 16
    micro_batch_size: Optional[int] = None  # sequences per gradient-accumulation micro-step
    update_epochs: int = 1
    # rollout sampling (the paper: T 1.0, no top-k or top-p) and the engine's sizing
    sampling: sampling_config.SamplingConfig = dataclasses.field(
        default_factory=lambda: sampling_config.paper(temperature=1.0, top_k=0, top_p=1.0))
    # ppo_clip (PPO-clip GRPO, the paper's text) | reinforce (the released PipelineRL
    # objective: detached ratio capped at 1 + eps_high; see `grpo.policy_loss`)
    loss: str = "ppo_clip"
    eps_low: float = 0.2
    eps_high: float = 0.2
    # token_mean | seq_mean_token_mean | seq_mean_token_sum_norm | sum (see `grpo.policy_loss`)
    aggregation: str = "token_mean"
    std_normalize: bool = False
    batch_normalize: bool = False
    drop_zero_adv_groups: bool = False
    mask_truncated: bool = False
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    entropy_coef: float = 0.0
    logprob_chunk: int = 512
    seed: int = 0
    # outcome (GRPO: one advantage per sequence) | vineppo | grpo_lambda | oppo | capo, with
    # their options in the sections below (`jaxint.train.credit`)
    credit: str = "outcome"
    vineppo: credit_config.VinePPOConfig = configlib.section(credit_config.VinePPOConfig)
    grpo_lambda: credit_config.GRPOLambdaConfig = configlib.section(credit_config.GRPOLambdaConfig)
    oppo: credit_config.OPPOConfig = configlib.section(credit_config.OPPOConfig)
    capo: credit_config.CAPOConfig = configlib.section(credit_config.CAPOConfig)
    optimizer: OptimizerConfig = dataclasses.field(
        default_factory=lambda: OptimizerConfig(lr=1e-6, warmup_ratio=0.0, min_lr_ratio=1.0)
    )
    checkpoint: CheckpointConfig = configlib.section(CheckpointConfig)

    def __post_init__(self) -> None:
        _positive("rl", self, "steps", "prompts_per_step", "samples_per_prompt",
                  "mini_batch_prompts", "update_epochs", "logprob_chunk")
        if self.prompts_per_step % self.mini_batch_prompts:
            raise ValueError(
                f"rl.mini_batch_prompts ({self.mini_batch_prompts}) must divide "
                f"rl.prompts_per_step ({self.prompts_per_step})"
            )
        seqs = self.mini_batch_prompts * self.samples_per_prompt
        if self.micro_batch_size is not None and (
            self.micro_batch_size <= 0 or seqs % self.micro_batch_size
        ):
            raise ValueError(f"rl.micro_batch_size ({self.micro_batch_size}) must divide the "
                             f"mini-batch of {seqs} sequences")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"rl.aggregation must be one of {'|'.join(AGGREGATIONS)}, "
                             f"got {self.aggregation!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"rl.loss must be one of {'|'.join(LOSSES)}, got {self.loss!r}")
        if self.kl_estimator not in ("k1", "k3"):
            raise ValueError(f"rl.kl_estimator must be k1|k3, got {self.kl_estimator!r}")
        if self.kl_coef < 0 or self.entropy_coef < 0 or self.eps_low < 0 or self.eps_high < 0:
            raise ValueError("rl.kl_coef, entropy_coef, eps_low, eps_high must be >= 0")
        if self.sampling.temperature <= 0:
            raise ValueError(f"rl.sampling.temperature must be > 0, got "
                             f"{self.sampling.temperature}")
        sampling_config.check_stage_section("rl", self.sampling, {"n": "samples_per_prompt"})
        self._check_credit()

    def _check_credit(self) -> None:
        if self.credit not in credit_config.METHODS:
            raise ValueError(f"rl.credit must be one of {'|'.join(credit_config.METHODS)}, "
                             f"got {self.credit!r}")
        if self.credit in ("vineppo", "oppo") and (self.std_normalize or self.batch_normalize):
            raise ValueError(f"rl.std_normalize / rl.batch_normalize shape outcome advantages; "
                             f"rl.credit={self.credit} computes values of its own")

    @property
    def accumulation(self) -> int:
        seqs = self.mini_batch_prompts * self.samples_per_prompt
        return seqs // (self.micro_batch_size or seqs)
