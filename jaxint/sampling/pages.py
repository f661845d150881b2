"""The host side of the paged KV cache: a reference-counted page allocator and page tables.

The device pool (`jaxint.models.paged_cache`) is split into one block of pages per slot shard
(slots and pages are both split over data/fsdp); a slot only ever holds pages of its own
shard, with ids local to that block, so each shard's attention needs no other device. Hence
one free list per shard here.

Pages are reference-counted because the samples of a forked prompt share its full prompt
pages (nobody writes there: every sample writes at positions >= the prompt length); a page
returns to its free list when its last holder lets go. The engine holds one extra reference
per shard for a prompt whose samples are still being started, so the shared pages outlive a
gap between its samples.
"""

from __future__ import annotations

import math

import numpy as np


def pages_for(tokens: int, page_size: int) -> int:
    return math.ceil(tokens / page_size)


class PagePool:
    """Free lists and reference counts of `shards` blocks of `per_shard` pages.

    Page ids are local to their shard: 0..per_shard-1; `per_shard` itself is the sentinel
    (no page) a page table holds for unused entries.
    """

    def __init__(self, shards: int, per_shard: int):
        self.shards = shards
        self.per_shard = per_shard
        self.refs = np.zeros((shards, per_shard), np.int32)
        # Lowest ids first (a stack popped from the end): the pool's order is deterministic.
        self._free = [list(range(per_shard - 1, -1, -1)) for _ in range(shards)]
        self.peak_in_use = 0
        self.max_refs = 0

    @property
    def sentinel(self) -> int:
        return self.per_shard

    def free_pages(self, shard: int) -> int:
        return len(self._free[shard])

    def in_use(self) -> int:
        return int((self.refs > 0).sum())

    def alloc(self, shard: int, count: int) -> list[int] | None:
        """`count` fresh pages (one reference each), or None (nothing taken) if short."""
        free = self._free[shard]
        if count > len(free):
            return None
        out = [free.pop() for _ in range(count)]
        self.refs[shard, out] = 1
        self.peak_in_use = max(self.peak_in_use, self.in_use())
        self.max_refs = max(self.max_refs, 1)
        return out

    def share(self, shard: int, pages: list[int]) -> None:
        """One more reference to each of `pages` (a forked sample reading a prompt's pages)."""
        if pages:
            if (self.refs[shard, pages] < 1).any():
                raise RuntimeError(f"shard {shard}: sharing a free page of {pages}")
            self.refs[shard, pages] += 1
            self.max_refs = max(self.max_refs, int(self.refs[shard, pages].max()))

    def release(self, shard: int, pages: list[int]) -> None:
        """Drops one reference to each of `pages`; a page with none left is free again."""
        for p in pages:
            if self.refs[shard, p] < 1:
                raise RuntimeError(f"shard {shard}: page {p} released more often than held")
            self.refs[shard, p] -= 1
            if self.refs[shard, p] == 0:
                self._free[shard].append(p)


class SlotPages:
    """Each slot's pages, in position order (shared prompt pages first), and the page table
    the device reads ([slots, width], sentinel where a slot holds no page)."""

    def __init__(self, pool: PagePool, slots: int, width: int, page_size: int):
        self.pool = pool
        self.page_size = page_size
        self.shard_slots = slots // pool.shards
        self.held: list[list[int]] = [[] for _ in range(slots)]
        self.table = np.full((slots, width), pool.sentinel, np.int32)

    def shard(self, slot: int) -> int:
        return slot // self.shard_slots

    def assign(self, slot: int, shared: list[int], own: list[int]) -> None:
        """Gives an empty slot `shared` pages (already referenced for it) and `own` pages."""
        assert not self.held[slot], f"slot {slot} still holds pages"
        self.held[slot] = shared + own
        self.table[slot, : len(self.held[slot])] = self.held[slot]

    def grow(self, slot: int, tokens: int) -> bool:
        """Makes the slot hold pages for `tokens` positions; False (nothing taken) if short."""
        need = pages_for(tokens, self.page_size) - len(self.held[slot])
        if need <= 0:
            return True
        got = self.pool.alloc(self.shard(slot), need)
        if got is None:
            return False
        start = len(self.held[slot])
        self.held[slot] += got
        self.table[slot, start : start + len(got)] = got
        return True

    def clear(self, slot: int) -> None:
        """Returns the slot's pages (a finished or preempted sample)."""
        self.pool.release(self.shard(slot), self.held[slot])
        self.held[slot] = []
        self.table[slot] = self.pool.sentinel
