"""Greedy generation against `transformers.generate`, token for token.

Tiny random Qwen3 and Llama (sharpened, see conftest) on a mixed-length batch that jaxint
right-pads into one prefill and HF left-pads with an attention mask; the real
SmolLM2-135M-Instruct weights on chat-templated prompts. Every reference path is checked to
have no near-tie at any step (`helpers.MIN_GREEDY_MARGIN`), so a mismatch is a bug, not
rounding. The returned log-probabilities are held to HF's teacher-forced forward pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from jaxint import sampling
from jaxint.sampling import engine as engine_lib
from tests.sampling import conftest, helpers

PROMPT_LENGTHS = (1, 5, 14, 9, 3)  # mixed, including a one-token prompt
# Long enough that the cache (192 entries) outgrows the smallest visible-cache bucket (128):
# decode runs first over kv_len=128, then over the whole cache, so the kv_len bucketing is on
# the tested path, and positions pass the llama3 rope's original context (64).
NEW_TOKENS = 144
GREEDY = sampling.SamplingConfig(
    max_new_tokens=NEW_TOKENS, temperature=0.0, max_batch_slots=8, chunk_steps=8
)
LOGPROB_TOL = 1e-4  # float32 (the bound)


@pytest.fixture(scope="module", params=["qwen3", "llama"])
def greedy_case(request):
    """(sharp model, prompts, jaxint results, HF greedy tokens, HF min top-2 margin)."""
    sharp = request.getfixturevalue(f"sharp_{request.param}")
    prompts = helpers.random_prompts(PROMPT_LENGTHS, conftest.VOCAB, seed=11)
    ref, margin = helpers.hf_greedy(sharp.hf, prompts, NEW_TOKENS)
    out = sampling.generate(sharp.model, prompts, GREEDY, seed=0, progress=False)
    return sharp, prompts, out, ref, margin


def test_tiny_greedy_matches_transformers(greedy_case):
    """Guards prefill + cached decode + argmax on a mixed-length batch: jaxint's 144 greedy
    tokens equal HF's (left-padded batch, attention mask) for every prompt, with finish
    reason "length"."""
    sharp, prompts, out, ref, margin = greedy_case
    assert engine_lib.MIN_KV_BUCKET < max(PROMPT_LENGTHS) + NEW_TOKENS
    assert margin > helpers.MIN_GREEDY_MARGIN, f"{sharp.family}: reference has a near-tie"
    assert [len(r) for r in out] == [1] * len(prompts)
    for i, (row, want) in enumerate(zip(out, ref, strict=True)):
        assert row[0].tokens.tolist() == want, f"{sharp.family} prompt {i} (len {len(prompts[i])})"
        assert row[0].finish_reason == "length" and row[0].stop is None
    assert len({tuple(r) for r in ref}) == len(ref), "degenerate fixture: identical outputs"


def test_tiny_greedy_logprobs_match_teacher_forcing(greedy_case):
    """The returned per-token logprobs equal log-softmax of HF's full (uncached) forward pass
    over prompt + output at the chosen tokens, within 1e-4."""
    sharp, prompts, out, _, _ = greedy_case
    for prompt, row in zip(prompts, out, strict=True):
        s = row[0]
        assert s.logprobs.dtype == np.float32 and s.logprobs.shape == s.tokens.shape
        want = helpers.hf_logprobs(sharp.hf, prompt, s.tokens.tolist())
        np.testing.assert_allclose(s.logprobs, want, atol=LOGPROB_TOL, rtol=0)


SMOL_CONVERSATIONS = [
    [{"role": "user", "content": "Explain step by step how to add the fractions 1/3 and 1/4."}],
    [
        {"role": "system", "content": "You are a careful math tutor."},
        {
            "role": "user",
            "content": "Write a short proof that the sum of two even numbers is even.",
        },
    ],
]
SMOL_NEW_TOKENS = 32


@pytest.fixture(scope="module")
def smollm2(smollm2_dir):
    """(jaxint model, HF model, tokenizer) for the real SmolLM2-135M-Instruct weights."""
    import torch
    import transformers

    from jaxint import models

    tok = transformers.AutoTokenizer.from_pretrained(smollm2_dir)
    hf = transformers.AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    model = models.load_hf(smollm2_dir, dtype="float32", scan_layers=True)
    return model, hf.eval(), tok


def _smol_config(**kw) -> sampling.SamplingConfig:
    return sampling.SamplingConfig(
        max_new_tokens=SMOL_NEW_TOKENS, temperature=0.0, max_batch_slots=2, chunk_steps=16, **kw
    )


def test_smollm2_greedy_matches_transformers_and_cuts_stop_string_mid_token(smollm2):
    """Real weights, chat-templated prompts of different lengths (one batch): 32 greedy
    tokens equal HF's. Then a stop string is chosen that ends *inside* a BPE token of that
    output; the rerun must return the tokens up to the completing one (nothing after) and a
    `.text` cut right after the stop string."""
    model, hf, tok = smollm2
    prompts = [
        sampling.render_chat(tok, c, continue_final_message=False) for c in SMOL_CONVERSATIONS
    ]
    assert len(set(map(len, prompts))) == 2
    assert tok.decode(prompts[0]).endswith("<|im_start|>assistant\n")
    ref, margin = helpers.hf_greedy(hf, prompts, SMOL_NEW_TOKENS, pad_id=tok.pad_token_id or 0)
    assert margin > helpers.MIN_GREEDY_MARGIN, "reference has a near-tie"
    out = sampling.generate(model, prompts, _smol_config(), seed=0, tokenizer=tok, progress=False)
    for i, want in enumerate(ref):
        assert out[i][0].tokens.tolist() == want, f"prompt {i}: {tok.decode(want)!r}"
        assert out[i][0].text == tok.decode(want, skip_special_tokens=True)

    stop, k = _mid_token_stop(tok, ref[1])
    rerun = sampling.generate(
        model, prompts, _smol_config(stop_strings=(stop,)), seed=0, tokenizer=tok, progress=False
    )
    other = helpers.cut_at_stop_string(tok, ref[0], stop) or ref[0]  # the other prompt
    assert rerun[0][0].tokens.tolist() == other
    got = rerun[1][0]
    assert got.tokens.tolist() == ref[1][: k + 1]
    assert got.finish_reason == "stop" and got.stop == stop
    full = tok.decode(ref[1][: k + 1], skip_special_tokens=True)
    assert got.text == full[: full.index(stop) + len(stop)] and got.text.endswith(stop)
    assert len(got.text) < len(full)  # the completing token reaches past the stop string


def _mid_token_stop(tok, tokens: list[int]) -> tuple[str, int]:
    """A stop string ending inside token k (k >= 12) whose first occurrence is there."""
    for k in range(12, len(tokens)):
        before = tok.decode(tokens[:k], skip_special_tokens=True)
        piece = tok.decode(tokens[: k + 1], skip_special_tokens=True)[len(before) :]
        if len(piece.strip()) < 2 or len(before) < 3:
            continue
        stop = before[-3:] + piece[: len(piece) - len(piece.lstrip()) + 1]
        if helpers.cut_at_stop_string(tok, tokens, stop) == tokens[: k + 1]:
            return stop, k
    raise AssertionError("no token in the output is long enough for a mid-token stop")
