"""Checkpoints that used to load silently wrong or crash naming nothing (issue 15): each is a
CheckpointError naming the file and the tensor (or config key) and both shapes or sizes."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
import safetensors.numpy

from jaxint import models

K_PROJ = "model.layers.0.self_attn.k_proj.weight"


@pytest.fixture
def ckpt_dir(tiny_hf, tmp_path):
    """A private single-file copy of the tiny Qwen2 checkpoint."""
    out = tmp_path / "ckpt"
    shutil.copytree(tiny_hf["qwen2"].path, out)
    return out


def _rewrite(directory, fn):
    path = directory / "model.safetensors"
    tensors = safetensors.numpy.load_file(str(path))
    fn(tensors)
    safetensors.numpy.save_file(tensors, str(path))


def _header(path):
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + size]), raw[8 + size :]


def _write_header(path, header, data):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def test_transposed_tensor_with_the_same_element_count_fails(ckpt_dir):
    # k_proj is [kv_heads * head_dim, hidden] = [24, 48]; its transpose has the same size and
    # used to pass the check made after the reshape, loading scrambled weights.
    _rewrite(ckpt_dir, lambda t: t.update({K_PROJ: np.ascontiguousarray(t[K_PROJ].T)}))
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    msg = str(err.value)
    assert "model.safetensors" in msg and K_PROJ in msg, msg
    assert "(48, 24)" in msg and "(24, 48)" in msg, msg


def test_square_tensor_of_another_layout_is_not_confused(tiny_hf, tmp_path):
    # The unmodified checkpoints of every family still load (the check is not too strict).
    for family in ("qwen2", "qwen3", "llama"):
        models.load_hf(tiny_hf[family].path, dtype="float32")


def test_truncated_data_section_names_file_and_tensor(ckpt_dir):
    path = ckpt_dir / "model.safetensors"
    header, data = _header(path)
    path.write_bytes(path.read_bytes()[: -len(data) // 2])
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    msg = str(err.value)
    assert str(path) in msg and "truncated" in msg, msg
    assert any(name in msg for name in header if name != "__metadata__"), msg


def test_offsets_that_disagree_with_shape_and_dtype(ckpt_dir):
    path = ckpt_dir / "model.safetensors"
    header, data = _header(path)
    start, end = header[K_PROJ]["data_offsets"]
    header[K_PROJ]["data_offsets"] = [start, end - 4]
    _write_header(path, header, data)
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    msg = str(err.value)
    assert K_PROJ in msg and str(path) in msg and str(end - start) in msg, msg


def test_header_larger_than_the_file(ckpt_dir):
    path = ckpt_dir / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    with pytest.raises(models.CheckpointError, match="header of 10000 bytes"):
        models.load_hf(ckpt_dir, dtype="float32")


@pytest.mark.parametrize(("key", "value", "want"), [
    ("num_hidden_layers", "one", "integer"),
    ("hidden_size", 48.0, "integer"),
    ("num_attention_heads", True, "integer"),
    ("rms_norm_eps", "1e-6", "number"),
    ("tie_word_embeddings", "no", "true or false"),
    ("rope_scaling", [1, 2], "object"),
])
def test_config_value_of_the_wrong_type_names_the_key(ckpt_dir, key, value, want):
    cfg = json.loads((ckpt_dir / "config.json").read_text())
    (ckpt_dir / "config.json").write_text(json.dumps({**cfg, key: value}))
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    msg = str(err.value)
    assert "config.json" in msg and f"'{key}'" in msg and want in msg, msg


def test_config_missing_a_required_key(ckpt_dir):
    cfg = json.loads((ckpt_dir / "config.json").read_text())
    del cfg["vocab_size"]
    (ckpt_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(models.CheckpointError, match=r"config\.json: key 'vocab_size': missing"):
        models.load_hf(ckpt_dir, dtype="float32")


@pytest.mark.parametrize("text", ["{not json", "[]", '{"weight_map": []}',
                                  '{"weight_map": {"a": "../x.safetensors"}}'])
def test_invalid_index_is_a_checkpoint_error_naming_it(ckpt_dir, text):
    (ckpt_dir / "model.safetensors.index.json").write_text(text)
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    assert "model.safetensors.index.json" in str(err.value)
