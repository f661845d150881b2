"""Stage `verify`: rewards for every generated completion; the failures feed `intervene`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jaxint import progress as progress_lib
from jaxint import rundir, verify
from jaxint.data import records


def run(
    run_dir: rundir.RunDir, *, problems: Sequence[records.Problem], timeout_s: float = 10.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Writes `verify/shard-*.jsonl` (generate's records plus reward, extracted answer and
    reason), shard for shard, so a resumed run re-scores at most one shard."""
    by_id = {p.id: p for p in problems}
    source = rundir.Shards(run_dir.stage("generate"))
    out = rundir.Shards(run_dir.stage("verify"))
    for k in progress_lib.Bar(source.indices(), desc="verify", unit="shard",
                              disable=not progress):
        if out.done(k):
            continue
        recs = list(rundir.read_jsonl(source.path(k)))
        missing = [r["problem_id"] for r in recs if r["problem_id"] not in by_id]
        if missing:
            raise ValueError(f"{source.path(k)}: problem id {missing[0]!r} is not in the dataset")
        verdicts = verify.score_batch(
            [(r["completion"] or "", by_id[r["problem_id"]].answer) for r in recs],
            timeout_s=timeout_s)
        out.write(k, [{**r, "reward": v.reward, "extracted": v.extracted, "reason": v.reason}
                      for r, v in zip(recs, verdicts)])
    scored = list(out.read())
    correct = sum(r["reward"] for r in scored)
    summary = {"records": len(scored), "correct": int(correct),
               "accuracy": correct / max(len(scored), 1),
               "failed": len(scored) - int(correct)}
    run_dir.metrics("verify").write(summary)
    return summary


def failed_attempts(run_dir: rundir.RunDir) -> list[dict[str, Any]]:
    """The incorrect rollouts, in shard order: the attempts interventions are proposed for."""
    return [r for r in rundir.Shards(run_dir.stage("verify")).read() if r["reward"] < 1.0]
