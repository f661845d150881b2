"""Sample continuations of a (possibly partial) assistant response and score them.

Shared by the filter (continue problem + target) and the conditioning measurement (continue
from the problem alone, from prefix + original step, from prefix + intervention). A partial
response is rendered with ``data.chat.render_continuation``: its token ids are exactly those
the SFT example of the same target starts with, so the filter judges the very prefix the
model will be trained on. The full response (partial + continuation) is scored, since the
final ``\\boxed{}`` comes at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from jaxint.data import chat


@dataclasses.dataclass(frozen=True)
class Request:
    """One prompt to continue: the problem text, an optional partial response, the gold."""

    problem: str
    partial: str | None
    gold: str


@dataclasses.dataclass(frozen=True)
class Scored:
    """The scored continuations of one request.

    Attributes:
        rewards: Per-sample reward (1 correct, 0 wrong or timed out).
        lengths: Per-sample number of generated tokens.
        first_correct: The first correct continuation's text (for inspection), if any.
    """

    rewards: list[int]
    lengths: list[int]
    first_correct: str | None

    @property
    def num_correct(self) -> int:
        return sum(self.rewards)


def prompt_ids(tokenizer: Any, request: Request) -> list[int]:
    """The prompt: the bare problem as one user message, then the partial response if any."""
    messages = [{"role": "user", "content": request.problem}]
    if request.partial is None:
        return chat.render_prompt(tokenizer, messages)
    return chat.render_continuation(tokenizer, messages, request.partial)


def sample_and_score(
    model: Any, tokenizer: Any, requests: Sequence[Request], sampling_cfg: Any, *,
    seed: int, mesh: Any = None, timeout_s: float = 10.0, num_workers: int | None = None,
    progress: bool = True, desc: str = "continuations",
) -> list[Scored]:
    """Samples ``sampling_cfg.n`` continuations per request and scores each full response.

    Returns:
        One :class:`Scored` per request, in order.
    """
    if not requests:
        return []
    from jaxint import sampling, verify
    from jaxint.sampling import api as sampling_api

    stops = set(sampling_cfg.stop_token_ids) | set(sampling_api.end_of_turn_ids(tokenizer))
    cfg = dataclasses.replace(sampling_cfg, stop_token_ids=tuple(sorted(stops)))
    prompts = [prompt_ids(tokenizer, r) for r in requests]
    results = sampling.generate(model, prompts, cfg, seed=seed, tokenizer=tokenizer, mesh=mesh,
                                progress=progress, desc=desc)
    pairs = [((r.partial or "") + (s.text or ""), r.gold)
             for r, samples in zip(requests, results, strict=True) for s in samples]
    verdicts = verify.score_batch(pairs, timeout_s=timeout_s, num_workers=num_workers)
    out, pos = [], 0
    for samples in results:
        rewards = [int(v.reward > 0) for v in verdicts[pos : pos + len(samples)]]
        pos += len(samples)
        correct = [s.text for s, r in zip(samples, rewards, strict=True) if r]
        out.append(Scored(rewards, [int(len(s.tokens)) for s in samples],
                          correct[0] if correct else None))
    return out
