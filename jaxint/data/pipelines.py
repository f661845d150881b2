"""grain input pipelines: prompts for sampling and token batches for SFT.

Both pipelines are built from in-memory lists (problem sets and SFT sets are small next to the
model) and share the same skeleton: shard per JAX process, shuffle with a seed that changes
every epoch, repeat, then (SFT) pack or pad into fixed-shape batches. Iterators come from
``iter(dataset)`` and resume exactly from ``iterator.get_state()`` / ``set_state()``.

No workers and no prefetch threads: the per-batch work is a few small numpy copies, cheap next
to a train step, so reading synchronously is fine. grain's default read options (16 threads
prefetching 500 elements) made each endless iterator take about 2 s in tests on 2 cores and
kept prefetching after the iterator was dropped; multiprocess workers would need absl flags
parsed and picklable functions. Wrap the result in
``grain.experimental.ThreadPrefetchIterDataset`` if a real pipeline ever needs overlap.

Sharding: process ``p`` of ``P`` owns items ``p, p + P, p + 2P, ...`` of the list, fixed across
epochs, so the processes' items are disjoint and together are the whole list. ``batch_size``
is per process; the global batch is ``batch_size * P``. Shards (and so the number of packed
rows per epoch) can differ in size, so processes that must step in lockstep should iterate
endlessly (``num_epochs=None``) and stop after an agreed number of steps.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import grain
import numpy as np

from jaxint.data import records

_LOG = logging.getLogger(__name__)
MODES = ("pack", "pad")
_READ = grain.ReadOptions(num_threads=0, prefetch_buffer_size=0)


def prompt_pipeline(
    problems: Sequence[records.Problem],
    *,
    seed: int,
    shuffle: bool = True,
    num_epochs: int | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    drop_remainder: bool = False,
) -> grain.IterDataset:
    """Problems for sampling: this process's shard, reshuffled every epoch.

    Args:
        problems: The whole problem set (the same list on every process).
        seed: Shuffle seed; epoch ``e`` uses a permutation derived from ``seed`` and ``e``.
        shuffle: Shuffle within each epoch (else source order).
        num_epochs: Passes over the shard; ``None`` repeats forever.
        process_index: This process (default ``jax.process_index()``).
        process_count: Number of processes (default ``jax.process_count()``).
        drop_remainder: Drop the last ``len(problems) % process_count`` problems so all
            shards have the same size (processes that must step in lockstep need this).

    Returns:
        A ``grain.IterDataset`` of :class:`records.Problem`; ``iter()`` it for a resumable
        iterator.
    """
    dataset = _sharded_source(list(problems), process_index, process_count, drop_remainder)
    dataset = _epochs(dataset, seed=seed, shuffle=shuffle, num_epochs=num_epochs)
    return dataset.to_iter_dataset(read_options=_READ)


def sft_batches(
    examples: Sequence[Any],
    *,
    batch_size: int,
    seq_len: int,
    mode: str = "pack",
    seed: int,
    shuffle: bool = True,
    num_epochs: int | None = None,
    buckets: Sequence[int] | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
) -> grain.IterDataset:
    """Fixed-shape SFT batches from tokenised examples.

    Choice: **packing** (``mode="pack"``, the default). Examples are placed first-fit into
    ``batch_size`` rows of ``seq_len`` tokens; ``segment_ids`` number the examples within a
    row (1, 2, ...; 0 is padding) so the attention mask can block attention across examples,
    and ``positions`` restart at 0 for each example. This wastes little compute on padding
    when lengths vary a lot, as InT targets do. The alternative, ``mode="pad"``, puts one
    example per row and pads each batch to the smallest bucket length that fits its longest
    example (``buckets``, default powers of two from 16 up to ``seq_len``), which keeps the
    number of distinct shapes (and compilations) small.

    Examples longer than ``seq_len`` are truncated from the right (the end of the response is
    lost); their count is logged once when the pipeline is built. A short final batch (finite
    ``num_epochs``) is filled with all-padding rows, so every batch has ``batch_size`` rows.

    Args:
        examples: Objects with ``tokens`` [t] and ``loss_mask`` [t] (e.g. ``chat.Example``) or
            mappings with those keys. ``loss_mask[0]`` must be 0: the first token of an example
            has no context to be predicted from (packing would predict it from a neighbour).
        batch_size: Rows per batch on this process.
        seq_len: Row length T (the maximum, in pad mode).
        mode: ``"pack"`` or ``"pad"``.
        seed: Shuffle seed (per-epoch permutations).
        shuffle: Shuffle examples within each epoch.
        num_epochs: Passes over this process's shard; ``None`` repeats forever.
        buckets: Pad mode only: allowed row lengths (each <= ``seq_len``).
        process_index: This process (default ``jax.process_index()``).
        process_count: Number of processes (default ``jax.process_count()``).

    Returns:
        A ``grain.IterDataset`` of dicts: ``tokens`` [B, T] int32, ``loss_mask`` [B, T]
        float32, ``segment_ids`` [B, T] int32, ``positions`` [B, T] int32 (T = ``seq_len``
        when packing, the bucket length when padding). ``iter()`` it for a resumable iterator.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if batch_size < 1 or seq_len < 2:
        raise ValueError(f"need batch_size >= 1 and seq_len >= 2, got {batch_size}, {seq_len}")
    items = prepare(examples, seq_len)
    dataset = _sharded_source(items, process_index, process_count, drop_remainder=False)
    dataset = _epochs(dataset, seed=seed, shuffle=shuffle, num_epochs=num_epochs)
    if mode == "pad":
        lengths = bucket_lengths(seq_len, buckets)
        return dataset.batch(
            batch_size, batch_fn=functools.partial(_pad_batch, batch_size, lengths)
        ).to_iter_dataset(read_options=_READ)
    packed = grain.experimental.FirstFitPackIterDataset(
        dataset.to_iter_dataset(read_options=_READ),
        length_struct={"tokens": seq_len, "loss_mask": seq_len},
        num_packing_bins=batch_size,
        shuffle_bins=False,  # examples are already shuffled
        meta_features=("loss_mask",),  # packed alongside tokens; segment ids come from tokens
    )
    return packed.batch(batch_size, batch_fn=functools.partial(_stack_packed, batch_size))


