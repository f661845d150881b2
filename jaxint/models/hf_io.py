"""Hugging Face checkpoint directories <-> jaxint decoders.

`load_hf` places every parameter directly with its target sharding, reading only the slice
each addressable device needs (see `safetensors_io`). `save_hf` writes config.json plus
sharded safetensors that `transformers.AutoModelForCausalLM.from_pretrained` loads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import shutil
from collections.abc import Callable

import jax
import ml_dtypes
import numpy as np
from flax import nnx
from jax.sharding import Mesh, SingleDeviceSharding

from jaxint.models import build, decoder, safetensors_io
from jaxint.models import config as model_config
from jaxint.parallel import sharding

log = logging.getLogger(__name__)
CheckpointError = safetensors_io.CheckpointError
Transform = Callable[[np.ndarray], np.ndarray]

# Buffers some exporters write that carry no parameters.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)
_TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
    "merges.txt", "tokenizer.model", "added_tokens.json", "chat_template.jinja",
    "generation_config.json",
)


@dataclasses.dataclass(frozen=True)
class TensorMap:
    """How one jaxint parameter corresponds to HF tensors (one per layer when stacked)."""

    ours: str  # attribute path, e.g. "blocks/q"
    hf: str  # HF name, with "{i}" for the layer index when stacked
    to_ours: Transform  # HF layout -> jaxint layout (numpy views only, no copies)
    to_hf: Transform  # jaxint layout -> HF layout

    @property
    def stacked(self) -> bool:
        return "{i}" in self.hf


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _transpose(x: np.ndarray) -> np.ndarray:
    return x.T


def _heads_in(n: int, h: int) -> tuple[Transform, Transform]:
    """Projection into heads: HF [n*h, D] <-> jaxint [D, n, h]."""
    return (lambda x: x.reshape(n, h, -1).transpose(2, 0, 1),
            lambda x: x.transpose(1, 2, 0).reshape(n * h, -1))


def _heads_out(n: int, h: int) -> tuple[Transform, Transform]:
    """Projection out of heads: HF [D, n*h] <-> jaxint [n, h, D]."""
    return (lambda x: x.reshape(-1, n, h).transpose(1, 2, 0),
            lambda x: x.transpose(2, 0, 1).reshape(-1, n * h))


def _bias(n: int, h: int) -> tuple[Transform, Transform]:
    return (lambda x: x.reshape(n, h), lambda x: x.reshape(n * h))


def tensor_maps(cfg: model_config.ModelConfig) -> list[TensorMap]:
    """The complete name and layout correspondence for `cfg`."""
    N, K, H = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    layer = "model.layers.{i}."
    maps = [
        TensorMap("embed", "model.embed_tokens.weight", _identity, _identity),
        TensorMap("final_norm", "model.norm.weight", _identity, _identity),
        TensorMap("blocks/attn_norm", layer + "input_layernorm.weight", _identity, _identity),
        TensorMap("blocks/mlp_norm", layer + "post_attention_layernorm.weight", _identity,
                  _identity),
        TensorMap("blocks/q", layer + "self_attn.q_proj.weight", *_heads_in(N, H)),
        TensorMap("blocks/k", layer + "self_attn.k_proj.weight", *_heads_in(K, H)),
        TensorMap("blocks/v", layer + "self_attn.v_proj.weight", *_heads_in(K, H)),
        TensorMap("blocks/o", layer + "self_attn.o_proj.weight", *_heads_out(N, H)),
        TensorMap("blocks/gate", layer + "mlp.gate_proj.weight", _transpose, _transpose),
        TensorMap("blocks/up", layer + "mlp.up_proj.weight", _transpose, _transpose),
        TensorMap("blocks/down", layer + "mlp.down_proj.weight", _transpose, _transpose),
    ]
    if cfg.attention_bias:
        maps += [
            TensorMap("blocks/q_bias", layer + "self_attn.q_proj.bias", *_bias(N, H)),
            TensorMap("blocks/k_bias", layer + "self_attn.k_proj.bias", *_bias(K, H)),
            TensorMap("blocks/v_bias", layer + "self_attn.v_proj.bias", *_bias(K, H)),
        ]
    if cfg.qk_norm:
        maps += [
            TensorMap("blocks/q_norm", layer + "self_attn.q_norm.weight", _identity, _identity),
            TensorMap("blocks/k_norm", layer + "self_attn.k_norm.weight", _identity, _identity),
        ]
    if not cfg.tie_embeddings:
        maps.append(TensorMap("lm_head", "lm_head.weight", _transpose, _transpose))
    return maps


def _hf_names(tmap: TensorMap, num_layers: int) -> list[str]:
    return [tmap.hf.format(i=i) for i in range(num_layers)] if tmap.stacked else [tmap.hf]


# config.json keys and the JSON types they must have (bool is rejected where int is meant:
# `"num_hidden_layers": true` is a broken export, not one layer).
_INT_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
             "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings")
_FLOAT_KEYS = ("rms_norm_eps", "rope_theta")
_BOOL_KEYS = ("tie_word_embeddings", "attention_bias", "use_sliding_window", "mlp_bias",
              "qk_norm")
_DICT_KEYS = ("rope_scaling", "rope_parameters")
_REQUIRED_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                  "num_attention_heads")


def _type_error(hf: dict, key: str) -> str | None:
    """Why `hf[key]` has the wrong JSON type, or None; null counts as absent."""
    value = hf.get(key)
    if value is None:
        return "missing" if key in _REQUIRED_KEYS else None
    if key in _INT_KEYS:
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif key in _FLOAT_KEYS:
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif key in _BOOL_KEYS:
        ok, want = isinstance(value, bool), "true or false"
    else:
        ok, want = isinstance(value, dict), "an object"
    return None if ok else f"expected {want}, got {type(value).__name__} {value!r}"


def _check_types(hf: object, cfg_path: pathlib.Path) -> dict:
    """The parsed config.json, after checking every key the decoder reads has its JSON type,
    so a bad value fails here naming the key, not as a TypeError deep inside the model."""
    if not isinstance(hf, dict):
        raise CheckpointError(f"{cfg_path}: top level must be a JSON object, got "
                              f"{type(hf).__name__}")
    for key in _REQUIRED_KEYS + _INT_KEYS + _FLOAT_KEYS + _BOOL_KEYS + _DICT_KEYS:
        reason = _type_error(hf, key)
        if reason:
            raise CheckpointError(f"{cfg_path}: key {key!r}: {reason}")
    return hf


def read_config(path: str | pathlib.Path, **runtime) -> model_config.ModelConfig:
    """ModelConfig from `path/config.json` plus run-time options (dtype, remat, ...)."""
    cfg_path = pathlib.Path(path) / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{cfg_path}: not found (is {path} an HF model directory?)")
    try:
        hf = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{cfg_path}: invalid JSON ({err})") from err
    hf = _check_types(hf, cfg_path)
    try:
        return model_config.from_hf_config(hf, **runtime)
    except KeyError as err:
        raise CheckpointError(f"{cfg_path}: key {err}: missing") from err
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{cfg_path}: {err}") from err


def _check_names(ckpt: safetensors_io.Checkpoint, cfg: model_config.ModelConfig) -> None:
    expected = {n for m in tensor_maps(cfg) for n in _hf_names(m, cfg.num_layers)}
    present = set(ckpt.names())
    missing = sorted(expected - present)
    if missing:
        files = ", ".join(sorted({f.path.name for f in ckpt.files}))
        raise CheckpointError(
            f"{ckpt.directory}: missing tensor {missing[0]} (searched {files})"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )
    unexpected = sorted(
        n for n in present - expected
        if not n.endswith(_IGNORED_SUFFIXES) and not (cfg.tie_embeddings and n == "lm_head.weight")
    )
    if unexpected:
        raise CheckpointError(
            f"{ckpt.directory}: unexpected tensor {unexpected[0]} in {ckpt.file_of(unexpected[0])}"
            + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else "")
        )


def _check_shape(
    ckpt: safetensors_io.Checkpoint, name: str, tmap: TensorMap, expected: tuple[int, ...]
) -> None:
    """The stored shape must equal the HF shape implied by config.json, compared *before*
    any reshape: a transposed k_proj has the right element count and would otherwise load
    as scrambled weights."""
    hf_expected = tuple(tmap.to_hf(np.empty(expected, np.int8)).shape)
    stored = ckpt.shape(name)
    if stored != hf_expected:
        raise CheckpointError(
            f"{ckpt.directory / ckpt.file_of(name)}: tensor {name}: stored shape {stored} "
            f"does not match the expected HF shape {hf_expected} from config.json "
            f"(jaxint {tmap.ours} {expected})"
        )


def _loader(
    ckpt: safetensors_io.Checkpoint, tmap: TensorMap, dtype: np.dtype, stacked_len: int
) -> Callable:
    """Callback for `jax.make_array_from_callback`: builds one device's slice."""
    cache: dict[str, np.ndarray] = {}

    def load(index: tuple[slice, ...]) -> np.ndarray:
        key = repr(index)
        if key not in cache:
            if tmap.stacked:
                layers = range(stacked_len)[index[0]]
                parts = [tmap.to_ours(ckpt.tensor(tmap.hf.format(i=i)))[index[1:]] for i in layers]
                cache[key] = np.stack(parts).astype(dtype)
            else:
                cache[key] = np.asarray(tmap.to_ours(ckpt.tensor(tmap.hf))[index], dtype=dtype)
        return cache[key]

    return load


