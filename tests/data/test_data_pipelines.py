"""grain pipelines: per-epoch shuffling, sharding, resumption, packing and padding."""

import itertools
import logging

import numpy as np
import pytest

from jaxint.data import pipelines


def take(iterator, n):
    return list(itertools.islice(iterator, n))


def example(i, n):
    """Example i of length n with unique token values 100*i+1..; the first token has no loss."""
    return {"tokens": np.arange(1, n + 1) + 100 * i, "loss_mask": np.r_[0.0, np.ones(n - 1)]}


def one_process(**kwargs):
    return dict(process_index=0, process_count=1, **kwargs)


# ----------------------------------------------------------------------------- prompts


def test_prompts_each_epoch_a_new_permutation_deterministic_by_seed():
    items = list(range(20))
    order = list(pipelines.prompt_pipeline(items, seed=5, num_epochs=3, **one_process()))
    epochs = [order[0:20], order[20:40], order[40:60]]
    assert all(sorted(epoch) == items for epoch in epochs)
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2] and epochs[0] != items
    again = list(pipelines.prompt_pipeline(items, seed=5, num_epochs=3, **one_process()))
    other = list(pipelines.prompt_pipeline(items, seed=6, num_epochs=3, **one_process()))
    assert again == order and other != order
    plain = pipelines.prompt_pipeline(items, seed=5, shuffle=False, num_epochs=1, **one_process())
    assert list(plain) == items


def test_prompts_sharded_per_process_partition_the_data():
    items = list(range(10))
    shards = [
        list(
            pipelines.prompt_pipeline(items, seed=1, num_epochs=1, process_index=p, process_count=3)
        )
        for p in range(3)
    ]
    assert sorted(shards[0]) == [0, 3, 6, 9]
    assert sorted(shards[1]) == [1, 4, 7]
    assert sorted(shards[2]) == [2, 5, 8]
    even = [
        sorted(
            pipelines.prompt_pipeline(
                items, seed=1, num_epochs=1, process_index=p, process_count=3, drop_remainder=True
            )
        )
        for p in range(3)
    ]
    assert even == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def test_prompts_default_to_jax_process():
    # One JAX process in tests: the default shard is everything.
    assert sorted(pipelines.prompt_pipeline(list(range(7)), seed=0, num_epochs=1)) == list(range(7))


def test_prompt_iterator_resumes_across_epochs():
    dataset = pipelines.prompt_pipeline(list(range(9)), seed=3, **one_process())
    iterator = iter(dataset)
    take(iterator, 7)
    state = iterator.get_state()
    expected = take(iterator, 15)  # crosses into the next epochs
    resumed = iter(pipelines.prompt_pipeline(list(range(9)), seed=3, **one_process()))
    resumed.set_state(state)
    assert take(resumed, 15) == expected


# ----------------------------------------------------------------------------- SFT packing


def test_packing_hand_computed_first_fit():
    # Lengths 3, 5, 2, 7 into 2 rows of 8 in order: row0 = ex0 + ex1 (3 + 5 = 8), row1 = ex2;
    # ex3 (7) fits neither, so both rows are emitted; ex3 starts the next batch, whose second
    # row is all padding because the data ran out.
    examples = [example(i, n) for i, n in enumerate([3, 5, 2, 7])]
    batches = list(
        pipelines.sft_batches(
            examples, batch_size=2, seq_len=8, seed=0, shuffle=False, num_epochs=1, **one_process()
        )
    )
    assert len(batches) == 2
    first, second = batches
    assert first["tokens"].tolist() == [
        [1, 2, 3, 101, 102, 103, 104, 105],
        [201, 202, 0, 0, 0, 0, 0, 0],
    ]
    assert first["segment_ids"].tolist() == [[1, 1, 1, 2, 2, 2, 2, 2], [1, 1, 0, 0, 0, 0, 0, 0]]
    assert first["positions"].tolist() == [[0, 1, 2, 0, 1, 2, 3, 4], [0, 1, 0, 0, 0, 0, 0, 0]]
    assert first["loss_mask"].tolist() == [[0, 1, 1, 0, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0, 0, 0]]
    assert second["tokens"].tolist() == [[301, 302, 303, 304, 305, 306, 307, 0], [0] * 8]
    assert second["segment_ids"].tolist() == [[1] * 7 + [0], [0] * 8]
    dtypes = {k: v.dtype for k, v in first.items()}
    assert dtypes == {
        "tokens": np.int32,
        "loss_mask": np.float32,
        "segment_ids": np.int32,
        "positions": np.int32,
    }


def unpack(batches):
    """Recovers the examples from packed rows via segment ids, checking positions on the way."""
    found = []
    for batch in batches:
        for tokens, seg, pos, mask in zip(
            batch["tokens"],
            batch["segment_ids"],
            batch["positions"],
            batch["loss_mask"],
            strict=True,
        ):
            ids = [s for s in seg if s]
            assert ids == sorted(ids) and set(ids) == set(range(1, max(ids, default=0) + 1))
            assert not np.any(tokens[seg == 0]) and not np.any(mask[seg == 0])
            for s in set(ids):
                assert pos[seg == s].tolist() == list(range(int(np.sum(seg == s))))
                found.append((tuple(tokens[seg == s].tolist()), tuple(mask[seg == s].tolist())))
    return sorted(found)


