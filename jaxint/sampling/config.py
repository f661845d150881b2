"""Sampling settings (frozen, validated): what to sample and how the engine batches it."""

from __future__ import annotations

import dataclasses


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

    def __post_init__(self) -> None:
        checks = {
            "max_new_tokens": self.max_new_tokens >= 1,
            "temperature": self.temperature >= 0,
            "top_k": self.top_k >= 0,
            "top_p": 0 < self.top_p <= 1,
            "n": self.n >= 1,
            "max_batch_slots": self.max_batch_slots >= 1,
            "chunk_steps": self.chunk_steps >= 1,
            "prefill_tokens": self.prefill_tokens >= 1,
            "cache_dtype": self.cache_dtype in ("auto", "float32", "bfloat16", "float16"),
            "max_prompt_tokens": self.max_prompt_tokens is None or self.max_prompt_tokens >= 1,
            "max_cache_tokens": self.max_cache_tokens is None or self.max_cache_tokens >= 1,
        }
        for field, ok in checks.items():
            if not ok:
                raise ValueError(f"sampling.{field}: invalid value {getattr(self, field)!r}")
        if any(not s for s in self.stop_strings):
            raise ValueError("sampling.stop_strings: empty stop string")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0