def load_hf(
    path: str | pathlib.Path, *, dtype: str = "bfloat16", mesh: Mesh | None = None,
    param_dtype: str | None = None, **runtime,
) -> decoder.Decoder:
    """Loads a local HF model directory (config.json + safetensors) as a jaxint decoder.

    Args:
        path: directory with config.json and model.safetensors or an index of shards.
        dtype: compute dtype.
        mesh: if given, each parameter is placed with its logical sharding on this mesh,
            tensor by tensor; otherwise on the default device.
        param_dtype: storage dtype of the parameters (default: `dtype`). Training keeps
            float32 parameters with bfloat16 compute.
        **runtime: other ModelConfig run-time options (attention_impl, remat, scan_layers).

    Raises:
        CheckpointError: missing/unexpected/mis-shaped tensors, naming tensor, file, shapes.
    """
    cfg = read_config(path, dtype=dtype, param_dtype=param_dtype or dtype, **runtime)
    ckpt = safetensors_io.Checkpoint(path)
    _check_names(ckpt, cfg)
    graphdef, state = nnx.split(build.abstract(cfg))
    by_path = {m.ours: m for m in tensor_maps(cfg)}
    flat = nnx.to_flat_state(state)
    values = []
    for key, var in flat:
        tmap = by_path["/".join(map(str, key))]
        shape = tuple(var.get_value().shape)
        per_layer = shape[1:] if tmap.stacked else shape
        for name in _hf_names(tmap, cfg.num_layers):
            _check_shape(ckpt, name, tmap, per_layer)
        target = (sharding.variable_sharding(var, mesh) if mesh is not None
                  else SingleDeviceSharding(jax.devices()[0]))
        array = jax.make_array_from_callback(
            shape, target, _loader(ckpt, tmap, np.dtype(cfg.param_dtype), cfg.num_layers)
        )
        values.append((key, var.replace(array)))
    return nnx.merge(graphdef, nnx.from_flat_state(values))


