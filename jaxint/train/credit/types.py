"""What every credit method takes and returns, and the callbacks through which it asks the
trainer for extra passes (so the methods stay pure and testable with fakes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from jaxint import sample_score
from jaxint.sampling import results

FLAT = "samples in group-major order: group g's sample i is entry g * G + i"


@dataclasses.dataclass
class Scored:
    """A step's scored rollouts and what the loop computed for them anyway.

    Attributes:
        rollouts: problems, prompts, samples and rewards [groups, G].
        outcome: [groups, G] the group advantages of `grpo.advantages` (rl.std_normalize and
            rl.batch_normalize applied).
        logprobs: per sample (FLAT), [len(sample.tokens)] the log-probs of its tokens under
            the current parameters, teacher-forced (the update's old log-probs).
    """

    rollouts: sample_score.Rollouts
    outcome: np.ndarray
    logprobs: list[np.ndarray]

    def flat_samples(self) -> list[tuple[int, results.Sample]]:
        """(group index, sample) per sample, FLAT."""
        return [(g, s) for g, group in enumerate(self.rollouts.samples) for s in group]


@dataclasses.dataclass
class Credit:
    """A method's advantages and what they cost beyond the rollouts.

    Attributes:
        advantages: [groups, G] one per sequence, or per sample (FLAT) a float32 array with
            one advantage per token of the sample.
        extra_tokens: tokens sampled for the method (continuations, critiques).
        extra_forward_tokens: tokens run through the model without sampling (prefills of
            continuation prompts, teacher-forced passes).
        metrics: method-specific step metrics (logged with a `credit_` prefix).
    """

    advantages: np.ndarray | list[np.ndarray]
    extra_tokens: int = 0
    extra_forward_tokens: int = 0
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


class Passes(Protocol):
    """Extra model passes a method may ask for; the trainer's implementation counts their
    tokens in `extra_tokens` / `extra_forward_tokens`."""

    extra_tokens: int
    extra_forward_tokens: int

    def decode(self, tokens: Sequence[int]) -> str:
        """Text of token ids (special tokens dropped, as `Sample.text`)."""
        ...

    def render(self, user_message: str) -> list[int]:
        """The chat prompt of one user message, ready for the assistant to answer."""
        ...

    def continue_(self, prompts: Sequence[Sequence[int]], budgets: Sequence[int],
                  n: int) -> list[list[results.Sample]]:
        """n samples continuing each token prefix, each within its token budget."""
        ...

    def rewards(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Verifier reward of each (full response text, gold answer)."""
        ...

    def logprobs(self, prompts: Sequence[Sequence[int]], completions: Sequence[np.ndarray],
                 scorer: str) -> list[np.ndarray]:
        """Teacher-forced log-probs of each completion after its prompt, under the current
        parameters (scorer "policy") or the frozen initial ones ("frozen")."""
        ...
