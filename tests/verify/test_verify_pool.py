"""Worker pool: crashes and hangs cost one item, results stay in order, no math-verify in
the parent's threads, and the shared pool is reusable."""

import sys
import threading
import time

import pytest

import jaxint.verify
from jaxint.verify import batch, pool, worker

TIMEOUT_S = 2.0


def boxed(answer: str) -> str:
    return f"Work.\n\n\\boxed{{{answer}}}"


@pytest.fixture(scope="module")
def faulty_pool():
    p = pool.WorkerPool(2, fault_injection=True)
    p.run([("1", "1")], timeout_s=TIMEOUT_S)  # start-up is not what the tests time
    yield p
    p.close()


def test_pool_survives_crashing_and_hanging_items(faulty_pool):
    jobs = [
        ("\\frac{1}{2}", "0.5"),
        ("1", worker.CRASH_MARK),
        ("2\\sqrt{3}", "\\sqrt{12}"),
        ("1", worker.HANG_MARK),
        ("[1,2]", "(1,2]"),
    ] + [(f"\\frac{{{i}}}{{1}}", str(i)) for i in range(6)]
    expected = ["correct", "crash", "correct", "timeout", "wrong"] + ["correct"] * 6
    started = time.monotonic()
    assert faulty_pool.run(jobs, timeout_s=TIMEOUT_S) == expected
    elapsed = time.monotonic() - started
    # The parent killed the hung worker at its limit (the worker could not stop itself)...
    assert faulty_pool.stats["timeout"] == 1 and faulty_pool.stats["crash"] == 1
    # ...and the batch did not wait much beyond that limit plus replacement start-ups.
    assert elapsed >= 1.1 * TIMEOUT_S + pool.GRACE_S
    assert elapsed < 60.0
    # The same pool goes on working after losing workers.
    follow_up = [("0.25", "\\frac14"), ("3", "4"), ("1", worker.CRASH_MARK)]
    assert faulty_pool.run(follow_up, timeout_s=TIMEOUT_S) == ["correct", "wrong", "crash"]


def test_worker_limit_ends_slow_comparison_without_losing_the_worker(faulty_pool):
    kills_before = faulty_pool.stats["timeout"]
    reasons = faulty_pool.run([("(x+1)^{1000}", "2"), ("7", "7")], timeout_s=TIMEOUT_S)
    assert reasons == ["timeout", "correct"]
    assert faulty_pool.stats["timeout"] == kills_before  # the in-worker alarm fired in time


def test_busy_worker_is_never_sent_more_than_its_pipe_holds():
    big = ("1", "2" * 100_000)  # a full pipe would block the parent, deadlines and all
    jobs = [("1", "1"), big, big]
    idle = pool._Slot(process=None, conn=None, started=0.0, ready=True)
    busy = pool._Slot(process=None, conn=None, started=0.0, ready=True)
    busy.inflight.append(99)
    assert pool.WorkerPool._take(pool._Batch(jobs[1:], 1.0, 1), idle, 2) == [0]
    assert pool.WorkerPool._take(pool._Batch(jobs[1:], 1.0, 1), busy, 2) == []
    assert pool.WorkerPool._take(pool._Batch(jobs, 1.0, 1), idle, 2) == [0]
    assert pool.WorkerPool._take(pool._Batch(jobs[:1] * 3, 1.0, 1), idle, 2) == [0, 1]


def test_results_follow_input_order_with_duplicates_and_parent_decisions():
    pairs = [
        (boxed("0.5"), "\\frac{1}{2}"),  # worker
        ("no box at all", "3"),  # parent
        (boxed("025"), "25"),  # parent
        (boxed("0.5"), "\\frac{1}{2}"),  # duplicate of the first
        (boxed("\\sqrt{13}"), "2\\sqrt{3}"),  # worker
        (boxed("9^{9^{9^{9}}}"), "1"),  # parent, pathological
        (boxed("0.5"), "\\frac{1}{3}"),  # worker
    ]
    results = jaxint.verify.score_batch(pairs, timeout_s=TIMEOUT_S, num_workers=2)
    assert [r.reason for r in results] == [
        "correct",
        "no_box",
        "correct",
        "correct",
        "wrong",
        "pathological",
        "wrong",
    ]
    assert [r.extracted for r in results] == [
        "0.5",
        None,
        "025",
        "0.5",
        "\\sqrt{13}",
        "9^{9^{9^{9}}}",
        "0.5",
    ]
    assert [r.reward for r in results] == [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_score_batch_from_a_thread_never_runs_math_verify_in_the_parent(monkeypatch):
    math_verify = pytest.importorskip("math_verify")
    calls = []

    def forbidden(*args, **kwargs):
        calls.append(threading.current_thread().name)
        raise AssertionError("math-verify called in the parent")

    monkeypatch.setattr(math_verify, "parse", forbidden)
    monkeypatch.setattr(math_verify, "verify", forbidden)
    pairs = [(boxed("\\frac{3}{4}"), "0.75"), (boxed("(1,2]"), "[1,2]")]
    out = {}
    batch.clear_cache()
    thread = threading.Thread(
        target=lambda: out.update(r=jaxint.verify.score_batch(pairs, num_workers=2))
    )
    thread.start()
    thread.join(60)
    assert [v.reason for v in out["r"]] == ["correct", "wrong"]
    assert calls == []


def test_score_from_a_thread_uses_no_signals():
    out = {}

    def run():
        try:
            out["r"] = jaxint.verify.score(boxed("\\frac{1}{2}"), "0.5", timeout_s=TIMEOUT_S)
        except BaseException as err:  # noqa: BLE001 - reported below
            out["err"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert "err" not in out, out.get("err")
    assert out["r"].reason == "correct"


def test_shared_pool_restarts_after_close():
    jaxint.verify.close()
    jaxint.verify.close()  # closing twice is harmless
    batch.clear_cache()
    result = jaxint.verify.score_batch([(boxed("1/2"), "0.5")], num_workers=2)
    assert result[0].reason == "correct"
    assert batch.pool_stats()["started"] == 2


def test_empty_batch_starts_nothing():
    assert jaxint.verify.score_batch([]) == []


@pytest.mark.parametrize(
    ("pairs", "kwargs", "error", "match"),
    [
        ([("\\boxed{1}", "")], {}, ValueError, r"pairs\[0\].*empty"),
        ([("\\boxed{1}", "1"), (3, "1")], {}, TypeError, r"pairs\[1\]"),
        ([("\\boxed{1}", "1")], {"timeout_s": 0}, ValueError, "timeout_s"),
        ([("\\boxed{1}", "1")], {"num_workers": -1}, ValueError, "num_workers"),
        ([("\\boxed{1}", "1")], {"chunk_size": 0}, ValueError, "chunk_size"),
        ([("\\boxed{1}", "1")], {"max_answer_chars": 0}, ValueError, "max_answer_chars"),
    ],
)
def test_bad_arguments_name_what_is_wrong(pairs, kwargs, error, match):
    with pytest.raises(error, match=match):
        jaxint.verify.score_batch(pairs, **kwargs)


def test_importing_the_package_does_not_import_math_verify():
    import subprocess

    code = "import sys, jaxint.verify; print(sorted({'math_verify', 'sympy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