def _to_host(x: jax.Array) -> np.ndarray:
    if x.is_fully_addressable:
        return np.asarray(jax.device_get(x))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def _numpy_dtype(name: str) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def _hf_layout(model: decoder.Decoder) -> list[tuple[str, TensorMap, int | None, tuple[int, ...]]]:
    """(hf_name, map, layer or None, HF shape) for every tensor, in writing order."""
    cfg = model.config
    state = {"/".join(map(str, k)): v for k, v in nnx.to_flat_state(nnx.state(model))}
    out = []
    for tmap in tensor_maps(cfg):
        shape = tuple(state[tmap.ours].get_value().shape)
        per_layer = shape[1:] if tmap.stacked else shape
        hf_shape = tuple(tmap.to_hf(np.empty(per_layer, np.int8)).shape)
        layers = range(cfg.num_layers) if tmap.stacked else [None]
        out += [(tmap.hf.format(i=i), tmap, i, hf_shape) for i in layers]
    return out


def _plan_shards(layout: list, itemsize: int, max_shard_bytes: int) -> list[int]:
    """Shard number of each tensor: consecutive tensors fill a shard up to the limit."""
    shard, size, plan = 0, 0, []
    for _, _, _, shape in layout:
        nbytes = int(np.prod(shape)) * itemsize
        if size and size + nbytes > max_shard_bytes:
            shard, size = shard + 1, 0
        plan.append(shard)
        size += nbytes
    return plan