def test_packing_loses_no_tokens_over_two_epochs():
    rng = np.random.default_rng(0)
    examples = [example(i, int(n)) for i, n in enumerate(rng.integers(1, 17, size=40))]
    batches = list(
        pipelines.sft_batches(
            examples, batch_size=4, seq_len=16, seed=1, num_epochs=2, **one_process()
        )
    )
    assert all(b["tokens"].shape == (4, 16) for b in batches)
    expected = sorted(
        (tuple(e["tokens"].tolist()), tuple(e["loss_mask"].tolist())) for e in examples
    )
    assert unpack(batches) == sorted(expected * 2)


def test_long_examples_are_truncated_and_logged(caplog):
    examples = [example(0, 12), example(1, 3)]
    with caplog.at_level(logging.WARNING):
        batches = list(
            pipelines.sft_batches(
                examples,
                batch_size=2,
                seq_len=8,
                seed=0,
                shuffle=False,
                num_epochs=1,
                **one_process(),
            )
        )
    assert "truncated 1 of 2" in caplog.text
    assert batches[0]["tokens"][0].tolist() == list(range(1, 9))


def test_first_token_with_loss_is_rejected():
    with pytest.raises(ValueError, match="loss_mask"):
        pipelines.sft_batches(
            [{"tokens": [1, 2], "loss_mask": [1.0, 1.0]}],
            batch_size=1,
            seq_len=4,
            seed=0,
            **one_process(),
        )


def test_sft_sharding_partitions_examples():
    examples = [example(i, 3) for i in range(11)]
    seen = []
    for p in range(2):
        batches = pipelines.sft_batches(
            examples,
            batch_size=2,
            seq_len=6,
            seed=0,
            num_epochs=1,
            process_index=p,
            process_count=2,
        )
        seen.append({tokens[0] for tokens, _ in unpack(batches)})
    assert seen[0] == {100 * i + 1 for i in range(0, 11, 2)}
    assert seen[1] == {100 * i + 1 for i in range(1, 11, 2)}


@pytest.mark.parametrize("mode", ["pack", "pad"])
def test_sft_iterator_resume_gives_the_same_next_batches(mode):
    rng = np.random.default_rng(1)
    examples = [example(i, int(n)) for i, n in enumerate(rng.integers(2, 12, size=25))]

    def make():
        return pipelines.sft_batches(
            examples, batch_size=3, seq_len=12, mode=mode, seed=7, **one_process()
        )

    iterator = iter(make())
    take(iterator, 5)
    state = iterator.get_state()
    expected = take(iterator, 10)  # runs past the end of the first epoch
    resumed = iter(make())
    resumed.set_state(state)
    for want, got in zip(expected, take(resumed, 10), strict=True):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


# ----------------------------------------------------------------------------- SFT padding


def test_padding_uses_the_smallest_fitting_bucket():
    examples = [example(i, n) for i, n in enumerate([3, 4, 1, 6, 2])]
    batches = list(
        pipelines.sft_batches(
            examples,
            batch_size=2,
            seq_len=8,
            mode="pad",
            buckets=(4,),
            seed=0,
            shuffle=False,
            num_epochs=1,
            **one_process(),
        )
    )
    assert [b["tokens"].shape for b in batches] == [(2, 4), (2, 8), (2, 4)]
    first, second, last = batches
    assert first["tokens"].tolist() == [[1, 2, 3, 0], [101, 102, 103, 104]]
    assert first["segment_ids"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert first["positions"].tolist() == [[0, 1, 2, 0], [0, 1, 2, 3]]
    assert first["loss_mask"].tolist() == [[0, 1, 1, 0], [0, 1, 1, 1]]
    assert second["tokens"].tolist() == [
        [201, 0, 0, 0, 0, 0, 0, 0],
        [301, 302, 303, 304, 305, 306, 0, 0],
    ]
    assert last["tokens"].tolist() == [[401, 402, 0, 0], [0, 0, 0, 0]]  # short batch filled
    assert last["segment_ids"].tolist() == [[1, 1, 0, 0], [0, 0, 0, 0]]


def test_default_buckets_are_powers_of_two_up_to_seq_len():
    examples = [example(0, 17), example(1, 40)]
    batches = list(
        pipelines.sft_batches(
            examples,
            batch_size=1,
            seq_len=50,
            mode="pad",
            seed=0,
            shuffle=False,
            num_epochs=1,
            **one_process(),
        )
    )
    assert [b["tokens"].shape[1] for b in batches] == [32, 50]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="mode"):
        pipelines.sft_batches([example(0, 2)], batch_size=1, seq_len=4, mode="bucket", seed=0)
    with pytest.raises(ValueError, match="process_index"):
        pipelines.prompt_pipeline([1, 2], seed=0, process_index=2, process_count=2)


def test_chat_examples_feed_the_packer(char_tokenizer):
    from jaxint.data import chat

    user = [{"role": "user", "content": "1+1?"}]
    examples = [
        chat.render_example(char_tokenizer, user, [("response", "2" * k, True)], add_eos=True)
        for k in (1, 2, 3)
    ]
    batches = list(
        pipelines.sft_batches(
            examples, batch_size=2, seq_len=64, seed=0, num_epochs=1, **one_process()
        )
    )
    expected = sorted((tuple(e.tokens.tolist()), tuple(e.loss_mask.tolist())) for e in examples)
    assert unpack(batches) == expected
