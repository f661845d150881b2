"""Group rollouts for GRPO: sample G completions per prompt with the engine, reward them with
the verifier, and lay them out as a training batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxint import verify
from jaxint.data import chat, records
from jaxint.sampling import engine as engine_lib
from jaxint.sampling import results

MIN_SEQ_BUCKET = 64


@dataclasses.dataclass
class Rollouts:
    """G samples of each of the step's prompts, with rewards [groups, G]."""

    problems: list[records.Problem]
    prompts: list[list[int]]
    samples: list[list[results.Sample]]
    rewards: np.ndarray
    reasons: list[list[str]]

    @property
    def num_tokens(self) -> int:
        return sum(len(s.tokens) for group in self.samples for s in group)


def user_prompt(tokenizer: Any, problem: records.Problem) -> list[int]:
    """The bare problem as one user message (no system prompt), as in the InT paper."""
    return chat.render_prompt(tokenizer, [{"role": "user", "content": problem.problem}])


def sample(
    engine: engine_lib.Engine, params: Any, tokenizer: Any, problems: Sequence[records.Problem],
    *, seed: int, progress: bool = False,
) -> tuple[list[list[int]], list[list[results.Sample]]]:
    """G = `engine.cfg.n` completions of each problem (chat-templated prompts)."""
    prompts = [user_prompt(tokenizer, p) for p in problems]
    return prompts, engine.run(params, prompts, seed=seed, progress=progress, desc="rollouts")


def score(
    problems: Sequence[records.Problem], prompts: list[list[int]],
    samples: list[list[results.Sample]], *, timeout_s: float = 10.0,
) -> Rollouts:
    """Verifier rewards (1/0) for every sample, in a pool of worker processes."""
    pairs = [(s.text or "", p.answer) for p, group in zip(problems, samples) for s in group]
    verdicts = verify.score_batch(pairs, timeout_s=timeout_s)
    G = len(samples[0]) if samples else 0
    rewards = np.asarray([v.reward for v in verdicts], np.float32).reshape(len(problems), G)
    reasons = [[v.reason for v in verdicts[i * G:(i + 1) * G]] for i in range(len(problems))]
    return Rollouts(list(problems), prompts, samples, rewards, reasons)


def bucket(length: int) -> int:
    """Sequence length bucket (powers of two) so training compiles a few shapes only."""
    return max(MIN_SEQ_BUCKET, 1 << (max(1, length) - 1).bit_length())


def training_batch(
    rollouts: Rollouts, advantages: np.ndarray, *, mask_truncated: bool = False,
    drop_groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Sequences = prompt + completion, right-padded to a bucket.

    Returns numpy arrays: tokens/positions/segment_ids/loss_mask [B, T]; sampler_logp
    [B, T-1] aligned with `loss_mask[:, 1:]` (entry t scores token t+1); advantages [B].
    Completion tokens carry loss; truncated completions (finish "length") and dropped groups
    carry none when asked.
    """
    seqs, lps, starts, keep = [], [], [], []
    for g, (prompt, group) in enumerate(zip(rollouts.prompts, rollouts.samples)):
        for s in group:
            seqs.append(np.concatenate([np.asarray(prompt, np.int32), s.tokens]))
            lps.append(s.logprobs)
            starts.append(len(prompt))
            dropped = drop_groups is not None and bool(drop_groups[g])
            keep.append(not dropped and not (mask_truncated and s.finish_reason == "length"))
    B, T = len(seqs), bucket(max(len(x) for x in seqs))
    out = {
        "tokens": np.zeros((B, T), np.int32),
        "positions": np.tile(np.arange(T, dtype=np.int32), (B, 1)),
        "segment_ids": np.zeros((B, T), np.int32), "loss_mask": np.zeros((B, T), np.float32),
        "sampler_logp": np.zeros((B, T - 1), np.float32),
        "advantages": advantages.reshape(-1).astype(np.float32),
    }
    for i, (seq, lp, start) in enumerate(zip(seqs, lps, starts)):
        out["tokens"][i, : len(seq)] = seq
        out["segment_ids"][i, : len(seq)] = 1
        out["loss_mask"][i, start : len(seq)] = float(keep[i])
        out["sampler_logp"][i, start - 1 : len(seq) - 1] = lp
    return out
