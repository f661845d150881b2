"""Malformed checkpoint directories fail with a CheckpointError naming tensor, file and shapes."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import safetensors.numpy

from jaxint import models

Q_PROJ = "model.layers.1.self_attn.q_proj.weight"


@pytest.fixture
def ckpt_dir(tiny_hf, tmp_path):
    """A private, sharded copy of the tiny Qwen2 checkpoint (two files + index)."""
    src = tiny_hf["qwen2"].path
    out = tmp_path / "ckpt"
    out.mkdir()
    shutil.copy(src / "config.json", out / "config.json")
    tensors = safetensors.numpy.load_file(str(src / "model.safetensors"))
    names = sorted(tensors)
    half = len(names) // 2
    parts = {"model-00001-of-00002.safetensors": names[:half],
             "model-00002-of-00002.safetensors": names[half:]}
    weight_map = {}
    for fname, part in parts.items():
        safetensors.numpy.save_file({n: tensors[n] for n in part}, str(out / fname))
        weight_map.update({n: fname for n in part})
    (out / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    models.load_hf(out, dtype="float32")  # the unmodified copy loads
    return out


def _edit(directory, name, fn):
    """Applies fn(dict of tensors) to the shard holding `name`; returns that shard's name."""
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    fname = index["weight_map"][name]
    tensors = safetensors.numpy.load_file(str(directory / fname))
    fn(tensors)
    safetensors.numpy.save_file(tensors, str(directory / fname))
    return fname


def test_missing_tensor(ckpt_dir):
    _edit(ckpt_dir, Q_PROJ, lambda t: t.pop(Q_PROJ))
    index = json.loads((ckpt_dir / "model.safetensors.index.json").read_text())
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    msg = str(err.value)
    assert Q_PROJ in msg and "missing" in msg
    assert all(f in msg for f in set(index["weight_map"].values())), msg  # the files searched


def test_unexpected_tensor(ckpt_dir):
    stray = "model.layers.0.mlp.extra_proj.weight"
    fname = _edit(ckpt_dir, Q_PROJ, lambda t: t.update({stray: np.zeros((3, 5), np.float32)}))
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    msg = str(err.value)
    assert stray in msg and fname in msg and "unexpected" in msg


def test_wrong_shape(ckpt_dir):
    # HF q_proj of the tiny Qwen2 is [heads * head_dim, hidden] = [48, 48]; write [40, 48].
    fname = _edit(ckpt_dir, Q_PROJ, lambda t: t.update({Q_PROJ: t[Q_PROJ][:40]}))
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    msg = str(err.value)
    assert Q_PROJ in msg and fname in msg
    assert re.search(r"\(40, 48\)", msg), msg  # the shape found
    assert re.search(r"\(48, 48\)", msg), msg  # the shape expected, in HF layout


def test_wrong_shape_of_a_non_reshapable_bias(ckpt_dir):
    name = "model.layers.0.self_attn.k_proj.bias"  # expected [kv_heads * head_dim] = [24]
    fname = _edit(ckpt_dir, name, lambda t: t.update({name: np.zeros((25,), np.float32)}))
    with pytest.raises(models.CheckpointError) as err:
        models.load_hf(ckpt_dir, dtype="float32")
    msg = str(err.value)
    assert name in msg and fname in msg and "(25,)" in msg and "(24,)" in msg


def test_missing_config(ckpt_dir):
    (ckpt_dir / "config.json").unlink()
    with pytest.raises(models.CheckpointError, match=r"config\.json"):
        models.load_hf(ckpt_dir, dtype="float32")


def test_no_safetensors_files(tiny_hf, tmp_path):
    shutil.copy(tiny_hf["qwen2"].path / "config.json", tmp_path / "config.json")
    with pytest.raises(models.CheckpointError, match=r"no \*\.safetensors"):
        models.load_hf(tmp_path, dtype="float32")


def test_index_naming_a_missing_file(ckpt_dir):
    (ckpt_dir / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(models.CheckpointError, match="model-00002-of-00002.safetensors"):
        models.load_hf(ckpt_dir, dtype="float32")


def test_unsupported_config(ckpt_dir):
    cfg = json.loads((ckpt_dir / "config.json").read_text())
    (ckpt_dir / "config.json").write_text(json.dumps({**cfg, "model_type": "gpt2"}))
    with pytest.raises(models.CheckpointError, match="gpt2"):
        models.load_hf(ckpt_dir, dtype="float32")
