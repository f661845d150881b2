"""SFT batches of a fixed number of whole examples per optimizer step (`sft.batching`).

The InT authors trained with LLaMA-Factory: 64 *examples* per optimizer step, every example
once per epoch, so an epoch of N examples is ceil(N / 64) steps. Packing 16K-token rows
(`pack_rows`, batch_size = rows) takes several examples per row and so makes several times
fewer optimizer steps at the same `batch_size`; these modes keep the authors' step count:

* ``examples``: one example per row, ``batch_size`` rows, padded to the smallest bucket
  length (powers of two up to ``seq_len``) that fits the step's longest example;
* ``pack``: the step's ``batch_size`` examples packed first-fit into rows of ``seq_len``
  tokens (segment ids keep them apart), the row count rounded up to a power of two (times
  the accumulation count) so that few shapes are compiled.

Step k's examples are a pure function of (k, seed): epoch e = k // steps_per_epoch takes a
permutation seeded by (seed, e) and cuts it into consecutive groups of ``batch_size`` (the
last group shorter). So resuming needs only the step number, and every process computes
the same plan; process p of P fills its ``batch_size / P`` rows from its slice of the group.
Shapes are taken over the whole group, so all processes agree on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxint.data import pipelines

MODES = ("examples", "pack")


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """ceil(N / batch_size): the last, shorter group is a step too (as in LLaMA-Factory)."""
    return max(1, -(-num_examples // batch_size))


def epoch_order(num_examples: int, seed: int, epoch: int, shuffle: bool = True) -> list[int]:
    """Example indices in the order epoch `epoch` visits them."""
    if not shuffle:
        return list(range(num_examples))
    return [int(i) for i in np.random.default_rng([seed, epoch]).permutation(num_examples)]


def step_examples(num_examples: int, batch_size: int, step: int, *, seed: int,
                  shuffle: bool = True) -> list[int]:
    """The example indices of optimizer step `step` (0-based), over all processes."""
    per_epoch = steps_per_epoch(num_examples, batch_size)
    epoch, k = divmod(step, per_epoch)
    return epoch_order(num_examples, seed, epoch, shuffle)[k * batch_size:(k + 1) * batch_size]


def first_fit(lengths: Sequence[int], seq_len: int) -> list[list[int]]:
    """Positions of `lengths` packed into rows of `seq_len`: each goes into the first row
    with room, in the given order (every length must be <= seq_len)."""
    rows: list[list[int]] = []
    free: list[int] = []
    for i, n in enumerate(lengths):
        row = next((r for r, room in enumerate(free) if room >= n), None)
        if row is None:
            rows.append([])
            free.append(seq_len)
            row = len(rows) - 1
        rows[row].append(i)
        free[row] -= n
    return rows


def packed_row_count(needed: int, accumulation: int, cap: int) -> int:
    """Rows of a packed step: `needed` rounded up to accumulation x a power of two, at most
    `cap` (the local batch size, itself a multiple of the accumulation count)."""
    per_micro = -(-max(needed, 1) // accumulation)
    power = 1 << (per_micro - 1).bit_length()
    return min(accumulation * power, cap)


@dataclasses.dataclass
class ExampleBatches:
    """An endless, resumable iterator of this process's SFT batches (dicts of [B, T] arrays,
    as `pipelines.sft_batches` yields); its state is the next step number.

    Attributes:
        items: Prepared examples (`pipelines.prepare`: truncated to seq_len, checked).
        batch_size: Examples per optimizer step over all processes.
        seq_len: Longest row.
        mode: ``examples`` or ``pack``.
        seed: Shuffle seed.
        accumulation: Gradient-accumulation micro-steps (packed row counts divide by it).
        process_index, process_count: This process and how many share the step.
    """

    items: list[dict[str, np.ndarray]]
    batch_size: int
    seq_len: int
    mode: str
    seed: int
    accumulation: int = 1
    process_index: int = 0
    process_count: int = 1
    shuffle: bool = True
    step: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.batch_size % self.process_count:
            raise ValueError(f"sft.batch_size ({self.batch_size}) must divide over "
                             f"{self.process_count} processes")

    @property
    def local_batch(self) -> int:
        return self.batch_size // self.process_count

    def __iter__(self) -> ExampleBatches:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        batch = self.batch(self.step)
        self.step += 1
        return batch

    def get_state(self) -> dict[str, int]:
        return {"step": self.step}

    def set_state(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])

    def rows(self, step: int) -> tuple[list[list[list[int]]], int]:
        """Per process, its rows as lists of example indices; and the row width."""
        group = step_examples(len(self.items), self.batch_size, step, seed=self.seed,
                              shuffle=self.shuffle)
        share = [group[p * self.local_batch:(p + 1) * self.local_batch]
                 for p in range(self.process_count)]
        lengths = {i: self.items[i]["tokens"].size for i in group}
        if self.mode == "examples":
            width = next(b for b in pipelines.bucket_lengths(self.seq_len, None)
                         if b >= max(lengths.values()))
            return [[[i] for i in part] for part in share], width
        packed = [[[part[j] for j in row] for row in first_fit([lengths[i] for i in part],
                                                                self.seq_len)]
                  for part in share]
        return packed, self.seq_len

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's batch of step `step`: [R, T] arrays (padding rows all zero)."""
        rows, width = self.rows(step)
        if self.mode == "examples":
            count = self.local_batch
        else:
            count = packed_row_count(max(len(r) for r in rows), self.accumulation,
                                     self.local_batch)
        return fill_rows(self.items, rows[self.process_index], count, width)


def fill_rows(items: Sequence[dict[str, np.ndarray]], rows: Sequence[Sequence[int]],
              count: int, width: int) -> dict[str, np.ndarray]:
    """`count` rows of `width` tokens; row r holds examples `rows[r]` one after another,
    segment ids 1, 2, ... (0 = padding) and positions restarting at 0 for each."""
    batch = pipelines.empty_batch(count, width)
    for r, row in enumerate(rows):
        start = 0
        for segment, i in enumerate(row, 1):
            n = items[i]["tokens"].size
            batch["tokens"][r, start:start + n] = items[i]["tokens"]
            batch["loss_mask"][r, start:start + n] = items[i]["loss_mask"]
            batch["segment_ids"][r, start:start + n] = segment
            batch["positions"][r, start:start + n] = np.arange(n)
            start += n
    return batch
