"""Grades many completions at once: ``score_batch(pairs) -> list[Verdict]``.

The parent does the cheap part of every pair itself (``scoring.prepare``: caps, extraction,
exact matches, pre-screen) and sends only what needs math-verify to a shared ``WorkerPool``
of processes, one job per distinct (answer, gold) pair. The parent never calls math-verify,
so ``score_batch`` is safe from any thread; concurrent calls take turns on the pool.

The pool starts on first need, is reused by later calls, and is closed at interpreter exit
or by ``close()``. Results of finished comparisons are remembered (a small LRU keyed by
answer and gold), because RL rollouts of one problem repeat the same wrong answers.
"""

from __future__ import annotations

import atexit
import collections
import os
import threading
from collections.abc import Sequence

from jaxint.verify import pool, scoring, verdict

DEFAULT_CHUNK_SIZE = 2
MAX_AUTO_WORKERS = 16
_CACHE_SIZE = 8192

_lock = threading.Lock()
_pool: pool.WorkerPool | None = None
_cache: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()


def score_batch(
    pairs: Sequence[tuple[str, str]],
    *,
    timeout_s: float = scoring.DEFAULT_TIMEOUT_S,
    num_workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_completion_chars: int = scoring.DEFAULT_MAX_COMPLETION_CHARS,
    max_answer_chars: int = scoring.DEFAULT_MAX_ANSWER_CHARS,
) -> list[verdict.Verdict]:
    """Grades (completion, gold) pairs in worker processes with a per-pair time limit.

    A pair whose worker overruns ``timeout_s`` (plus a grace period) or dies gets reward 0
    with reason "timeout" or "crash"; the worker is replaced and the batch completes.

    Args:
        pairs: (completion, gold answer) pairs.
        timeout_s: per-pair limit on the math-verify stage, in seconds.
        num_workers: worker processes; None or 0 picks min(usable CPUs, 16).
        chunk_size: pairs in flight per worker.
        max_completion_chars: longer completions get "too_long" unread.
        max_answer_chars: longer box contents get "too_long".

    Returns:
        One ``Verdict`` per pair, in input order.

    Raises:
        TypeError: a completion or gold answer is not a string.
        ValueError: a gold answer is empty, or a limit is invalid.
    """
    scoring.check_limits(timeout_s, max_completion_chars, max_answer_chars)
    workers = resolve_workers(num_workers)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    prepared = [
        _prepare(i, completion, gold, max_completion_chars, max_answer_chars)
        for i, (completion, gold) in enumerate(pairs)
    ]
    pending = {(p.answer, p.gold) for p in prepared if isinstance(p, scoring.Pending)}
    # Sorted by gold: consecutive jobs of one problem land on one worker, which has its
    # gold answer parsed already (``equivalence`` caches gold parses).
    keys = sorted(pending, key=lambda key: (key[1], key[0]))
    reasons = _judge(keys, timeout_s, workers, chunk_size) if keys else {}
    return [
        verdict.make(reasons[(p.answer, p.gold)], p.answer) if isinstance(p, scoring.Pending) else p
        for p in prepared
    ]


def close() -> None:
    """Stops the shared worker pool (it restarts on the next ``score_batch``)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


def clear_cache() -> None:
    """Forgets remembered comparisons (for benchmarks that must not hit them)."""
    with _lock:
        _cache.clear()


def pool_stats() -> dict[str, int]:
    """Counters of the shared pool: workers started, jobs that timed out or crashed."""
    with _lock:
        return dict(_pool.stats) if _pool is not None else {}


def _prepare(
    index: int, completion: str, gold: str, max_completion_chars: int, max_answer_chars: int
) -> verdict.Verdict | scoring.Pending:
    try:
        return scoring.prepare(
            completion,
            gold,
            max_completion_chars=max_completion_chars,
            max_answer_chars=max_answer_chars,
        )
    except (TypeError, ValueError) as err:
        raise type(err)(f"pairs[{index}]: {err}") from None


def _judge(
    keys: list[tuple[str, str]], timeout_s: float, workers: int, chunk_size: int
) -> dict[tuple[str, str], str]:
    global _pool
    with _lock:
        reasons = {key: _cache[key] for key in keys if key in _cache}
        todo = [key for key in keys if key not in reasons]
        if todo:
            if _pool is None or _pool.num_workers != workers:
                if _pool is not None:
                    _pool.close()
                _pool = pool.WorkerPool(workers)
            done = _pool.run(todo, timeout_s=timeout_s, chunk_size=chunk_size)
            reasons.update(zip(todo, done, strict=True))
            _remember(todo, done)
        for key in keys:
            if key in _cache:
                _cache.move_to_end(key)
    return reasons


def _remember(keys: list[tuple[str, str]], reasons: list[str]) -> None:
    for key, reason in zip(keys, reasons, strict=True):
        if reason in (verdict.CORRECT, verdict.WRONG):  # a timeout may pass on a calmer try
            _cache[key] = reason
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)


def resolve_workers(num_workers: int | None) -> int:
    """The number of workers ``score_batch`` uses for ``num_workers`` (None/0: automatic)."""
    if num_workers is None or num_workers == 0:
        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            usable = os.cpu_count() or 1
        return max(1, min(usable, MAX_AUTO_WORKERS))
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be None or an int >= 0, got {num_workers!r}")
    return num_workers


atexit.register(close)
