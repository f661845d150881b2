"""The SIGALRM limit: interrupts pure-Python loops, survives `except Exception`, cleans up."""

import signal
import threading
import time

import pytest

from jaxint.verify import timelimit


def spin_swallowing_errors():
    while True:
        try:
            sum(range(1000))
        except Exception:  # what sympy and math-verify do; must not swallow the limit
            pass


def test_interrupts_a_loop_that_swallows_exceptions():
    started = time.monotonic()
    with pytest.raises(timelimit.Expired):
        timelimit.call(spin_swallowing_errors, 0.2)
    assert time.monotonic() - started < 1.0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)


def test_returns_the_result_and_restores_a_callers_timer():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        assert timelimit.call(lambda: 42, 1.0) == 42
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 3.0 < remaining <= 5.0
        assert fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_outside_the_main_thread_runs_unlimited():
    out = {}
    thread = threading.Thread(
        target=lambda: out.update(ok=timelimit.available(), value=timelimit.call(lambda: 7, 0.01))
    )
    thread.start()
    thread.join()
    assert out == {"ok": False, "value": 7}


def test_an_alarm_in_a_finalizer_is_no_unraisable_report():
    """An alarm landing in a __del__ cannot propagate: CPython reports it to
    sys.unraisablehook (a test runner turned that into a failure under load). The limit still
    holds (the timer repeats) and nothing reaches the caller's hook."""
    import gc
    import sys

    reports = []

    class SlowFinalizer:
        def __del__(self):
            end = time.monotonic() + 0.5
            while time.monotonic() < end:  # the first alarm fires in here
                pass

    def work():
        SlowFinalizer()  # finalized at once (refcount 0), inside the limited call
        gc.collect()
        while True:
            pass

    previous = sys.unraisablehook
    sys.unraisablehook = reports.append
    try:
        with pytest.raises(timelimit.Expired):
            timelimit.call(work, 0.05)
    finally:
        sys.unraisablehook = previous
    assert reports == []
    assert sys.unraisablehook is previous
