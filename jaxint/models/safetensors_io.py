"""Lazy, memory-mapped reading of safetensors checkpoints (one or many files).

A tensor is returned as a numpy view of the mapped file: reshaping, transposing and slicing
it reads only the pages a device shard needs, so a 4B model loads onto a mesh without ever
being held whole in host memory, and each host of a pod reads only its own shards.
"""

from __future__ import annotations

import json
import pathlib
import struct
from collections.abc import Iterator

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}
_MAX_HEADER = 100 * 2**20


class CheckpointError(ValueError):
    """A checkpoint file is missing, malformed, or does not match the model."""


class SafetensorsFile:
    """One .safetensors file: its header parsed and checked, its data memory-mapped on demand.

    Every entry's dtype, shape and data offsets are checked against each other and against
    the file size when the file is opened, so a truncated or hand-edited file fails here,
    naming file and tensor, not later as a numpy reshape error naming neither.
    """

    def __init__(self, path: pathlib.Path):
        self.path = path
        try:
            file_size = path.stat().st_size
            with open(path, "rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                if size > _MAX_HEADER or 8 + size > file_size:
                    raise CheckpointError(
                        f"{path}: header of {size} bytes is implausible (file has "
                        f"{file_size} bytes)")
                header = json.loads(f.read(size))
        except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
        if not isinstance(header, dict):
            raise CheckpointError(f"{path}: header must be a JSON object, got "
                                  f"{type(header).__name__}")
        self.metadata = header.pop("__metadata__", None) or {}
        self.entries = header
        self._data_start = 8 + size
        for name, entry in header.items():
            _check_entry(path, name, entry, file_size - self._data_start)
        self._map: np.memmap | None = None

    def tensor(self, name: str) -> np.ndarray:
        """A read-only view of tensor `name` (no bytes are read until it is sliced)."""
        entry = self.entries[name]
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        start, end = entry["data_offsets"]
        raw = self._map[self._data_start + start : self._data_start + end]
        return raw.view(_DTYPES[entry["dtype"]]).reshape(entry["shape"])


def _is_count(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _check_entry(path: pathlib.Path, name: str, entry: object, data_size: int) -> None:
    """One header entry is well formed and its bytes lie inside the file's data section."""
    where = f"{path}: tensor {name}"
    if not isinstance(entry, dict):
        raise CheckpointError(f"{where}: header entry must be an object, got {entry!r}")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _DTYPES:
        raise CheckpointError(f"{where}: unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise CheckpointError(f"{where}: shape must be a list of sizes, got {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets))
            or offsets[0] > offsets[1]):
        raise CheckpointError(f"{where}: data_offsets must be [start, end], got {offsets!r}")
    need = int(np.prod(shape, dtype=np.int64)) * np.dtype(_DTYPES[dtype]).itemsize
    if offsets[1] - offsets[0] != need:
        raise CheckpointError(
            f"{where}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes but "
            f"{dtype} {tuple(shape)} needs {need}")
    if offsets[1] > data_size:
        raise CheckpointError(
            f"{where}: data ends at byte {offsets[1]} of the data section but the file holds "
            f"only {data_size} (truncated file?)")


class Checkpoint:
    """All safetensors files of an HF model directory, addressed by tensor name."""

    def __init__(self, directory: str | pathlib.Path):
        self.directory = pathlib.Path(directory)
        if not self.directory.is_dir():
            raise CheckpointError(f"checkpoint directory not found: {self.directory}")
        files = self._files()
        self.files = [SafetensorsFile(p) for p in files]
        self.where: dict[str, SafetensorsFile] = {}
        for f in self.files:
            for name in f.entries:
                if name in self.where:
                    raise CheckpointError(
                        f"tensor {name} appears in both {self.where[name].path.name} and "
                        f"{f.path.name}"
                    )
                self.where[name] = f

    def _files(self) -> list[pathlib.Path]:
        index = self.directory / "model.safetensors.index.json"
        if index.is_file():
            names = sorted(set(_weight_map(index).values()))
            missing = [n for n in names if not (self.directory / n).is_file()]
            if missing:
                raise CheckpointError(f"{index}: lists files that do not exist: {missing}")
            return [self.directory / n for n in names]
        files = sorted(self.directory.glob("*.safetensors"))
        if not files:
            raise CheckpointError(f"{self.directory}: no *.safetensors files")
        return files

    def names(self) -> Iterator[str]:
        return iter(self.where)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.where[name].entries[name]["shape"])

    def file_of(self, name: str) -> str:
        return self.where[name].path.name

    def tensor(self, name: str) -> np.ndarray:
        return self.where[name].tensor(name)


def _weight_map(index: pathlib.Path) -> dict[str, str]:
    """`weight_map` of an index file, checked: {tensor name: file name in the directory}."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{index}: invalid JSON ({err})") from err
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{index}: key 'weight_map': expected a non-empty object of "
                              f"tensor name -> file, got {weight_map!r}")
    for name, fname in weight_map.items():
        if not isinstance(fname, str) or pathlib.Path(fname).name != fname:
            raise CheckpointError(f"{index}: key 'weight_map.{name}': expected a file name in "
                                  f"the same directory, got {fname!r}")
    return weight_map
