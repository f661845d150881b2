"""Settings of the intervene and filter stages (frozen, validated, OmegaConf-compatible).

Scalar, Optional and tuple fields and the nested `sampling:` section, so
``jaxint.configlib.load`` can build them from YAML and ``key.sub=value`` overrides. Defaults
follow PAPER.md: 4 proposals per failed attempt with the rollout sampling settings, prompts cut
at 30,000 tokens, 32 filter continuations of which at least one must be correct.
"""

from __future__ import annotations

import dataclasses

from jaxint.intervene import leak as leak_lib
from jaxint.intervene import steps as steps_lib
from jaxint.sampling import config as sampling_config

INTERVENERS = ("policy", "model", "oracle")


def _check(cls: str, checks: dict[str, tuple[bool, object, str]]) -> None:
    for field, (ok, value, rule) in checks.items():
        if not ok:
            raise ValueError(f"{cls}.{field} must be {rule}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class InterveneConfig:
    """How interventions are proposed and parsed.

    Attributes:
        intervener: ``policy`` (the model being trained proposes; the paper's choice),
            ``model`` (another model directory, ``intervener_path``) or ``oracle`` (the exact
            checker of the synthetic task).
        intervener_path: HF model directory of the ``model`` intervener.
        proposals_per_attempt: Proposals sampled per failed attempt (k).
        splitter: ``blank_line``, ``max_steps`` or ``token_budget`` (see ``intervene.steps``).
        max_steps: Step limit of the ``max_steps`` splitter.
        step_tokens: Per-step token budget of the ``token_budget`` splitter.
        max_prompt_tokens: Turn-2 prompt budget; longer attempts lose middle substeps. Turn 1
            runs only when its prompt plus ``max_new_tokens`` fits it (turn 2 carries both);
            an item that cannot fit is rejected ``prompt_too_long`` (``rejects.jsonl``,
            stats) and never reaches prefill.
        check_leaks: Reject proposals that contain the gold answer (the paper's rule). On the
            synthetic task every fix of the last computation states the answer, so turning
            this off is the only way to keep those there.
        leak_rule: ``normalized`` (the gold at a token boundary after normalising LaTeX, or an
            equivalent ``\\boxed{}``) or ``paper`` (the release's raw substring test, which
            also rejects a gold of ``2`` inside ``12``); see ``intervene.leak``.
        template_dir: Directory with ``turn1.txt`` and ``turn2.txt`` replacing the shipped ones.
        sampling: How both turns are sampled (``max_new_tokens`` is each turn's budget) and
            the engine's sizing; turn 1 takes one sample, turn 2 ``proposals_per_attempt``.
        shard_size: Problems per shard (the unit of resumption; turn 1 is sampled once per
            problem per shard, and every attempt of a problem lands in the same shard).
        seed: Base seed; each shard's seed derives from it and the shard index.
    """

    intervener: str = "policy"
    intervener_path: str | None = None
    proposals_per_attempt: int = 4
    splitter: str = "blank_line"
    max_steps: int = 64
    step_tokens: int = 512
    max_prompt_tokens: int = 30_000
    check_leaks: bool = True
    leak_rule: str = "normalized"
    template_dir: str | None = None
    sampling: sampling_config.SamplingConfig = dataclasses.field(
        default_factory=sampling_config.paper)
    shard_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        _check("InterveneConfig", {
            "intervener": (self.intervener in INTERVENERS, self.intervener,
                           f"one of {INTERVENERS}"),
            "intervener_path": ((self.intervener == "model") == bool(self.intervener_path),
                                self.intervener_path,
                                "set exactly when intervener is 'model'"),
            "proposals_per_attempt": (self.proposals_per_attempt >= 1,
                                      self.proposals_per_attempt, ">= 1"),
            "leak_rule": (self.leak_rule in leak_lib.LEAK_RULES, self.leak_rule,
                          f"one of {leak_lib.LEAK_RULES}"),
            "splitter": (self.splitter in steps_lib.SPLITTERS, self.splitter,
                         f"one of {steps_lib.SPLITTERS}"),
            "max_steps": (self.max_steps >= 1, self.max_steps, ">= 1"),
            "step_tokens": (self.step_tokens >= 1, self.step_tokens, ">= 1"),
            "max_prompt_tokens": (self.max_prompt_tokens >= 1, self.max_prompt_tokens, ">= 1"),
            "shard_size": (self.shard_size >= 1, self.shard_size, ">= 1"),
        })
        sampling_config.check_stage_section("intervene", self.sampling, {
            "n": "proposals_per_attempt", "max_prompt_tokens": "max_prompt_tokens"})


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    """The continuation filter (PAPER.md step 8) and the conditioning measurement.

    Attributes:
        enabled: Run the filter; when off, every intervention is kept unscored.
        num_samples: Continuations sampled per target.
        min_correct: Keep an intervention when at least this many continuations are correct.
        sampling: How continuations are sampled, and the engine's sizing.
        max_prompt_tokens: Longest continuation prompt (problem + target, chat-templated);
            a longer one is not sampled: its row is rejected ``prompt_too_long``, listed in
            ``filter/rejects.jsonl`` and counted in the stats, never sent to prefill.
        shard_size: Interventions per shard (the unit of resumption).
        seed: Base seed; each shard's seed derives from it and the shard index.
        score_timeout_s: Verifier time limit per continuation (a timeout counts as wrong).
        score_workers: Verifier processes (``None``: the verifier's default).
    """

    enabled: bool = True
    num_samples: int = 32
    min_correct: int = 1
    sampling: sampling_config.SamplingConfig = dataclasses.field(
        default_factory=sampling_config.paper)
    max_prompt_tokens: int = 30_000
    shard_size: int = 64
    seed: int = 0
    score_timeout_s: float = 10.0
    score_workers: int | None = None

    def __post_init__(self) -> None:
        _check("FilterConfig", {
            "num_samples": (self.num_samples >= 1, self.num_samples, ">= 1"),
            "min_correct": (0 <= self.min_correct <= self.num_samples, self.min_correct,
                            f"in 0..num_samples ({self.num_samples})"),
            "max_prompt_tokens": (self.max_prompt_tokens >= 1, self.max_prompt_tokens, ">= 1"),
            "shard_size": (self.shard_size >= 1, self.shard_size, ">= 1"),
            "score_timeout_s": (self.score_timeout_s > 0, self.score_timeout_s, "> 0"),
            "score_workers": (self.score_workers is None or self.score_workers >= 1,
                              self.score_workers, "None or >= 1"),
        })
        sampling_config.check_stage_section("filter", self.sampling, {
            "n": "num_samples", "max_prompt_tokens": "max_prompt_tokens"})

    def continuation_sampling(self) -> sampling_config.SamplingConfig:
        """The engine settings of the filter and the conditioning measurement: `sampling`
        with `num_samples` continuations per target and the prompt limit."""
        return self.sampling.with_count(self.num_samples, max_prompt_tokens=self.max_prompt_tokens)
