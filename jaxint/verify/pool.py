"""A pool of verification worker processes whose per-job time limit the parent enforces.

Why not ``multiprocessing.Pool``: it cannot kill one hung task and go on. Here each worker
has its own pipe; the parent (one thread, no helper threads) sends jobs, waits on all pipes
and process sentinels at once, and kills a worker whose current job overruns
``1.1 * timeout_s + GRACE_S`` or replaces one that died. The job it was on gets "timeout"
or "crash"; jobs queued behind it go to other workers; every job gets exactly one result.

Workers are started with the "spawn" method: the parent may have JAX (and its threads)
initialised, and forking a threaded process is unsafe. Spawned children re-import the
parent's ``__main__`` module, so entry points need the usual ``if __name__ == "__main__"``
guard, and a ``__main__`` that imports heavy libraries at top level slows worker start-up.
Workers live until ``close()`` (or interpreter exit) and are reused across ``run`` calls.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import os
import time
from collections.abc import Sequence
from multiprocessing import connection
from multiprocessing.process import BaseProcess

from jaxint.verify import verdict, worker

GRACE_S = 1.0  # parent-side slack over the worker's own limit, plus 10% of the limit
_START_TIMEOUT_S = 120.0
_MAX_START_FAILURES = 3
_TICK_S = 0.25  # longest wait between deadline checks
_PIPE_BUDGET = 16_384  # characters queued to a busy worker; Linux pipes buffer 64 KiB


@dataclasses.dataclass(eq=False)
class _Slot:
    process: BaseProcess
    conn: connection.Connection
    started: float
    ready: bool = False
    dead: bool = False
    inflight: collections.deque = dataclasses.field(default_factory=collections.deque)
    deadline: float | None = None


@dataclasses.dataclass(eq=False)
class _Batch:
    jobs: Sequence[tuple[str, str]]
    timeout_s: float
    epoch: int
    queue: collections.deque = dataclasses.field(default_factory=collections.deque)
    results: list = dataclasses.field(default_factory=list)
    remaining: int = 0

    def __post_init__(self) -> None:
        self.queue.extend(range(len(self.jobs)))
        self.results = [None] * len(self.jobs)
        self.remaining = len(self.jobs)

    @property
    def limit_s(self) -> float:
        """The parent's limit per job, above the worker's own so that the worker (which
        survives its own timeout) usually stops the job first."""
        return self.timeout_s * 1.1 + GRACE_S

    def finish(self, job: int, reason: str) -> None:
        """Records the first result of a job (later ones, if any, are ignored)."""
        if self.results[job] is None:
            self.results[job] = reason
            self.remaining -= 1


class WorkerPool:
    """Worker processes that run ``scoring.judge`` on (answer, gold) pairs.

    Args:
        num_workers: how many processes (at least 1).
        fault_injection: let jobs whose gold is ``worker.CRASH_MARK`` / ``worker.HANG_MARK``
            kill or hang their worker (tests only).
        start_timeout_s: how long a new worker may take to import math-verify.
    """

    def __init__(
        self,
        num_workers: int,
        *,
        fault_injection: bool = False,
        start_timeout_s: float = _START_TIMEOUT_S,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be an int >= 1, got {num_workers!r}")
        self.num_workers = num_workers
        self.stats: collections.Counter[str] = collections.Counter()
        self._fault_injection = fault_injection
        self._start_timeout_s = start_timeout_s
        self._ctx = multiprocessing.get_context("spawn")
        self._owner = os.getpid()
        self._slots: list[_Slot] = []
        self._start_failures = 0
        self._epoch = 0

    def run(
        self, jobs: Sequence[tuple[str, str]], *, timeout_s: float, chunk_size: int = 2
    ) -> list[str]:
        """Judges each (answer, gold) job; returns one reason per job, in input order.

        Args:
            jobs: pairs for ``equivalence.symbolic``.
            timeout_s: per-job limit; the worker stops at it, the parent kills at
                ``1.1 * timeout_s + GRACE_S``.
            chunk_size: jobs in flight per worker (hides pipe latency).

        Raises:
            RuntimeError: workers repeatedly fail to start.
        """
        if os.getpid() != self._owner:  # a forked copy: the workers belong to the parent
            self._slots, self._owner = [], os.getpid()
        self._epoch += 1
        batch = _Batch(jobs=jobs, timeout_s=timeout_s, epoch=self._epoch)
        try:
            while batch.remaining:
                self._fill()
                self._dispatch(batch, chunk_size)
                self._wait()
                self._reap(batch)
        except BaseException:
            self.close()  # workers may hold this batch's jobs; never mix them into the next
            raise
        return batch.results

    def close(self) -> None:
        """Stops all workers (politely, then by force). The pool restarts them on next use."""
        if os.getpid() != self._owner:
            return
        for slot in self._slots:
            try:
                slot.conn.send(None)
            except (OSError, ValueError):
                pass
        for slot in self._slots:
            self._stop(slot, polite=slot.ready)  # one still importing would not see None soon
        self._slots = []

    def _fill(self) -> None:
        while len(self._slots) < self.num_workers:
            ours, theirs = self._ctx.Pipe(duplex=True)
            process = self._ctx.Process(
                target=worker.main,
                args=(theirs, self._fault_injection),
                name="jaxint-verify-worker",
                daemon=True,
            )
            process.start()
            theirs.close()  # so that our end sees EOF when the worker dies
            self._slots.append(_Slot(process=process, conn=ours, started=time.monotonic()))
            self.stats["started"] += 1

    def _dispatch(self, batch: _Batch, chunk_size: int) -> None:
        now = time.monotonic()
        for slot in self._slots:
            ids = self._take(batch, slot, chunk_size) if slot.ready and not slot.dead else []
            if not ids:
                continue
            message = [((batch.epoch, i), *batch.jobs[i], batch.timeout_s) for i in ids]
            try:
                slot.conn.send(message)
            except (OSError, ValueError):
                batch.queue.extendleft(reversed(ids))
                slot.dead = True
                continue
            if not slot.inflight:
                slot.deadline = now + batch.limit_s
            slot.inflight.extend(ids)

    @staticmethod
    def _take(batch: _Batch, slot: _Slot, chunk_size: int) -> list[int]:
        """Jobs to send to a worker now. An idle worker is blocked reading its pipe and takes
        any size; a busy one is not reading, so what waits in the pipe stays well under the
        pipe's buffer (a full pipe would block the parent, and with it every deadline)."""
        ids: list[int] = []
        budget = _PIPE_BUDGET
        while batch.queue and len(slot.inflight) + len(ids) < chunk_size:
            size = sum(map(len, batch.jobs[batch.queue[0]]))
            if (slot.inflight or ids) and size > budget:
                break
            budget -= size
            ids.append(batch.queue.popleft())
        return ids

    def _wait(self) -> None:
        now = time.monotonic()
        timeout = _TICK_S
        for slot in self._slots:
            if slot.deadline is not None:
                timeout = min(timeout, max(0.0, slot.deadline - now))
        waitables = [s.conn for s in self._slots if not s.dead]
        waitables += [s.process.sentinel for s in self._slots]
        connection.wait(waitables, timeout=timeout)

    def _drain(self, slot: _Slot, batch: _Batch) -> None:
        """Reads every message waiting on a worker's pipe."""
        if slot.dead:
            return
        try:
            while slot.conn.poll():
                message = slot.conn.recv()
                if message[0] == "ready":
                    slot.ready = True
                    self._start_failures = 0
                    continue
                (epoch, job), reason = message
                if epoch != batch.epoch or not slot.inflight or slot.inflight[0] != job:
                    continue  # cannot happen with one batch at a time; never trust it blindly
                slot.inflight.popleft()
                batch.finish(job, reason)
                slot.deadline = time.monotonic() + batch.limit_s if slot.inflight else None
        except (EOFError, OSError):
            slot.dead = True

    def _reap(self, batch: _Batch) -> None:
        for slot in list(self._slots):
            self._drain(slot, batch)  # a result may have arrived just before a death/deadline
            now = time.monotonic()
            if slot.dead or slot.process.exitcode is not None:
                self._retire(slot, batch, verdict.CRASH)
            elif slot.ready and slot.deadline is not None and now > slot.deadline:
                self._retire(slot, batch, verdict.TIMEOUT)
            elif not slot.ready and now - slot.started > self._start_timeout_s:
                self._retire(slot, batch, None)

    def _retire(self, slot: _Slot, batch: _Batch, blame: str | None) -> None:
        """Kills a worker; its current job gets ``blame``, the rest are queued again."""
        self._stop(slot, polite=False)
        self._slots.remove(slot)
        if slot.inflight:
            head = slot.inflight.popleft()
            if blame is None:
                slot.inflight.appendleft(head)
            else:
                batch.finish(head, blame)
                self.stats[blame] += 1
            batch.queue.extendleft(reversed(slot.inflight))
        if not slot.ready:
            self._start_failures += 1
            if self._start_failures > _MAX_START_FAILURES:
                raise RuntimeError(
                    f"verification workers failed to start {self._start_failures} times in a"
                    f" row (last exit code {slot.process.exitcode}); see their stderr above"
                )

    @staticmethod
    def _stop(slot: _Slot, *, polite: bool) -> None:
        if polite:
            slot.process.join(timeout=2.0)
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(timeout=5.0)
        slot.conn.close()
        slot.dead = True
