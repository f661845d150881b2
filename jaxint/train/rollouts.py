"""GRPO rollouts as a training batch: the sampled and scored groups (``jaxint.sample_score``)
laid out as prompt + completion sequences with loss masks and the sampler's log-probs."""

from __future__ import annotations

import numpy as np

from jaxint import sample_score

MIN_SEQ_BUCKET = 64


def bucket(length: int) -> int:
    """Sequence length bucket (powers of two) so training compiles a few shapes only."""
    return max(MIN_SEQ_BUCKET, 1 << (max(1, length) - 1).bit_length())


def training_batch(
    rollouts: sample_score.Rollouts, advantages: np.ndarray | list[np.ndarray] | None, *,
    mask_truncated: bool = False, drop_groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Sequences = prompt + completion, right-padded to a bucket.

    Returns numpy arrays: tokens/positions/segment_ids/loss_mask [B, T]; sampler_logp
    [B, T-1] aligned with `loss_mask[:, 1:]` (entry t scores token t+1); advantages (see
    `place_advantages`; absent when None is passed: the caller adds them later).
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
    }
    for i, (seq, lp, start) in enumerate(zip(seqs, lps, starts)):
        out["tokens"][i, : len(seq)] = seq
        out["segment_ids"][i, : len(seq)] = 1
        out["loss_mask"][i, start : len(seq)] = float(keep[i])
        out["sampler_logp"][i, start - 1 : len(seq) - 1] = lp
    if advantages is not None:
        out["advantages"] = place_advantages(rollouts, advantages, T)
    return out


def _spans(rollouts: sample_score.Rollouts) -> list[tuple[int, int]]:
    """(first, end) of each sample's completion in the [B, T-1] log-prob layout."""
    return [(len(prompt) - 1, len(prompt) - 1 + len(s.tokens))
            for prompt, group in zip(rollouts.prompts, rollouts.samples) for s in group]


def place_advantages(rollouts: sample_score.Rollouts, advantages: np.ndarray | list[np.ndarray],
                     T: int) -> np.ndarray:
    """The advantages as the update reads them.

    Args:
        advantages: [groups, G] one per sequence, or per sample (group-major) one per token
            of its completion.
        T: the batch's sequence length.

    Returns:
        [B] float32, or [B, T-1] aligned with the log-probs (0 off the completions).
    """
    if isinstance(advantages, np.ndarray):
        return advantages.reshape(-1).astype(np.float32)
    out = np.zeros((len(advantages), T - 1), np.float32)
    for i, ((first, end), adv) in enumerate(zip(_spans(rollouts), advantages, strict=True)):
        out[i, first:end] = adv
    return out


def completion_logprobs(rollouts: sample_score.Rollouts, logp: np.ndarray) -> list[np.ndarray]:
    """Per sample (group-major), its completion's entries of a [B, T-1] log-prob array."""
    return [logp[i, first:end] for i, (first, end) in enumerate(_spans(rollouts))]
