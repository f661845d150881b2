"""The trainer's side of `types.Passes`: continuations through a sampling engine (a state's k
continuations share one prefill: the engine forks it), verifier rewards, and teacher-forced
log-probs through the trainer's jitted scoring. Every pass counts its tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jaxint import verify
from jaxint.data import chat
from jaxint.sampling import engine as engine_lib
from jaxint.sampling import results
from jaxint.train import rollouts

# (params, batch of tokens/positions/segment_ids [B, T]) -> (log-probs [B, T-1], entropies)
Score = Callable[[Any, dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


class EnginePasses:
    """Extra passes of one training step.

    Args:
        tokenizer: decodes and renders prompts (the policy's chat template).
        engine: n -> an engine sampling n continuations per prompt (rollout settings).
        sampling_params: () -> the parameters the engine samples with (compute dtype); called
            on the first continuation only (a cast copy of the weights costs memory).
        score: the trainer's micro-batched teacher-forced scoring.
        params: scorer name ("policy", "frozen") -> parameters.
        seed: this step's continuation seed (a resumed step draws the same ones).
        timeout_s: verifier time limit per response.
    """

    def __init__(self, *, tokenizer: Any, engine: Callable[[int], engine_lib.Engine],
                 sampling_params: Callable[[], Any], score: Score, params: dict[str, Any],
                 seed: int, timeout_s: float):
        self.tokenizer, self.engine = tokenizer, engine
        self._sampling_params, self._cast = sampling_params, None
        self.score, self.params, self.seed, self.timeout_s = score, params, seed, timeout_s
        self.extra_tokens = 0
        self.extra_forward_tokens = 0

    def decode(self, tokens: Sequence[int]) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True)

    def render(self, user_message: str) -> list[int]:
        return chat.render_prompt(self.tokenizer, [{"role": "user", "content": user_message}])

    def continue_(self, prompts: Sequence[Sequence[int]], budgets: Sequence[int],
                  n: int) -> list[list[results.Sample]]:
        engine = self.engine(n)
        if self._cast is None:
            self._cast = self._sampling_params()
        out = engine.run(self._cast, prompts, seed=self.seed, progress=False,
                         desc="continuations", max_new_tokens=budgets)
        self.extra_tokens += sum(len(s.tokens) for group in out for s in group)
        self.extra_forward_tokens += int(engine.stats.get("prefill_tokens", 0))
        return out

    def rewards(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        verdicts = verify.score_batch(pairs, timeout_s=self.timeout_s) if pairs else []
        return [float(v.reward) for v in verdicts]

    def logprobs(self, prompts: Sequence[Sequence[int]], completions: Sequence[np.ndarray],
                 scorer: str) -> list[np.ndarray]:
        seqs = [np.concatenate([np.asarray(p, np.int32), np.asarray(c, np.int32)])
                for p, c in zip(prompts, completions, strict=True)]
        T = rollouts.bucket(max(len(s) for s in seqs))
        batch = {"tokens": np.zeros((len(seqs), T), np.int32),
                 "positions": np.tile(np.arange(T, dtype=np.int32), (len(seqs), 1)),
                 "segment_ids": np.zeros((len(seqs), T), np.int32)}
        for i, s in enumerate(seqs):
            batch["tokens"][i, : len(s)] = s
            batch["segment_ids"][i, : len(s)] = 1
        lp, _ = self.score(self.params[scorer], batch)
        self.extra_forward_tokens += sum(len(s) for s in seqs)
        return [lp[i, len(p) - 1 : len(s) - 1] for i, (p, s) in enumerate(zip(prompts, seqs))]
