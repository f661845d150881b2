"""`python -m tests.reliability.kill_driver KILL_AT -- jaxint args...`: runs the CLI and
SIGKILLs its own process at one point (a stand-in for the OOM killer or a lost VM).

`python -m tests.reliability.kill_driver --serve LOG_DIR -- jaxint args...` does the same for a
series of runs, each in its own process: it imports JAX and jaxint once (about half of a tiny
run's wall time on a CPU), then for each KILL_AT line read from stdin forks a fresh child that
runs the CLI with its output in LOG_DIR/N-KILL_AT.log, and answers the child's exit status
(negative: the signal) on stdout. Nothing runs in the parent before a fork (no JAX backend, one
thread), so each child starts as a new `jaxint` process would, and is killed just as hard.
Kill points:

    shard    while generate's shard 1 is being written (temp file written, not renamed)
    sft      in SFT after step 3 was logged, between checkpoints (the last is step 2)
    rl_ckpt  while GRPO's step-2 checkpoint is being written (async save in flight)
    none     never
"""

from __future__ import annotations

import os
import signal
import sys


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install(kill_at: str) -> None:
    from jaxint import rundir
    from jaxint.train import checkpoint

    if kill_at == "shard":
        real_replace = os.replace

        def replace(src, dst, *a, **kw):
            if str(dst).endswith("generate/shard-00001.jsonl"):
                _die()
            return real_replace(src, dst, *a, **kw)

        os.replace = replace  # every other rename passes through
    elif kill_at == "sft":
        real_write = rundir.Metrics.write

        def write(self, record):
            real_write(self, record)
            if self.path.parent.name == "sft" and record.get("step") == 3:
                _die()

        rundir.Metrics.write = write
    elif kill_at == "rl_ckpt":
        real_save = checkpoint.Checkpointer.save

        def save(self, step, state, extra, *, force=False):
            saved = real_save(self, step, state, extra, force=force)
            if saved and step == 2 and self.directory.parent.name == "rl":
                _die()
            return saved

        checkpoint.Checkpointer.save = save


def _preimport() -> None:
    """What every run imports first (the modules of all stages and the libraries they use)."""
    import threading

    import jax  # noqa: F401
    import transformers  # noqa: F401

    from jaxint import cli, loop  # noqa: F401
    from jaxint.stages import filter, generate, intervene, rl, sft, verify  # noqa: F401
    from jaxint.train import checkpoint  # noqa: F401

    assert threading.active_count() == 1, "a thread before fork(): children could deadlock"


def _child(kill_at: str, args: list[str], log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    signal.alarm(300)  # a hung run ends with SIGALRM (status -14), not a hung test
    rc = 1
    try:
        _install(kill_at)
        from jaxint import cli

        rc = cli.main(args)
    except SystemExit as err:
        rc = err.code if isinstance(err.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported in the log, as the CLI would
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


def serve(log_dir: str, args: list[str]) -> int:
    _preimport()
    for n, line in enumerate(sys.stdin):
        kill_at = line.strip()
        pid = os.fork()
        if pid == 0:
            _child(kill_at, args, os.path.join(log_dir, f"{n}-{kill_at}.log"))
        _, status = os.waitpid(pid, 0)
        rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(rc, flush=True)
    return 0


def main() -> int:
    if sys.argv[1] == "--serve":
        return serve(sys.argv[2], sys.argv[4:])
    kill_at, args = sys.argv[1], sys.argv[3:]
    _install(kill_at)
    from jaxint import cli

    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
