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
    """One .safetensors file: its header parsed, its data memory-mapped on demand."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        try:
            with open(path, "rb") as f:
                (size,) = struct.unpack("<Q", f.read(8))
                if size > _MAX_HEADER:
                    raise CheckpointError(f"{path}: header of {size} bytes is implausible")
                header = json.loads(f.read(size))
        except (OSError, struct.error, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
        self.metadata = header.pop("__metadata__", None) or {}
        self.entries = header
        self._data_start = 8 + size
        self._map: np.memmap | None = None

    def tensor(self, name: str) -> np.ndarray:
        """A read-only view of tensor `name` (no bytes are read until it is sliced)."""
        entry = self.entries[name]
        if entry["dtype"] not in _DTYPES:
            raise CheckpointError(
                f"{self.path}: tensor {name} has unsupported dtype {entry['dtype']}")
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        start, end = entry["data_offsets"]
        raw = self._map[self._data_start + start : self._data_start + end]
        return raw.view(_DTYPES[entry["dtype"]]).reshape(entry["shape"])


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
            weight_map = json.loads(index.read_text()).get("weight_map", {})
            names = sorted(set(weight_map.values()))
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
