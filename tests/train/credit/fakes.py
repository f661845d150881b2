"""A fake of the trainer's passes for credit tests: one character per token (id = code point,
0 is a special end token), continuations and rewards from tables the test writes, and
teacher-forced log-probs from a function of the prompt; every call is recorded."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from jaxint import sample_score
from jaxint.data import records
from jaxint.sampling import results
from jaxint.train.credit import types

END = 0


def tokens(text: str, *, end: bool = True) -> np.ndarray:
    return np.asarray([ord(c) for c in text] + ([END] if end else []), np.int32)


def sample(text: str, i: int = 0, *, end: bool = True) -> results.Sample:
    t = tokens(text, end=end)
    return results.Sample(0, i, t, np.zeros(len(t), np.float32), "stop", None, text)


def scored(texts: Sequence[Sequence[str]], rewards: Sequence[Sequence[float]], *,
           problems: Sequence[records.Problem] | None = None) -> types.Scored:
    problems = list(problems or [records.Problem(id=f"p{g}", problem=f"Q{g}", answer="1",
                                                 solution="S", source="test")
                                 for g in range(len(texts))])
    samples = [[sample(t, i) for i, t in enumerate(group)] for group in texts]
    r = np.asarray(rewards, np.float32)
    ro = sample_score.Rollouts(problems, [list(tokens(f"Q{g}:", end=False))
                                          for g in range(len(texts))], samples, r, [])
    lps = [np.zeros(len(s.tokens), np.float32) for group in samples for s in group]
    return types.Scored(ro, r - r.mean(axis=1, keepdims=True), lps)


@dataclasses.dataclass
class Passes:
    """`continue_` returns n one-token continuations "0".."n-1"; `rewards` looks the response
    (its text before that digit) up in `values`: {response prefix: n rewards}."""

    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    logprob_fn: Callable[[list[int], np.ndarray, str], np.ndarray] | None = None
    extra_tokens: int = 0
    extra_forward_tokens: int = 0
    calls: list[tuple] = dataclasses.field(default_factory=list)

    def decode(self, toks: Sequence[int]) -> str:
        return "".join(chr(t) for t in toks if t != END)

    def render(self, user_message: str) -> list[int]:
        return list(tokens(user_message + ":", end=False))

    def continue_(self, prompts, budgets, n):
        self.calls.append(("continue", [self.decode(p) for p in prompts], list(budgets), n))
        self.extra_tokens += n * len(prompts)
        return [[sample(str(j), j, end=False) for j in range(n)] for _ in prompts]

    def rewards(self, pairs):
        return [self.values[text[:-1]][int(text[-1])] for text, _ in pairs]

    def logprobs(self, prompts, completions, scorer):
        self.calls.append(("logprobs", [self.decode(p) for p in prompts], scorer))
        self.extra_forward_tokens += sum(len(p) + len(c) for p, c in zip(prompts, completions))
        return [self.logprob_fn(list(p), c, scorer) for p, c in zip(prompts, completions)]
