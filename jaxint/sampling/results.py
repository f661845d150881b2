"""What the sampler returns for each (prompt, sample)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Sample:
    """One generated continuation.

    Attributes:
        prompt_index: index of the prompt in the request list.
        sample_index: 0..n-1 among the prompt's samples.
        tokens: [n_tokens] int32 generated ids; a stop token, when hit, is the last one.
        logprobs: [n_tokens] float32 log-probability of each token under the untempered
            model distribution.
        finish_reason: "stop" (stop token or string) or "length" (max_new_tokens).
        stop: the stop token id or stop string that ended it, if any.
        text: decoded text (when a tokenizer was given), cut right after a stop string.
    """

    prompt_index: int
    sample_index: int
    tokens: np.ndarray
    logprobs: np.ndarray
    finish_reason: str
    stop: int | str | None = None
    text: str | None = None
