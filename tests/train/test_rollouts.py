"""`rollouts.training_batch`: how group rollouts become a training batch (row order,
padding bucket, loss mask on completion tokens only, sampler log-probs aligned with the
tokens they score, truncated and dropped groups masked)."""

from __future__ import annotations

import numpy as np

from jaxint import sample_score
from jaxint.data import records
from jaxint.sampling import results
from jaxint.train import rollouts

PROMPTS = [[1, 2, 3], [4, 5, 6, 7, 8]]


def _sample(p: int, j: int, tokens: list[int], finish: str) -> results.Sample:
    # Log-probs that name their token: -(token / 100).
    return results.Sample(p, j, np.asarray(tokens, np.int32),
                          -np.asarray(tokens, np.float32) / 100, finish)


def _rollouts(long: bool = False) -> sample_score.Rollouts:
    problems = [records.Problem(f"p{i}", "?", "1", None, "test") for i in range(2)]
    samples = [
        [_sample(0, 0, [10, 11, 2], "stop"), _sample(0, 1, [12, 13, 14, 15], "length")],
        [_sample(1, 0, [16, 2], "stop"), _sample(1, 1, [17] * (70 if long else 6), "length")],
    ]
    rewards = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    return sample_score.Rollouts(problems, PROMPTS, samples, rewards, [["x"] * 2] * 2)


ADV = np.array([[0.5, -0.5], [0.0, 0.0]], np.float32)


def test_layout_masks_and_aligned_logprobs():
    """Rows are prompt-major (p0 s0, p0 s1, p1 s0, p1 s1), right-padded to 64; loss_mask is
    1 exactly on completion tokens; sampler_logp[t] holds the log-prob of token t + 1, so
    it lines up with loss_mask[1:] (the trainer's convention)."""
    batch = rollouts.training_batch(_rollouts(), ADV)
    assert batch["tokens"].shape == (4, 64) and batch["sampler_logp"].shape == (4, 63)
    np.testing.assert_array_equal(batch["advantages"], [0.5, -0.5, 0.0, 0.0])
    ro = _rollouts()
    rows = [(PROMPTS[p], ro.samples[p][j].tokens) for p in range(2) for j in range(2)]
    for i, (prompt, completion) in enumerate(rows):
        seq = np.r_[prompt, completion]
        n, start = len(seq), len(prompt)
        np.testing.assert_array_equal(batch["tokens"][i, :n], seq)
        assert not batch["tokens"][i, n:].any()
        np.testing.assert_array_equal(batch["segment_ids"][i], np.arange(64) < n)
        np.testing.assert_array_equal(batch["positions"][i], np.arange(64))
        expected_mask = (np.arange(64) >= start) & (np.arange(64) < n)
        np.testing.assert_array_equal(batch["loss_mask"][i], expected_mask)
        # Where the mask says "trained", the aligned log-prob is that token's own.
        trained = batch["loss_mask"][i, 1:] > 0
        np.testing.assert_allclose(batch["sampler_logp"][i][trained],
                                   -batch["tokens"][i, 1:][trained] / 100)
        assert not batch["sampler_logp"][i][~trained].any()


def test_truncated_completions_masked_when_asked():
    """mask_truncated: samples that hit max_new_tokens ("length") carry no loss; the others
    keep theirs. Off by default."""
    default = rollouts.training_batch(_rollouts(), ADV)
    assert default["loss_mask"].sum(axis=1).tolist() == [3, 4, 2, 6]
    masked = rollouts.training_batch(_rollouts(), ADV, mask_truncated=True)
    assert masked["loss_mask"].sum(axis=1).tolist() == [3, 0, 2, 0]


def test_dropped_groups_carry_no_loss():
    """drop_groups (e.g. zero-advantage groups) removes every sample of the group."""
    batch = rollouts.training_batch(_rollouts(), ADV, drop_groups=np.array([False, True]))
    assert batch["loss_mask"].sum(axis=1).tolist() == [3, 4, 0, 0]


def test_sequence_bucket_grows_in_powers_of_two():
    """Lengths bucket to powers of two from 64, so training compiles few shapes."""
    assert [rollouts.bucket(n) for n in (1, 64, 65, 128, 129)] == [64, 64, 128, 128, 256]
    assert rollouts.training_batch(_rollouts(long=True), ADV)["tokens"].shape == (4, 128)


def test_token_advantages_line_up_with_the_logprobs():
    """Per-token advantages land where the sampler's log-probs of the same tokens do (entry
    t scores token t + 1), 0 elsewhere; completion_logprobs reads those entries back."""
    ro = _rollouts()
    per_token = [-s.logprobs * 1000 for group in ro.samples for s in group]  # = token ids * 10
    batch = rollouts.training_batch(ro, per_token)
    assert batch["advantages"].shape == batch["sampler_logp"].shape
    np.testing.assert_allclose(batch["advantages"], -batch["sampler_logp"] * 1000, rtol=1e-6)
    back = rollouts.completion_logprobs(ro, batch["sampler_logp"])
    for got, group_sample in zip(back, [s for g in ro.samples for s in g], strict=True):
        np.testing.assert_array_equal(got, group_sample.logprobs)
    assert "advantages" not in rollouts.training_batch(ro, None)
