"""`sft.batching: examples | pack`: batch_size counts examples, as LLaMA-Factory does; the
number of optimizer steps and which examples land in which batch, against hand-computed
cases (and `pack_rows`, the old rows-per-step packing, for contrast)."""

from __future__ import annotations

import numpy as np
import pytest

from jaxint.data import pipelines
from jaxint.train import config as train_config
from jaxint.train import sft, sft_batching


def _example(i: int, n: int) -> dict[str, np.ndarray]:
    """Example i: n tokens all equal to i + 1 (so a batch shows which example sits where)."""
    mask = np.ones(n, np.float32)
    mask[0] = 0
    return {"tokens": np.full(n, i + 1, np.int32), "loss_mask": mask}


def _batches(lengths, **kw) -> sft_batching.ExampleBatches:
    items = pipelines.prepare([_example(i, n) for i, n in enumerate(lengths)], kw["seq_len"])
    return sft_batching.ExampleBatches(items, shuffle=False, seed=0, **kw)


def test_steps_per_epoch_counts_examples():
    """10 examples, 64 -> 4 per step: ceil(10 / 4) = 3 steps an epoch in both modes; packing
    rows (pack_rows) fits all ten 10-token examples in one 4 x 64 batch: 1 step."""
    examples = [_example(i, 10) for i in range(10)]
    for mode in ("examples", "pack"):
        cfg = train_config.SFTConfig(batching=mode, batch_size=4, seq_len=64)
        assert sft.steps_per_epoch(examples, cfg) == 3
    assert sft.steps_per_epoch(examples, train_config.SFTConfig(batching="pack_rows", batch_size=4,
                                                                seq_len=64)) == 1


def test_which_examples_land_in_which_step_unshuffled():
    """Consecutive groups of 4, the last one short, then the next epoch starts over."""
    got = [sft_batching.step_examples(10, 4, k, seed=0, shuffle=False) for k in range(4)]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3]]


def test_shuffled_epochs_visit_every_example_once():
    for epoch in range(2):
        steps = [sft_batching.step_examples(10, 4, 3 * epoch + k, seed=5) for k in range(3)]
        assert [len(s) for s in steps] == [4, 4, 2]
        assert sorted(i for s in steps for i in s) == list(range(10))
    first = sft_batching.step_examples(10, 4, 0, seed=5)
    assert first != sft_batching.step_examples(10, 4, 3, seed=5)  # reshuffled per epoch


def test_first_fit_hand_computed():
    """Rows of 8: 5 -> row 0 (3 left), 3 -> row 0 (full), 4 -> row 1, 2 -> row 1, 6 -> row 2."""
    assert sft_batching.first_fit([5, 3, 4, 2, 6], 8) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("needed,acc,cap,rows", [
    (3, 1, 64, 4), (5, 2, 8, 8), (1, 2, 8, 2), (40, 1, 64, 64), (3, 1, 3, 3), (4, 1, 64, 4)])
def test_packed_row_count(needed, acc, cap, rows):
    assert sft_batching.packed_row_count(needed, acc, cap) == rows


def test_pack_mode_batch_layout():
    """5 examples (lengths 5, 3, 4, 2, 6) in one step of 5, rows of 8: rows [0, 1], [2, 3],
    [4], and one all-padding row (3 rows round up to 4)."""
    batch = next(_batches([5, 3, 4, 2, 6], batch_size=5, seq_len=8, mode="pack"))
    assert batch["tokens"].shape == (4, 8)
    np.testing.assert_array_equal(batch["tokens"][0], [1] * 5 + [2] * 3)
    np.testing.assert_array_equal(batch["segment_ids"][0], [1] * 5 + [2] * 3)
    np.testing.assert_array_equal(batch["positions"][0], [0, 1, 2, 3, 4, 0, 1, 2])
    np.testing.assert_array_equal(batch["loss_mask"][0], [0, 1, 1, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(batch["tokens"][1], [3] * 4 + [4] * 2 + [0] * 2)
    np.testing.assert_array_equal(batch["tokens"][2], [5] * 6 + [0] * 2)
    assert not batch["segment_ids"][3].any()


def test_examples_mode_one_per_row_bucketed_width():
    """Step 0 = examples 0, 1 (longest 20 -> bucket 32); step 1 = example 2 and a padding row
    (5 tokens -> bucket 16)."""
    it = _batches([3, 20, 5], batch_size=2, seq_len=64, mode="examples")
    first, second = next(it), next(it)
    assert first["tokens"].shape == (2, 32) and second["tokens"].shape == (2, 16)
    np.testing.assert_array_equal(first["tokens"][1, :21], [2] * 20 + [0])
    np.testing.assert_array_equal(second["tokens"][0, :6], [3] * 5 + [0])
    assert not second["segment_ids"][1].any()


def test_processes_split_the_step_and_agree_on_shapes():
    """Step of 4 over 2 processes: process 0 gets examples 0, 1; process 1 gets 2, 3; the
    width is the whole step's (example 3's 40 tokens -> 64) on both."""
    kw = dict(batch_size=4, seq_len=64, mode="examples", process_count=2)
    p0 = next(_batches([3, 4, 5, 40], process_index=0, **kw))
    p1 = next(_batches([3, 4, 5, 40], process_index=1, **kw))
    assert p0["tokens"].shape == p1["tokens"].shape == (2, 64)
    assert [int(r[0]) for r in p0["tokens"]] == [1, 2]
    assert [int(r[0]) for r in p1["tokens"]] == [3, 4]


def test_resume_from_state_gives_the_same_batches():
    it = _batches([5, 3, 4, 2, 6, 7], batch_size=2, seq_len=8, mode="pack")
    next(it)
    state = it.get_state()
    expected = [next(it) for _ in range(4)]
    again = _batches([5, 3, 4, 2, 6, 7], batch_size=2, seq_len=8, mode="pack")
    again.set_state(state)
    for want in expected:
        got = next(again)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_old_pad_name_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="pad is now called examples"):
        train_config.SFTConfig(batching="pad")
