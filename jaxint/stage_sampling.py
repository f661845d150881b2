"""The one place a stage's config section becomes the `SamplingConfig` its engine runs with.

Each stage section (generate, select, intervene, filter, rl, eval) carries the sampling knobs
under the same names (`max_new_tokens`, `temperature`, `top_k`, `top_p`, and for stages that
size their own engine `max_batch_slots`, `chunk_steps`); what differs per stage (how many
samples per prompt, the stop tokens, a prompt limit) is passed explicitly. The result is
validated by `SamplingConfig` itself, so every stage gets the same checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from jaxint.sampling import config as sampling_config

_SAMPLING_KEYS = ("max_new_tokens", "temperature", "top_k", "top_p")
_ENGINE_KEYS = ("max_batch_slots", "chunk_steps")  # read when the section sizes its engine


def settings(
    section: Any, *, n: int, stop_token_ids: Sequence[int] | None = None,
    max_prompt_tokens: int | None = None, base: sampling_config.SamplingConfig | None = None,
) -> sampling_config.SamplingConfig:
    """`base` (default: `SamplingConfig()`) with `section`'s sampling settings.

    Args:
        section: A stage config with the `_SAMPLING_KEYS` fields (and optionally the
            `_ENGINE_KEYS`, which else come from `base`).
        n: Samples per prompt.
        stop_token_ids: Tokens that end a sample (None keeps `base`'s).
        max_prompt_tokens: Longest prompt the engine accepts (None keeps `base`'s).
        base: Engine settings to start from (another stage's slots and chunk size).
    """
    values = {k: getattr(section, k) for k in _SAMPLING_KEYS}
    values.update({k: getattr(section, k) for k in _ENGINE_KEYS if hasattr(section, k)})
    if stop_token_ids is not None:
        values["stop_token_ids"] = tuple(stop_token_ids)
    if max_prompt_tokens is not None:
        values["max_prompt_tokens"] = max_prompt_tokens
    return dataclasses.replace(base or sampling_config.SamplingConfig(), n=n, **values)
