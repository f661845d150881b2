"""The one sample-and-score path: prompts rendered from problems (and, for continuations, a
partial assistant response), sampled by the engine, and every full response judged by the
verifier.

Two entry points share the prompt and the scoring. `sample` / `score` take an engine the
caller keeps (generate, eval, GRPO rollouts: one engine for many calls, parameters passed in)
and return the samples themselves; `sample_and_score` builds the engine for one call (select,
the filter, the conditioning measurement) and returns counts. A partial response is rendered
with ``data.chat.render_continuation``: its token ids are exactly those the SFT example of the
same target starts with, so the filter judges the very prefix the model will be trained on.
The full response (partial + continuation) is scored, since the final ``\\boxed{}`` comes at
the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxint import verify
from jaxint.data import chat, records
from jaxint.sampling import engine as engine_lib
from jaxint.sampling import results

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
    from jaxint import sampling
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
    verdicts = _verdicts(pairs, timeout_s=timeout_s, num_workers=num_workers)
    out = [Scored([], [], None, len(p), PROMPT_TOO_LONG) for p in prompts]
    pos = 0
    for i, samples in zip(ready, results, strict=True):
        rewards = [int(v.reward > 0) for v in verdicts[pos : pos + len(samples)]]
        pos += len(samples)
        correct = [s.text for s, r in zip(samples, rewards, strict=True) if r]
        out[i] = Scored(rewards, [int(len(s.tokens)) for s in samples],
                        correct[0] if correct else None, len(prompts[i]))
    return out


@dataclasses.dataclass
class Rollouts:
    """G samples of each of the step's prompts, with rewards [groups, G]."""

    problems: list[records.Problem]
    prompts: list[list[int]]
    samples: list[list[results.Sample]]
    rewards: np.ndarray
    reasons: list[list[str]]

    @property
    def num_tokens(self) -> int:
        return sum(len(s.tokens) for group in self.samples for s in group)


def user_prompt(tokenizer: Any, problem: records.Problem) -> list[int]:
    """The bare problem as one user message (no system prompt), as in the InT paper."""
    return prompt_ids(tokenizer, Request(problem.problem, None, problem.answer))


def sample(
    engine: engine_lib.Engine, params: Any, tokenizer: Any, problems: Sequence[records.Problem],
    *, seed: int, progress: bool = False,
) -> tuple[list[list[int]], list[list[results.Sample]]]:
    """G = `engine.cfg.n` completions of each problem (chat-templated prompts)."""
    prompts = [user_prompt(tokenizer, p) for p in problems]
    return prompts, engine.run(params, prompts, seed=seed, progress=progress, desc="rollouts")


def score(
    problems: Sequence[records.Problem], prompts: list[list[int]],
    samples: list[list[results.Sample]], *, timeout_s: float = 10.0,
) -> Rollouts:
    """Verifier rewards (1/0) for every sample, in a pool of worker processes."""
    pairs = [(s.text or "", p.answer) for p, group in zip(problems, samples) for s in group]
    verdicts = _verdicts(pairs, timeout_s=timeout_s)
    G = len(samples[0]) if samples else 0
    rewards = np.asarray([v.reward for v in verdicts], np.float32).reshape(len(problems), G)
    reasons = [[v.reason for v in verdicts[i * G:(i + 1) * G]] for i in range(len(problems))]
    return Rollouts(list(problems), prompts, samples, rewards, reasons)


def _verdicts(pairs: Sequence[tuple[str, str]], *, timeout_s: float,
              num_workers: int | None = None) -> list[Any]:
    """The verifier's verdict on each (response, gold answer) pair, in order."""
    return verify.score_batch(pairs, timeout_s=timeout_s, num_workers=num_workers) if pairs else []
