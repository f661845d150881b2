"""A wall-clock limit for pure-Python work in the main thread, via SIGALRM.

math-verify's own timeouts call ``signal.alarm(n)`` and then ``signal.alarm(0)`` around every
``parse``/``verify``: with integer seconds only, and cancelling any timer already running.
So jaxint calls math-verify with its timeouts off (``None``) and sets one timer of its own
around the whole comparison instead. The timer repeats every ``_REPEAT_S`` after it first
fires, and raises an exception that is not an ``Exception``, so library code that swallows
errors (``except Exception: pass``, as math-verify and sympy do) cannot swallow the timeout.

Signals are delivered only to the main thread, and only between bytecodes: a long call into
C (a huge integer power) is not interrupted. Elsewhere the limit is off (``available()`` is
False); the pre-screen bounds the work, and ``score_batch`` enforces a hard limit by killing
worker processes.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_REPEAT_S = 0.05


class Expired(BaseException):
    """Raised inside the limited call when its time is up."""


def available() -> bool:
    """Whether a limit can be enforced here (main thread of a POSIX interpreter)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def call(fn: Callable[[], T], seconds: float) -> T:
    """Runs ``fn()`` and raises ``Expired`` if it is still running after ``seconds``.

    Without ``available()``, runs ``fn()`` unlimited. A timer the caller had set is restored
    afterwards with its remaining time.

    Raises:
        Expired: the limit was reached.
    """
    if not available():
        return fn()
    state = {"armed": True}

    def on_alarm(signum: int, frame: object) -> None:
        if state["armed"]:
            raise Expired()

    old_handler = signal.getsignal(signal.SIGALRM)
    old_timer = signal.getitimer(signal.ITIMER_REAL)
    old_hook = sys.unraisablehook
    started = time.monotonic()

    def quiet_hook(unraisable: object) -> None:
        # An alarm that lands in a finalizer (a sympy object's __del__, a GC callback) cannot
        # propagate and becomes an "unraisable" report; the repeating timer raises again in
        # the limited call itself, so that report is noise (and a test runner's hook, itself
        # interrupted by the next alarm, turned it into a failure).
        if not isinstance(getattr(unraisable, "exc_value", None), Expired):
            old_hook(unraisable)

    try:  # arm inside the try, so that an early alarm still reaches the clean-up
        sys.unraisablehook = quiet_hook
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3), _REPEAT_S)
        return fn()
    finally:
        # The first statement, a plain store: CPython runs signal handlers only at calls and
        # backward jumps, so no handler runs before it, and any alarm after it is harmless.
        state["armed"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler if old_handler is not None else signal.SIG_DFL)
        sys.unraisablehook = old_hook
        _restore(old_timer, time.monotonic() - started)


def _restore(old_timer: tuple[float, float], elapsed: float) -> None:
    delay, interval = old_timer
    if delay > 0:
        signal.setitimer(signal.ITIMER_REAL, max(delay - elapsed, 1e-3), interval)
