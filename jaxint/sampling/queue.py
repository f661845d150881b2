"""The engine's queue of samples waiting for a slot, grouped for shared-prefix forking.

A *class* is the set of samples that can share one prefill: all samples of prompts with the
same tokens and the same budget (with forking), or a single sample (without). The queue
keeps each class contiguous, in order of first appearance, so at most one class is ever
partly started: the one at the head. The engine keeps that class's prefilled KV (a
`steps.Prefix`) until its last sample has a slot, and so prefills every class exactly once.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Start:
    """One sample given a slot."""

    prompt: int
    sample: int
    slot: int


class SampleQueue:
    """Samples (prompt, sample index) waiting for a slot.

    Args:
        prompts: the token ids of each prompt.
        budgets: each prompt's max_new_tokens.
        n: samples per prompt.
        fork: group identical (prompt tokens, budget) pairs into one class; else every
            sample is its own class.
    """

    def __init__(self, prompts: Sequence[np.ndarray], budgets: np.ndarray, n: int, fork: bool):
        first: dict[tuple[bytes, int], int] = {}
        self.prompt_class = [
            first.setdefault((p.tobytes(), int(b)), i) if fork else i
            for i, (p, b) in enumerate(zip(prompts, budgets, strict=True))
        ]
        members: dict[int, list[int]] = collections.defaultdict(list)
        for p, c in enumerate(self.prompt_class):
            members[c].append(p)
        self.fork = fork
        self.n = n
        self._alone: set[tuple[int, int]] = set()  # preempted samples resuming their own prefix
        self._queue = collections.deque(
            (p, j) for c in members for p in members[c] for j in range(n))

    def __len__(self) -> int:
        return len(self._queue)

    def class_of(self, prompt: int, sample: int) -> int:
        """Class id: the first prompt of the class (times n plus the sample without fork); a
        negative id of its own for a sample resuming after preemption (its prefix is its
        prompt plus its own tokens: nothing to share)."""
        if (prompt, sample) in self._alone:
            return -1 - (prompt * self.n + sample)
        c = self.prompt_class[prompt]
        return c if self.fork else c * self.n + sample

    def head_class(self) -> int | None:
        return self.class_of(*self._queue[0]) if self._queue else None

    def take_class(self, cls: int, free: list[int]) -> list[Start]:
        """Gives free slots (consumed from `free`) to the head samples of class `cls`."""
        out = []
        while free and self._queue and self.class_of(*self._queue[0]) == cls:
            p, j = self._queue.popleft()
            out.append(Start(p, j, free.pop(0)))
        return out

    def take_rows(self, free: list[int], width: int) -> list[list[Start]]:
        """Gives free slots to queued samples, one prefill row per class with at most
        `width` samples. Stops at a class's `width + 1`-th sample, which (being the head
        class, held after the prefill) is forked into later slots instead."""
        rows: dict[int, list[Start]] = {}
        while free and self._queue:
            p, j = self._queue[0]
            row = rows.setdefault(self.class_of(p, j), [])
            if len(row) == width:
                break
            self._queue.popleft()
            row.append(Start(p, j, free.pop(0)))
        return list(rows.values())

    def put_back(self, starts: Sequence[Start]) -> None:
        """Returns samples just taken (in the order taken) to the head of the queue: the
        engine takes them back when the page pool cannot hold them yet."""
        for st in reversed(starts):
            self._queue.appendleft((st.prompt, st.sample))

    def requeue(self, prompt: int, sample: int, *, alone: bool = False) -> None:
        """A preempted sample goes first (it has waited longest). `alone`: it resumes from
        the tokens it has, so it is a class of its own from now on; else it restarts from
        scratch in its prompt's class. Either way its class becomes the head: a prompt held
        for forking is dropped and its later samples prefill it again (only ever under
        preemption)."""
        if alone:
            self._alone.add((prompt, sample))
        self._queue.appendleft((prompt, sample))
