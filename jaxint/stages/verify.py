"""Stage `verify`: rewards for every generated completion; the failures feed `intervene`."""

from __future__ import annotations

from collections.abc import Sequence

from jaxint import progress as progress_lib
from jaxint import rundir, verify
from jaxint.data import records


def run(
    run_dir: rundir.RunDir, *, problems: Sequence[records.Problem], timeout_s: float = 10.0,
    progress: bool = True,
) -> rundir.Summary:
    """Writes `verify/shard-*.jsonl` (generate's `Rollout`s scored: one `Attempt` each), shard
    for shard, so a resumed run re-scores at most one shard."""
    by_id = {p.id: p for p in problems}
    source = rundir.Shards(run_dir.stage("generate"))
    out = rundir.Shards(run_dir.stage("verify"))
    for k in progress_lib.Bar(source.indices(), desc="verify", unit="shard",
                              disable=not progress):
        if out.done(k):
            continue
        rollouts = source.read_records(records.Rollout, k)
        missing = [r.problem_id for r in rollouts if r.problem_id not in by_id]
        if missing:
            raise ValueError(f"{source.path(k)}: problem id {missing[0]!r} is not in the dataset")
        verdicts = verify.score_batch(
            [(r.completion or "", by_id[r.problem_id].answer) for r in rollouts],
            timeout_s=timeout_s)
        out.write(k, [records.Attempt(r, v.reward, v.extracted, v.reason)
                      for r, v in zip(rollouts, verdicts)])
    scored = attempts(run_dir)
    correct = sum(a.reward for a in scored)
    summary = {"records": len(scored), "correct": int(correct),
               "accuracy": correct / max(len(scored), 1),
               "failed": len(scored) - int(correct)}
    run_dir.metrics("verify").write(summary)
    return summary


def attempts(run_dir: rundir.RunDir) -> list[records.Attempt]:
    """Every verified rollout, in shard order."""
    return rundir.Shards(run_dir.stage("verify")).read_records(records.Attempt)


def failed_attempts(run_dir: rundir.RunDir) -> list[records.Attempt]:
    """The incorrect rollouts, in shard order: the attempts interventions are proposed for."""
    return [a for a in attempts(run_dir) if not a.correct]


def correct_attempts(run_dir: rundir.RunDir) -> list[records.Attempt]:
    """The verified correct rollouts, one per (problem, sample), in shard order."""
    return [a for a in attempts(run_dir) if a.correct]
