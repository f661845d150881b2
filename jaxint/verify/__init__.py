"""Answer verification: the last ``\\boxed{}`` answer against a gold answer, via math-verify.

Public API:
    ``score(completion, gold, *, timeout_s=10.0) -> Verdict``: one pair, in this process.
    ``score_batch(pairs, *, timeout_s=10.0, num_workers=None, ...) -> list[Verdict]``: many
        pairs, in worker processes killed at the limit.
    ``Verdict``: ``.reward`` (1.0 / 0.0), ``.extracted`` (str or None), ``.reason``.
    ``close()``: stops the shared worker pool.

Importing this package is cheap: math-verify (and sympy) load on first use.
"""

from jaxint.verify import batch, scoring, verdict

score = scoring.score
score_batch = batch.score_batch
close = batch.close
Verdict = verdict.Verdict

__all__ = ["Verdict", "close", "score", "score_batch"]
