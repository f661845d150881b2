"""SIGTERM (TPU/GPU preemption) handling: the signal only sets a flag; training loops check
it between steps, save a checkpoint and raise `Preempted` so the process exits cleanly."""

from __future__ import annotations

import signal
import threading

_requested = threading.Event()
_installed = False


class Preempted(Exception):
    """Raised by a loop after it saved a checkpoint in response to SIGTERM."""


def install() -> None:
    """Installs the SIGTERM handler once (main thread only; elsewhere a no-op)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: _requested.set())
    _installed = True


def requested() -> bool:
    """True once SIGTERM arrived on any process of the job (agreed across hosts)."""
    local = _requested.is_set()
    try:
        import jax

        if jax.process_count() > 1:
            import numpy as np
            from jax.experimental import multihost_utils

            flags = multihost_utils.process_allgather(np.asarray([local], np.int32))
            return bool(np.asarray(flags).any())
    except ImportError:
        pass
    return local


def request() -> None:
    """Simulates a preemption (tests)."""
    _requested.set()


def clear() -> None:
    _requested.clear()
