"""Export: jaxint -> save_hf -> transformers gives the same logits; HF -> jaxint -> HF is exact."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import safetensors.numpy
from flax import nnx

from jaxint import models
from jaxint.models import config as model_config
from tests.fixtures import jaxint_models
from tests.fixtures import tiny_hf as tiny_hf_lib

TOL = 1e-4
# Three families on the invariance tests' shapes (SMALL), so the eager initialisers'
# per-shape compiles are shared with those tests.
CONFIGS = {
    "qwen3": dataclasses.replace(jaxint_models.SMALL, attention_bias=False),
    "qwen2": dataclasses.replace(jaxint_models.SMALL, qk_norm=False, tie_embeddings=True,
                                 model_type="qwen2"),
    "llama": dataclasses.replace(
        jaxint_models.SMALL, qk_norm=False, attention_bias=False, model_type="llama",
        rope_theta=500_000.0, rope_type="llama3", rope_factor=8.0,
        rope_original_max_position=64, rms_norm_eps=1e-5,
    ),
}


def _ours(model, ids: np.ndarray) -> np.ndarray:
    return np.asarray(jaxint_models.forward(model, ids, None))  # the default, no-mask path


def _hf_logits(path, ids: np.ndarray) -> np.ndarray:
    import torch
    import transformers

    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return tiny_hf_lib.reference_logits(hf, ids)


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_save_hf_loads_in_transformers_with_same_logits(family, tmp_path):
    cfg = CONFIGS[family]
    model = jaxint_models.perturbed_init(cfg, seed=3)
    ids = np.random.RandomState(0).randint(0, cfg.vocab_size, (2, 11)).astype(np.int32)
    ours = _ours(model, ids)

    out = models.save_hf(model, tmp_path / "single", dtype="float32")
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    written = json.loads((out / "config.json").read_text())
    assert written["model_type"] == family and written["tie_word_embeddings"] == cfg.tie_embeddings
    err = float(np.abs(_hf_logits(out, ids) - ours).max())
    print(f"\nEXPORT {family}: max|Δlogits| jaxint vs transformers(save_hf) = {err:.3e}")
    assert err <= TOL


def test_export_refuses_flags_transformers_would_not_build():
    """A Qwen3 without q/k norm would load in transformers with fresh norms: refuse it."""
    cfg = dataclasses.replace(CONFIGS["qwen3"], qk_norm=False)
    with pytest.raises(ValueError, match="qk_norm"):
        model_config.to_hf_config(cfg)
    with pytest.raises(ValueError, match="attention_bias"):
        model_config.to_hf_config(dataclasses.replace(CONFIGS["llama"], attention_bias=True))
    hf = model_config.to_hf_config(CONFIGS["llama"])
    with pytest.raises(ValueError, match="attention_bias=true"):  # it would bias o_proj too
        model_config.from_hf_config({**hf, "attention_bias": True})


def test_sharded_save_has_index_and_round_trips(tmp_path):
    cfg = CONFIGS["qwen2"]
    model = jaxint_models.perturbed_init(cfg, seed=4)
    out = models.save_hf(model, tmp_path / "sharded", dtype="float32", max_shard_bytes=60_000)
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) >= 3, shards
    assert shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    for shard in shards:  # every tensor is where the index says, and nowhere else
        names = safetensors.numpy.load_file(str(out / shard)).keys()
        assert all(index["weight_map"][n] == shard for n in names)
    assert sum(len(safetensors.numpy.load_file(str(out / s))) for s in shards) == len(
        index["weight_map"]
    )

    ids = np.random.RandomState(1).randint(0, cfg.vocab_size, (2, 9)).astype(np.int32)
    ours = _ours(model, ids)
    assert float(np.abs(_hf_logits(out, ids) - ours).max()) <= TOL

    back = models.load_hf(out, dtype="float32")
    for (path, a), (_, b) in zip(nnx.to_flat_state(nnx.state(model)),
                                 nnx.to_flat_state(nnx.state(back)), strict=True):
        np.testing.assert_array_equal(np.asarray(a.get_value()), np.asarray(b.get_value()),
                                      err_msg="/".join(map(str, path)))


@pytest.mark.parametrize("family", tiny_hf_lib.FAMILIES)
def test_hf_to_jaxint_to_hf_is_bit_exact(tiny_hf, family, tmp_path):
    """Every layout transform and its inverse: the re-exported tensors equal HF's own."""
    ckpt = tiny_hf[family]
    model = models.load_hf(ckpt.path, dtype="float32")
    out = models.save_hf(model, tmp_path / family, dtype="float32")
    original = safetensors.numpy.load_file(str(ckpt.path / "model.safetensors"))
    exported = safetensors.numpy.load_file(str(out / "model.safetensors"))
    if ckpt.model.config.tie_word_embeddings:
        original.pop("lm_head.weight", None)
    assert sorted(exported) == sorted(original)
    for name, value in original.items():
        np.testing.assert_array_equal(exported[name], value, err_msg=name)
