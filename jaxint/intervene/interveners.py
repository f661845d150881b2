"""Interveners: whatever turns (problem, failed-attempt steps) into k raw proposal texts.

All interveners return *text* that goes through the same parser, so the oracle's proposals are
judged by exactly the rules a model's are.

- :class:`ModelIntervener`: the two-turn conversation of PAPER.md step 5, sampled with a jaxint
  model: the policy itself (the paper's choice) or any other loaded model directory.
- :class:`OracleIntervener`: the exact checker of the synthetic task, for tests and for
  measuring how far a model intervener is from perfect error location.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from jaxint.data import records, synthetic
from jaxint.intervene import prompts as prompts_lib
from jaxint.intervene import seeds

if TYPE_CHECKING:  # JAX is imported only when a model samples
    from jaxint.models import decoder
    from jaxint.sampling import config as sampling_config

STOP_STRING = "</intervention>"
# Why an item got no proposals (besides the parser's reasons, stage statistics count these).
PROMPT_TOO_LONG = "prompt_too_long"
NO_REFERENCE = "no_reference"
SKIP_REASONS = (PROMPT_TOO_LONG, NO_REFERENCE)


@dataclasses.dataclass(frozen=True)
class Item:
    """One failed attempt to intervene on."""

    problem: records.Problem
    sample_index: int
    steps: tuple[str, ...]


@dataclasses.dataclass
class ProposalBatch:
    """What an intervener returns for a list of items.

    Attributes:
        texts: ``texts[i]``: the k raw replies for item i (``[]`` when it was skipped).
        info: ``info[i]``: per-item facts (``prompt_tokens``, ``omitted``, ``clip_chars``,
            ``skipped``: ``"prompt_too_long"`` when no prompt fitted the budget,
            ``"no_reference"`` when the problem has no reference solution; ``detail``: why
            the prompt did not fit).
        solutions: Per-problem records of the turn-1 solutions (model interveners only).
    """

    texts: list[list[str]]
    info: list[dict[str, Any]]
    solutions: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class Intervener(Protocol):
    """Proposes interventions."""

    def propose(self, items: Sequence[Item], k: int, *, salt: int = 0) -> ProposalBatch:
        """k raw proposal texts per item; ``salt`` (the shard index) varies the seed."""
        ...


def format_block(content: str, location: int) -> str:
    """The final block an intervener is asked to write."""
    payload = json.dumps({"content": content, "location": location}, ensure_ascii=False)
    return f"<intervention>{payload}</intervention>"


class OracleIntervener:
    """Exact interventions for the synthetic task, from ``synthetic.check_steps``.

    The first wrong step and its correct replacement; empty content when the attempt is
    correct or the right fix is to stop (a step after the boxed answer). The location can be
    ``num_steps + 1`` for an attempt that stops early: the parser rejects it as out of range.
    """

    def propose(self, items: Sequence[Item], k: int, *, salt: int = 0) -> ProposalBatch:
        del salt  # deterministic
        texts, info = [], []
        for item in items:
            check = synthetic.check_steps(item.problem, item.steps)
            block = format_block(check.replacement or "", check.first_error or 0)
            texts.append([block] * k)
            info.append({"error_kind": check.error_kind})
        return ProposalBatch(texts, info)


class ModelIntervener:
    """The two-turn intervention chat sampled with a jaxint model and its own chat template.

    Turn 1 (n = 1) is sampled once per distinct problem in a ``propose`` call; turn 2 (n = k)
    once per item, stopping at ``</intervention>``. Callers that want one turn-1 solution per
    problem overall pass all attempts of a problem in one call (the intervene stage shards by
    problem).

    Args:
        model: A jaxint decoder (possibly sharded on ``mesh``).
        tokenizer: Its Hugging Face tokenizer (chat template, stop strings, lengths).
        sampling_cfg: Sampling settings of both turns (``n`` is overridden).
        seed: Base seed; a call's seeds derive from it, the ``salt`` and the turn.
        mesh: The mesh the parameters live on.
        template_dir: Replacement templates (``turn1.txt``, ``turn2.txt``).
        max_prompt_tokens: Budget of the turn-2 prompt (PAPER.md: 30,000).
        progress: Show the sampler's progress bars.
    """

    def __init__(
        self, model: decoder.Decoder, tokenizer: Any,
        sampling_cfg: sampling_config.SamplingConfig, *, seed: int, mesh: Any = None,
        template_dir: str | None = None, max_prompt_tokens: int = 30_000, progress: bool = True,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.sampling_cfg = sampling_cfg
        self.seed = seed
        self.mesh = mesh
        self.templates = prompts_lib.load_templates(template_dir)
        self.max_prompt_tokens = max_prompt_tokens
        self.progress = progress

    def propose(self, items: Sequence[Item], k: int, *, salt: int = 0) -> ProposalBatch:
        problems = list({item.problem.id: item.problem for item in items}.values())
        solutions = self._turn1(problems, salt)
        by_id = {record["problem_id"]: record for record in solutions}
        built = [self._turn2_prompt(item, by_id[item.problem.id]) for item in items]
        ready = [i for i, (p, _) in enumerate(built) if p is not None]
        replies = self._sample([built[i][0].messages for i in ready], k,
                               seeds.derive(self.seed, salt, "turn2"), stop=True)
        texts: list[list[str]] = [[] for _ in items]
        for i, reply in zip(ready, replies, strict=True):
            texts[i] = reply
        return ProposalBatch(texts, [_info(*b) for b in built], solutions)

    def _turn1(self, problems: Sequence[records.Problem], salt: int) -> list[dict[str, Any]]:
        """One solution per problem; ``skipped`` says why a problem got none."""
        out: list[dict[str, Any]] = []
        convs = {}
        for p in problems:
            record = {"problem_id": p.id, "solution": None, "prompt_tokens": None,
                      "skipped": NO_REFERENCE}
            if p.solution:
                convs[p.id] = prompts_lib.turn1_messages(self.templates, p)
                n = prompts_lib.prompt_tokens(self.tokenizer, convs[p.id])
                record.update(prompt_tokens=n, **self._turn1_fit(n))
            out.append(record)
        ready = [r for r in out if r["skipped"] is None]
        replies = self._sample([convs[r["problem_id"]] for r in ready], 1,
                               seeds.derive(self.seed, salt, "turn1"), stop=False)
        for record, reply in zip(ready, replies, strict=True):
            record["solution"] = reply[0].strip()
        return out

    def _turn1_fit(self, n: int) -> dict[str, Any]:
        """Turn 1 is sampled only when its prompt plus its whole reply budget fits the
        budget: turn 2 carries both, and a 20K-token problem under the 30K default would
        otherwise reach prefill (and exhaust device memory) with no chance of a turn 2."""
        need = n + self.sampling_cfg.max_new_tokens
        if need <= self.max_prompt_tokens:
            return {"skipped": None}
        return {"skipped": PROMPT_TOO_LONG,
                "detail": f"turn-1 prompt has {n} tokens + max_new_tokens="
                          f"{self.sampling_cfg.max_new_tokens} > intervene.max_prompt_tokens="
                          f"{self.max_prompt_tokens}"}

    def _turn2_prompt(
        self, item: Item, solution: dict[str, Any]
    ) -> tuple[prompts_lib.Turn2Prompt | None, dict[str, Any]]:
        if solution["skipped"] is not None:
            return None, {k: solution[k] for k in ("skipped", "detail", "prompt_tokens")
                          if solution.get(k) is not None}
        prompt = prompts_lib.build_turn2(
            self.templates, self.tokenizer, item.problem, solution["solution"], item.steps,
            max_prompt_tokens=self.max_prompt_tokens,
        )
        if prompt is not None:
            return prompt, {}
        return None, {"skipped": PROMPT_TOO_LONG,
                      "detail": f"turn-2 prompt does not fit intervene.max_prompt_tokens="
                                f"{self.max_prompt_tokens} even with the attempt cut"}

    def _sample(
        self, conversations: list[list[dict[str, str]]], n: int, seed: int, *, stop: bool
    ) -> list[list[str]]:
        if not conversations:
            return []
        from jaxint import sampling  # JAX is needed only when a model samples

        stops = tuple(self.sampling_cfg.stop_strings) + ((STOP_STRING,) if stop else ())
        # The engine refuses anything past the budget, so no prompt over it reaches prefill.
        cfg = dataclasses.replace(self.sampling_cfg, n=n, stop_strings=stops,
                                  max_prompt_tokens=self.max_prompt_tokens)
        results = sampling.generate_chat(
            self.model, self.tokenizer, conversations, cfg, seed=seed, mesh=self.mesh,
            progress=self.progress,
        )
        return [[sample.text or "" for sample in per_prompt] for per_prompt in results]


def _info(prompt: prompts_lib.Turn2Prompt | None, skipped: dict[str, Any]) -> dict[str, Any]:
    if prompt is None:
        return skipped
    return {"prompt_tokens": prompt.num_tokens, "omitted": prompt.omitted,
            "clip_chars": prompt.clip_chars}