def save_hf(
    model: decoder.Decoder, path: str | pathlib.Path, *, dtype: str | None = None,
    tokenizer_dir: str | pathlib.Path | None = None, max_shard_bytes: int = 2 * 2**30,
) -> pathlib.Path:
    """Writes `model` as an HF directory loadable by `AutoModelForCausalLM.from_pretrained`.

    Tensors are gathered one (layer) at a time and each safetensors shard is written as soon
    as it is complete, so host memory holds at most one shard. All processes must call it
    (sharded parameters are gathered collectively); only process 0 writes. Tokenizer files
    are copied from `tokenizer_dir` when given.
    """
    from safetensors.numpy import save_file

    out = pathlib.Path(path)
    dtype = dtype or model.config.param_dtype
    np_dtype = _numpy_dtype(dtype)
    writer = jax.process_index() == 0
    if writer:
        out.mkdir(parents=True, exist_ok=True)
    state = {"/".join(map(str, k)): v for k, v in nnx.to_flat_state(nnx.state(model))}
    layout = _hf_layout(model)
    plan = _plan_shards(layout, np_dtype.itemsize, max_shard_bytes)
    total = plan[-1] + 1
    file_names = [
        "model.safetensors" if total == 1 else f"model-{k + 1:05d}-of-{total:05d}.safetensors"
        for k in range(total)
    ]
    pending: dict[str, np.ndarray] = {}
    for n, ((name, tmap, layer, _), shard) in enumerate(zip(layout, plan)):
        value = state[tmap.ours].get_value()
        host = _to_host(value if layer is None else value[layer])
        pending[name] = np.ascontiguousarray(tmap.to_hf(host)).astype(np_dtype)
        if n + 1 == len(plan) or plan[n + 1] != shard:
            if writer:
                save_file(pending, str(out / file_names[shard]), metadata={"format": "pt"})
            pending = {}
    if writer:
        if total > 1:
            weight_map = {entry[0]: file_names[s] for entry, s in zip(layout, plan)}
            index = {"metadata": {}, "weight_map": weight_map}
            (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        hf_cfg = model_config.to_hf_config(model.config, torch_dtype=dtype)
        (out / "config.json").write_text(json.dumps(hf_cfg, indent=2))
        _copy_tokenizer(tokenizer_dir, out)
    return out


def _copy_tokenizer(tokenizer_dir: str | pathlib.Path | None, out: pathlib.Path) -> None:
    if tokenizer_dir is None:
        return
    for fname in _TOKENIZER_FILES:
        src = pathlib.Path(tokenizer_dir) / fname
        if src.is_file() and src.resolve() != (out / fname).resolve():
            shutil.copy2(src, out / fname)