def _sharded_source(
    items: list[Any], process_index: int | None, process_count: int | None, drop_remainder: bool
) -> grain.MapDataset:
    index, count = _process(process_index, process_count)
    if drop_remainder:
        items = items[: len(items) - len(items) % count]
    if len(items) < count:
        raise ValueError(f"{len(items)} items cannot be sharded over {count} processes")
    return grain.MapDataset.source(items)[index::count]


def _process(process_index: int | None, process_count: int | None) -> tuple[int, int]:
    if process_index is None or process_count is None:
        import jax  # deferred: only needed for the defaults

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if not 0 <= process_index < process_count:
        raise ValueError(
            f"need 0 <= process_index < process_count, got {process_index}, {process_count}"
        )
    return process_index, process_count


def _epochs(
    dataset: grain.MapDataset, *, seed: int, shuffle: bool, num_epochs: int | None
) -> grain.MapDataset:
    if num_epochs is not None and num_epochs < 1:
        raise ValueError(f"num_epochs must be None or >= 1, got {num_epochs}")
    if shuffle:
        dataset = dataset.shuffle(seed=seed)
    # repeat() reseeds the shuffle every epoch: a new, seed-determined order per epoch.
    return dataset.repeat(num_epochs)


def prepare(examples: Sequence[Any], seq_len: int) -> list[dict[str, np.ndarray]]:
    """Checked {tokens, loss_mask} arrays, truncated to ``seq_len`` (the count is logged)."""
    items, truncated = [], 0
    for i, example in enumerate(examples):
        tokens, mask = _fields(example)
        if tokens.ndim != 1 or tokens.shape != mask.shape or tokens.size == 0:
            raise ValueError(
                f"example {i}: tokens and loss_mask must be equal-length, "
                f"non-empty 1-D arrays, got {tokens.shape} and {mask.shape}"
            )
        if mask[0] != 0:
            raise ValueError(
                f"example {i}: loss_mask[0] must be 0 (the first token has no "
                "context to be predicted from)"
            )
        truncated += tokens.size > seq_len
        items.append({"tokens": tokens[:seq_len], "loss_mask": mask[:seq_len]})
    if truncated:
        _LOG.warning(
            "sft_batches: truncated %d of %d examples to seq_len=%d", truncated, len(items), seq_len
        )
    return items


def _fields(example: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(example, Mapping):
        tokens, mask = example["tokens"], example["loss_mask"]
    else:
        tokens, mask = example.tokens, example.loss_mask
    return np.asarray(tokens, dtype=np.int32), np.asarray(mask, dtype=np.float32)


def bucket_lengths(seq_len: int, buckets: Sequence[int] | None) -> tuple[int, ...]:
    """Allowed padded row lengths, ascending, ending with ``seq_len``."""
    if buckets is None:
        buckets = [16 << k for k in range(32) if 16 << k < seq_len]
    lengths = sorted({int(b) for b in buckets if 0 < int(b) <= seq_len} | {seq_len})
    return tuple(lengths)


def empty_batch(batch_size: int, width: int) -> dict[str, np.ndarray]:
    """An all-padding batch of the four [B, T] arrays."""
    return {
        "tokens": np.zeros((batch_size, width), np.int32),
        "loss_mask": np.zeros((batch_size, width), np.float32),
        "segment_ids": np.zeros((batch_size, width), np.int32),
        "positions": np.zeros((batch_size, width), np.int32),
    }


def _pad_batch(
    batch_size: int, lengths: tuple[int, ...], rows: Sequence[Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    longest = max(row["tokens"].size for row in rows)
    width = next(length for length in lengths if length >= longest)
    batch = empty_batch(batch_size, width)
    for r, row in enumerate(rows):
        n = row["tokens"].size
        batch["tokens"][r, :n] = row["tokens"]
        batch["loss_mask"][r, :n] = row["loss_mask"]
        batch["segment_ids"][r, :n] = 1
        batch["positions"][r, :n] = np.arange(n)
    return batch


def _stack_packed(
    batch_size: int, rows: Sequence[Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    batch = empty_batch(batch_size, rows[0]["tokens"].size)
    names = {
        "tokens": "tokens",
        "loss_mask": "loss_mask",
        "segment_ids": "tokens_segment_ids",
        "positions": "tokens_positions",
    }
    for key, packed_key in names.items():
        batch[key][: len(rows)] = np.stack([row[packed_key] for row in rows])
    return batch
