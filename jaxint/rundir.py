"""The run directory: where every stage reads its inputs and writes its outputs.

Layout (`runs/NAME/`):
    config.yaml          the resolved config of the run, written once (see `jaxint.drift`)
    history.log          one JSON line per invocation: time, command line, config hash
    manifest.json        which stages finished, when, with which outputs and summary, and
                         the config values each stage ran with (its fingerprint)
    archive/TIME/        stages moved aside by `--restart-from STAGE` (never deleted)
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

import contextlib
import datetime
import json
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar

from jaxint.data import records as records_lib

# What a stage reports when it finishes: a JSON object of counts and rates, kept in the
# manifest (and, for some stages, `stats.json`). Free-form by design: stages add figures over
# time, and readers (`status`, the report, the demo) look keys up with defaults.
Summary: TypeAlias = dict[str, Any]


class RunDirError(ValueError):
    """A run directory's own files (manifest, config) are unreadable or contradict the run;
    the message names the file and the way on."""


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
    try:
        # Strict UTF-8: text that cannot be encoded (a lone surrogate) fails here, and the
        # temporary file is removed, so neither a torn nor a stray file is left behind.
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _jsonl_line(path: pathlib.Path, index: int, record: Mapping[str, Any]) -> str:
    """One record as a JSONL line that is valid UTF-8, or a ValueError naming file and record."""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{path}: record {index + 1}: text is not valid Unicode ({err.reason} "
                         f"at character {err.start}); nothing was written") from None
    return line


class Record(Protocol):
    """A typed row of a run directory file (see `jaxint.data.records`)."""

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R")
Row = Mapping[str, Any] | Record  # what the writers take: a record, or a plain row


def _as_row(row: Row) -> Mapping[str, Any]:
    return row if isinstance(row, Mapping) else row.to_json()


def write_jsonl(path: pathlib.Path, records: Iterable[Row]) -> None:
    """Writes records (their `to_json` rows) or plain rows, one JSON object a line."""
    atomic_write_text(path, "".join(_jsonl_line(path, i, _as_row(r))
                                    for i, r in enumerate(records)))


def read_jsonl(path: pathlib.Path) -> Iterator[dict[str, Any]]:
    for _, row in _numbered_rows(path):
        yield row


def _numbered_rows(path: pathlib.Path) -> Iterator[tuple[int, Any]]:
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield line_no, json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{line_no}: invalid JSON ({err.msg})") from None


def read_records(path: pathlib.Path, kind: type[R],
                 parse: Callable[[Mapping[str, Any]], R] | None = None) -> list[R]:
    """The records of a JSONL file: ``kind.from_json`` (or ``parse``) of every row.

    Raises:
        records.RecordError: a row does not make a ``kind``; the message names the file, the
            line and what is wrong, on one line.
    """
    parse = parse or kind.from_json  # type: ignore[attr-defined]
    out = []
    for line_no, row in _numbered_rows(path):
        try:
            out.append(parse(row))
        except records_lib.RecordError as err:
            raise records_lib.RecordError(f"{path}:{line_no}: {err}") from None
        except (ValueError, TypeError, KeyError) as err:
            raise records_lib.RecordError(
                f"{path}:{line_no}: not a valid {kind.__name__} row: {err}") from None
    return out


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

    def write(self, index: int, records: Sequence[Row], *,
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
        """All rows, in shard order."""
        for index in self.indices():
            yield from read_jsonl(self.path(index))

    def read_records(self, kind: type[R], index: int | None = None) -> list[R]:
        """Shard ``index``'s records, or all of them in shard order (see `read_records`)."""
        indices = self.indices() if index is None else [index]
        return [r for i in indices for r in read_records(self.path(i), kind)]


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
        # The one place every stage reports through: TensorBoard / W&B get the same line.
        from jaxint.metrics import writers  # lazy: a no-op unless `logging:` opened writers

        writers.emit(self.path, json.loads(json.dumps(record, default=float)))

    def read(self) -> list[dict[str, Any]]:
        return list(read_jsonl(self.path)) if self.path.is_file() else []

    def truncate_after(self, step: int) -> int:
        """Drops the rows a restore at `step` undoes (step > `step`, and "final" rows, which a
        finishing run writes again), plus a torn last line; returns how many were dropped.

        A trainer killed between checkpoints logged steps it will redo after the restore;
        without this, metrics.jsonl repeats those steps and step counts drift.
        """
        if not is_writer() or not self.path.is_file():
            return 0
        lines = self.path.read_text(encoding="utf-8").splitlines()
        kept = [line for n, line in enumerate(lines, 1)
                if line.strip() and self._keep(line, step, last=n == len(lines))]
        dropped = sum(1 for line in lines if line.strip()) - len(kept)
        if dropped:
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        return dropped

    def _keep(self, line: str, step: int, *, last: bool) -> bool:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if last:
                return False  # the line a kill -9 tore
            raise RunDirError(f"{self.path}: invalid JSON line in the middle of the file; "
                              f"move the file away to restart its metrics") from None
        if not isinstance(row, dict) or row.get("final"):
            return False
        return not (isinstance(row.get("step"), (int, float)) and row["step"] > step)


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
        """The parsed manifest; a corrupt one is an error naming the file, never a KeyError."""
        if not self.manifest_path.is_file():
            return {"stages": {}}
        hint = ("move it away (the stages' outputs stay) or use a new run name")
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunDirError(f"{self.manifest_path}: not valid JSON ({err}); {hint}") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
            what = (f"no 'stages' object (keys: {sorted(data)})" if isinstance(data, dict)
                    else f"a JSON {type(data).__name__}, not an object")
            raise RunDirError(f"{self.manifest_path}: not a jaxint manifest: {what}; {hint}")
        return data

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

    def summary(self, stage: str) -> Summary:
        return self.manifest()["stages"].get(stage, {}).get("summary", {})
