"""The loop a verification worker process runs (entry point of ``pool`` workers).

A worker imports math-verify once, says it is ready, then answers jobs until its pipe closes
or it receives None. Each job runs in the worker's main thread under a SIGALRM limit
(``timelimit``), so a slow comparison usually ends as "timeout" without losing the process;
the parent kills workers that overrun anyway (a long call into C cannot be interrupted).

Protocol (all plain tuples, pickled by ``multiprocessing.connection``):
    worker -> parent: ``("ready", pid)`` once, then ``(job_id, reason)`` per job, in order.
    parent -> worker: a list of ``(job_id, answer, gold, timeout_s)``, or None to stop.
"""

from __future__ import annotations

import os
import signal
import time
import warnings
from multiprocessing import connection

from jaxint.verify import equivalence, scoring

# Test-only fault injection (enabled per pool): a job whose gold is one of these kills or
# hangs its worker, so tests can check that the parent recovers.
CRASH_MARK = "__jaxint_verify_fault_crash__"
HANG_MARK = "__jaxint_verify_fault_hang__"


def main(conn: connection.Connection, fault_injection: bool) -> None:
    """Serves jobs from ``conn`` until it closes or sends None.

    Args:
        conn: this worker's end of a duplex pipe to the parent.
        fault_injection: honour ``CRASH_MARK``/``HANG_MARK`` (tests only).
    """
    # Ctrl-C goes to the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore")  # sympy deprecation noise would flood the parent's stderr
    equivalence.load()  # import and first comparison, before saying ready
    try:
        conn.send(("ready", os.getpid()))
        while True:
            jobs = conn.recv()
            if jobs is None:
                return
            for job_id, answer, gold, timeout_s in jobs:
                if fault_injection:
                    _inject(gold)
                pending = scoring.Pending(answer=answer, gold=gold)
                conn.send((job_id, scoring.judge(pending, timeout_s)))
    except (EOFError, OSError):
        return  # the parent went away


def _inject(gold: str) -> None:
    if gold == CRASH_MARK:
        os._exit(3)
    if gold == HANG_MARK:
        # Block SIGALRM so the in-worker limit cannot end this: like a hang inside C code.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        while True:
            time.sleep(3600)
