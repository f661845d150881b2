"""Independent references for the sampler tests: HF greedy decoding and small utilities.

Nothing here calls `jaxint.sampling`: these are the yardsticks its output is held to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

# torch is imported inside the functions: test_select needs none of it.

# jaxint's float32 logits match transformers' within 1e-4 (tests/models/test_hf_parity.py),
# so an argmax can only differ where HF's top-2 logits are closer than 2e-4. Greedy parity
# is only well-posed if every step of the reference path clears that by a wide margin.
MIN_GREEDY_MARGIN = 1e-3


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Runs the PyTorch reference single-threaded. Tiny and batch-2 decodes gain nothing from
    a second thread, and on a busy 2-core machine torch's OpenMP workers spin against XLA's
    thread pool: 10x slower measured (a SmolLM2 forward: 17 s with 2 threads, 2.4 s with 1)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def hf_greedy(
    hf, prompts: Sequence[Sequence[int]], max_new_tokens: int, *, pad_id: int = 0
) -> tuple[list[list[int]], float]:
    """transformers greedy continuations of a left-padded mixed-length batch, no early stop.

    Returns:
        (new tokens per prompt, the smallest top-1 minus top-2 logit gap along the paths).
    """
    import torch

    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), pad_id, np.int64)
    mask = np.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = p
        mask[i, width - len(p) :] = 1
    with torch.no_grad(), one_torch_thread():
        out = hf.generate(
            torch.as_tensor(ids),
            attention_mask=torch.as_tensor(mask),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=pad_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
    logits = torch.stack(out.logits, dim=1).to(torch.float64).numpy()  # [B, new, V]
    top2 = np.sort(logits, axis=-1)[..., -2:]
    margin = float((top2[..., 1] - top2[..., 0]).min())
    return out.sequences[:, width:].tolist(), margin


def hf_logprobs(hf, prompt: Sequence[int], generated: Sequence[int]) -> np.ndarray:
    """log-softmax of HF's teacher-forced logits at each generated token [len(generated)]."""
    logits = hf_logits(hf, prompt, generated)
    lp = logits - logits.max(-1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    return lp[np.arange(len(generated)), np.asarray(generated)]


def sampling_distribution(
    logits: np.ndarray, temperature: float, top_k: int, top_p: float, *, slack: float = 0.0
) -> np.ndarray:
    """The renormalised distribution [V] that temperature / top-k / top-p sampling draws from,
    straight from the definitions, in float64 (zeros outside the allowed set).

    Temperature first, then the top_k largest logits (0: all), then the smallest set of most
    likely tokens whose mass reaches top_p (token i kept iff the mass before it is below
    top_p, so the most likely token is always kept). `slack` > 0 widens the nucleus to
    top_p + slack, a superset that absorbs float32 rounding at the cut.
    """
    z = np.asarray(logits, np.float64) / temperature
    order = np.argsort(-z, kind="stable")
    if top_k:
        order = order[:top_k]
    probs = np.exp(z[order] - z[order].max())
    probs /= probs.sum()
    if top_p < 1.0:
        keep = np.cumsum(probs) - probs < top_p + slack
        order, probs = order[keep], probs[keep]
    out = np.zeros(z.shape[-1])
    out[order] = probs / probs.sum()
    return out


def hf_logits(hf, prompt: Sequence[int], generated: Sequence[int]) -> np.ndarray:
    """HF's teacher-forced logits [len(generated), V] predicting each generated token."""
    import torch

    full = torch.as_tensor([list(prompt) + list(generated)], dtype=torch.long)
    with torch.no_grad(), one_torch_thread():
        logits = hf(full).logits[0].to(torch.float64).numpy()
    return logits[len(prompt) - 1 : len(prompt) + len(generated) - 1]


def cut_at_stop_ids(tokens: Sequence[int], stop_ids: Sequence[int]) -> list[int]:
    """Greedy output under stop tokens: the unstopped path up to and including the first stop
    token (greedy decoding is a prefix-closed process, so no rerun is needed)."""
    out = []
    for t in tokens:
        out.append(t)
        if t in stop_ids:
            break
    return out


def cut_at_stop_string(tokenizer, tokens: Sequence[int], stop: str) -> list[int] | None:
    """The shortest prefix of `tokens` whose decoded text contains `stop` (None: never)."""
    for k in range(1, len(tokens) + 1):
        if stop in tokenizer.decode(list(tokens[:k]), skip_special_tokens=True):
            return list(tokens[:k])
    return None


def random_prompts(lengths: Sequence[int], vocab: int, seed: int, low: int = 4) -> list[list[int]]:
    """Random prompts of the given lengths, avoiding ids below `low` (special tokens)."""
    rng = np.random.RandomState(seed)
    return [rng.randint(low, vocab, size=n).tolist() for n in lengths]


def tokens_of(results) -> list[list[list[int]]]:
    """results[i][j].tokens as nested lists (for exact comparisons with readable diffs)."""
    return [[s.tokens.tolist() for s in row] for row in results]


def pick_stop_ids(
    paths: Sequence[Sequence[int]], always: Sequence[int], min_uncut: int = 2
) -> tuple[int, ...]:
    """`always` plus one id that makes greedy outputs end at many different lengths.

    The extra id maximises the number of distinct output lengths, among choices that leave
    at least `min_uncut` rows running to the budget and end some row at its very first
    token (the sample then ends at prefill: the engine's corner case). Deterministic.
    """
    best, best_score = None, -1
    for extra in sorted({t for p in paths for t in p} - set(always)):
        ids = (*always, extra)
        cut = [cut_at_stop_ids(p, ids) for p in paths]
        uncut = sum(c[-1] not in ids for c in cut)
        score = len({len(c) for c in cut})
        if uncut >= min_uncut and min(map(len, cut)) == 1 and score > best_score:
            best, best_score = ids, score
    assert best is not None, "no stop id leaves enough rows uncut"
    return tuple(sorted(best))
