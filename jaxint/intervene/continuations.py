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

PROMPT_TOO_LONG = "prompt_too_long"  # the same reason the intervene stage records


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
        prompt_tokens: Length of the prompt.
        skipped: ``"prompt_too_long"`` when the prompt exceeded ``max_prompt_tokens`` and
            nothing was sampled (then ``rewards`` and ``lengths`` are empty).
    """

    rewards: list[int]
    lengths: list[int]
    first_correct: str | None
    prompt_tokens: int | None = None
    skipped: str | None = None

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

    A request whose prompt is longer than ``sampling_cfg.max_prompt_tokens`` is not sampled
    (it never reaches prefill); its :class:`Scored` has ``skipped="prompt_too_long"``.

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
    limit = cfg.max_prompt_tokens
    ready = [i for i, p in enumerate(prompts) if limit is None or len(p) <= limit]
    results = sampling.generate(model, [prompts[i] for i in ready], cfg, seed=seed,
                                tokenizer=tokenizer, mesh=mesh, progress=progress,
                                desc=desc) if ready else []
    pairs = [((requests[i].partial or "") + (s.text or ""), requests[i].gold)
             for i, samples in zip(ready, results, strict=True) for s in samples]
    verdicts = (verify.score_batch(pairs, timeout_s=timeout_s, num_workers=num_workers)
                if pairs else [])
    out = [Scored([], [], None, len(p), PROMPT_TOO_LONG) for p in prompts]
    pos = 0
    for i, samples in zip(ready, results, strict=True):
        rewards = [int(v.reward > 0) for v in verdicts[pos : pos + len(samples)]]
        pos += len(samples)
        correct = [s.text for s, r in zip(samples, rewards, strict=True) if r]
        out[i] = Scored(rewards, [int(len(s.tokens)) for s in samples],
                        correct[0] if correct else None, len(prompts[i]))
    return out
