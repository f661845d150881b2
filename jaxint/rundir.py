"""The run directory: where every stage reads its inputs and writes its outputs.

Layout (`runs/NAME/`):
    config.yaml          the resolved config of the latest invocation
    manifest.json        which stages finished, when, with which outputs and summary
    STAGE/               one folder per stage (generate, verify, intervene, filter, sft, rl, eval)
        shard-00000.jsonl  records, written shard by shard (atomic rename when complete)
        metrics.jsonl      one JSON object per line (step metrics, progress)
        ...                checkpoints/, hf/, summary.json as the stage needs

Resumption: a stage splits its work into deterministic shards; a finished shard is renamed
into place atomically, so a killed process loses at most the shard it was writing and a
re-run skips finished shards (no duplicates). Only JAX process 0 writes; every process
computes the same work.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

STAGES = ("generate", "verify", "intervene", "filter", "sft", "rl", "eval")


def is_writer() -> bool:
    """True on the process that writes files (process 0; every process when JAX is absent)."""
    try:
        import jax

        return jax.process_index() == 0
    except Exception:  # noqa: BLE001 - no JAX backend: a plain single process
        return True


def atomic_write_text(path: pathlib.Path, text: str) -> None:
    """Writes via a temporary file and rename, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_jsonl(path: pathlib.Path, records: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_jsonl(path: pathlib.Path) -> Iterator[dict[str, Any]]:
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{line_no}: invalid JSON ({err.msg})") from None


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class Shards:
    """A stage's records as numbered JSONL shards in `directory` (name-00000.jsonl, ...)."""

    def __init__(self, directory: str | pathlib.Path, name: str = "shard"):
        self.directory = pathlib.Path(directory)
        self.name = name

    def path(self, index: int) -> pathlib.Path:
        return self.directory / f"{self.name}-{index:05d}.jsonl"

    def done(self, index: int) -> bool:
        return self.path(index).is_file()

    def write(self, index: int, records: Sequence[dict[str, Any]], *,
              safe_point: bool = True) -> None:
        """Commits shard `index`; then, if SIGTERM arrived (preemption), raises `Preempted`:
        a committed shard is the sampling stages' safe point, as a checkpoint is training's.
        A side file written before the shard's main one passes `safe_point=False`, so a
        signal cannot drop the main file's finished work."""
        if is_writer():
            write_jsonl(self.path(index), records)
        from jaxint.train import preemption  # lazy: run files must not import training

        if safe_point and preemption.requested():
            raise preemption.Preempted(f"preempted after writing {self.path(index)}")

    def indices(self) -> list[int]:
        prefix = f"{self.name}-"
        return sorted(
            int(p.stem[len(prefix):]) for p in self.directory.glob(f"{prefix}*.jsonl")
            if p.stem[len(prefix):].isdigit()
        )

    def read(self) -> Iterator[dict[str, Any]]:
        """All records, in shard order."""
        for index in self.indices():
            yield from read_jsonl(self.path(index))


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """Deterministic consecutive shards of `items` (the unit of resumption)."""
    if size < 1:
        raise ValueError(f"shard size must be >= 1, got {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]


class Metrics:
    """Appends one JSON object per line to STAGE/metrics.jsonl, flushed every line."""

    def __init__(self, path: str | pathlib.Path):
        self.path = pathlib.Path(path)
        if is_writer():
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        if not is_writer():
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"time": now(), **record}, default=float) + "\n")

    def read(self) -> list[dict[str, Any]]:
        return list(read_jsonl(self.path)) if self.path.is_file() else []


class RunDir:
    """A run directory and its manifest."""

    def __init__(self, root: str | pathlib.Path):
        self.root = pathlib.Path(root)
        if is_writer():
            self.root.mkdir(parents=True, exist_ok=True)

    def stage(self, name: str) -> pathlib.Path:
        path = self.root / name
        if is_writer():
            path.mkdir(parents=True, exist_ok=True)
        return path

    def metrics(self, stage: str) -> Metrics:
        return Metrics(self.stage(stage) / "metrics.jsonl")

    @property
    def manifest_path(self) -> pathlib.Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.is_file():
            return {"stages": {}}
        return json.loads(self.manifest_path.read_text())

    def is_done(self, stage: str) -> bool:
        return self.manifest()["stages"].get(stage, {}).get("status") == "done"

    def mark(self, stage: str, status: str, **info: Any) -> None:
        """Records a stage's status ("running" or "done") with a summary in the manifest."""
        if not is_writer():
            return
        manifest = self.manifest()
        entry = manifest["stages"].get(stage, {})
        entry.update(status=status, updated=now(), **info)
        manifest["stages"][stage] = entry
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, default=str))

    def summary(self, stage: str) -> dict[str, Any]:
        return self.manifest()["stages"].get(stage, {}).get("summary", {})
