"""A tiny plan config (qwen3-tiny on a 4 x 2 fsdp/tensor mesh) shared by the plan tests."""

from __future__ import annotations

import pytest

from jaxint.plan import config as plan_config

TINY = [
    "model.preset=qwen3-tiny", "model.dtype=bfloat16", "model.param_dtype=float32",
    "model.scan_layers=true", "model.remat=full", "model.attention_impl=xla",
    "mesh.data=1", "mesh.fsdp=4", "mesh.tensor=2",
    "sft.batch_size=16", "sft.micro_batch_size=8", "sft.seq_len=128",
    "rl.prompts_per_step=4", "rl.samples_per_prompt=4", "rl.mini_batch_prompts=4",
    "rl.micro_batch_size=8", "rl.sampling.max_new_tokens=64", "rl.sampling.max_batch_slots=16",
    "rl.sampling.chunk_steps=8",
    "generate.samples_per_problem=2", "generate.sampling.max_new_tokens=64",
    "generate.sampling.max_batch_slots=16", "generate.sampling.chunk_steps=8",
    "generate.shard_size=16",
    "plan.prompt_tokens=64",
]


def tiny_config(*overrides: str) -> plan_config.PlanConfig:
    return plan_config.load(None, TINY + list(overrides))


@pytest.fixture(scope="session")
def tiny():
    return tiny_config
