"""Sampling settings (frozen, validated): what to sample and how the engine batches it.

`SamplingConfig` is also the one `sampling:` section of every stage that samples (select,
generate, intervene, filter, rl, eval: ``generate.sampling.temperature``...), validated once,
when the config loads. What a stage decides itself (how many samples per prompt, its stop
tokens, its prompt limit) it adds with `SamplingConfig.with_count`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

CACHE_DTYPES = ("auto", "float32", "bfloat16", "float16")
KV_CACHES = ("dense", "paged")


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """Settings of one `jaxint.sampling.generate` call.

    Defaults are Qwen's recommended non-thinking settings (T=0.7, top-p 0.8, top-k 20),
    which the InT paper uses for rollouts, proposals and evaluation.

    Attributes:
        max_new_tokens: generation budget per sample.
        temperature: 0 selects greedily.
        top_k: keep the k most likely tokens (0 = no limit).
        top_p: nucleus mass kept after top-k (1.0 = no limit).
        n: samples per prompt; they share one prefill.
        stop_token_ids: any of these ends a sample (kept as its last token).
        stop_strings: any of these in the decoded text ends a sample (needs a tokenizer);
            the text is cut right after the stop string, tokens after the one completing
            it are dropped.
        max_batch_slots: sequences decoded together; finished slots are refilled.
        chunk_steps: decode steps per device call; the host refills slots between chunks.
        prefill_tokens: token budget of one prefill call (prompts per call = budget // len).
        cache_dtype: KV cache storage ("auto" = the model's compute dtype).
        refill: False gives classic static batching (the benchmark baseline).
        fork: prefill each distinct prompt once per run and copy its KV cache into the
            slots of all its samples, also when they start in later refills (the n samples
            of a GRPO group, the continuations of one prefix). False prefills every sample
            on its own (the benchmark baseline). Results are the same either way.
        max_prompt_tokens: longest prompt accepted (None: any); a longer one is refused,
            named, before any prefill.
        max_cache_tokens: longest KV cache one slot may hold (prompt bucket + its generation
            budget; device memory is slots x this). None: `max_prompt_tokens` +
            `max_new_tokens` (bucketed) when `max_prompt_tokens` is set, else unbounded. A
            prompt whose cache would not fit is refused, named, before anything is allocated.
        kv_cache: "dense" gives every slot its own max-length cache row; "paged" keeps one
            pool of pages that slots take as they grow, share across a forked prompt's
            samples and give back when they finish (`jaxint.sampling.engine` has the policy).
            Results are the same either way.
        page_size: tokens per page (paged). 64: the engine already rounds cache lengths to
            64, a sample wastes under one page (< 0.4% of a 16K rollout), a forked sample
            copies at most 63 prompt tokens (its own last page), and the page table stays
            small (256 entries per 16K slot); the TPU kernel streams several pages per block.
        kv_pool_tokens: the pool's size in tokens (paged; rounded up to whole pages per slot
            shard). None: slots x cache length, what the dense cache holds, so the default
            never holds less. Smaller pools admit fewer samples at once and preempt (a
            preempted sample restarts and regenerates the same tokens).
        expected_len: expected prompt + generated tokens per sample, for `jaxint plan`'s
            paged sizing (None: the worst case, prompt + max_new_tokens). Sampling ignores it.
    """

    max_new_tokens: int = 1024
    temperature: float = 0.7
    top_k: int = 20
    top_p: float = 0.8
    n: int = 1
    stop_token_ids: tuple[int, ...] = ()
    stop_strings: tuple[str, ...] = ()
    max_batch_slots: int = 64
    chunk_steps: int = 64
    prefill_tokens: int = 8192
    cache_dtype: str = "auto"
    refill: bool = True
    fork: bool = True
    max_prompt_tokens: int | None = None
    max_cache_tokens: int | None = None
    kv_cache: str = "dense"
    page_size: int = 64
    kv_pool_tokens: int | None = None
    expected_len: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "max_new_tokens": (self.max_new_tokens >= 1, ">= 1"),
            "temperature": (isinstance(self.temperature, (int, float))
                            and math.isfinite(self.temperature) and self.temperature >= 0,
                            "a finite number >= 0 (0 = greedy)"),
            "top_k": (self.top_k >= 0, ">= 0 (0 = no limit)"),
            "top_p": (0 < self.top_p <= 1, "in (0, 1]"),
            "n": (self.n >= 1, ">= 1"),
            "max_batch_slots": (self.max_batch_slots >= 1, ">= 1"),
            "chunk_steps": (self.chunk_steps >= 1, ">= 1"),
            "prefill_tokens": (self.prefill_tokens >= 1, ">= 1"),
            "cache_dtype": (self.cache_dtype in CACHE_DTYPES, f"one of {CACHE_DTYPES}"),
            "max_prompt_tokens": (self.max_prompt_tokens is None or self.max_prompt_tokens >= 1,
                                  "null or >= 1"),
            "max_cache_tokens": (self.max_cache_tokens is None or self.max_cache_tokens >= 1,
                                 "null or >= 1"),
            "kv_cache": (self.kv_cache in KV_CACHES, f"one of {KV_CACHES}"),
            "page_size": (isinstance(self.page_size, int) and self.page_size >= 1, ">= 1"),
            "kv_pool_tokens": (self.kv_pool_tokens is None
                               or self.kv_pool_tokens >= max(self.page_size, 1),
                               f"null or >= page_size ({self.page_size})"),
            "expected_len": (self.expected_len is None or self.expected_len >= 1,
                             "null or >= 1"),
        }
        for field, (ok, rule) in checks.items():
            if not ok:
                raise ValueError(f"sampling.{field} must be {rule}, got {getattr(self, field)!r}")
        if any(not s for s in self.stop_strings):
            raise ValueError("sampling.stop_strings: empty stop string")
        if (self.kv_pool_tokens is not None and self.max_cache_tokens is not None
                and self.kv_pool_tokens < self.max_cache_tokens):
            raise ValueError(
                f"sampling.kv_pool_tokens must hold one sample's cache (max_cache_tokens="
                f"{self.max_cache_tokens}), got {self.kv_pool_tokens}")

    def with_count(
        self, n: int, *, stop_token_ids: Sequence[int] = (), max_prompt_tokens: int | None = None
    ) -> SamplingConfig:
        """These settings as one stage runs them: ``n`` samples per prompt, the stage's stop
        tokens (a chat template's end of turn) added to the configured ones, and the stage's
        prompt limit (None keeps this config's)."""
        stops = tuple(dict.fromkeys((*self.stop_token_ids, *stop_token_ids)))
        limit = self.max_prompt_tokens if max_prompt_tokens is None else max_prompt_tokens
        return dataclasses.replace(self, n=n, stop_token_ids=stops, max_prompt_tokens=limit)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def paper(**changes: Any) -> SamplingConfig:
    """The InT paper's sampling (Qwen's T 0.7, top-p 0.8, top-k 20 at 16,384 new tokens) on a
    256-slot engine, with ``changes``: the default `sampling:` section of every stage."""
    return SamplingConfig(**{"max_new_tokens": 16_384, "max_batch_slots": 256, **changes})


def check_stage_section(section: str, sampling: SamplingConfig,
                        owned: Mapping[str, str]) -> None:
    """Refuses a `sampling:` field the stage sets itself (``owned``: field -> the stage's own
    key), so that no setting is accepted and then ignored.

    Raises:
        ValueError: naming ``SECTION.sampling.FIELD`` and the key to set instead.
    """
    default = SamplingConfig()
    for field, key in owned.items():
        if getattr(sampling, field) != getattr(default, field):
            raise ValueError(f"{section}.sampling.{field} is set by {section}.{key}; set that "
                             f"instead (got {getattr(sampling, field)!r})")
