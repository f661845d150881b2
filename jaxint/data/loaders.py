"""Loading problem sets from files, bundled names and Hugging Face datasets.

Every source is reduced to a stream of raw rows (one JSON object each, with its 1-based line or
row number); one validator maps a row onto :class:`records.Problem` through the field names in
:class:`config.DatasetConfig`. A bad row (invalid JSON or UTF-8, a missing, empty or wrongly
typed field, a duplicate id) raises :class:`DataError` naming the file, the line and the field,
because a silently dropped problem skews every metric computed later. With
``on_bad_row="skip"`` bad rows are counted, logged, and appended (raw row + reason) to a rejects
JSONL file, and loading goes on.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gzip
import json
import logging
import math
import pathlib
from collections.abc import Iterator
from typing import IO, Any

from jaxint import rundir
from jaxint.data import bundled, decontaminate, records
from jaxint.data import config as data_config

_LOG = logging.getLogger(__name__)
_ROW = "(row)"  # pseudo field name for errors that concern the whole row


class DataError(ValueError):
    """A data file or one of its rows is invalid.

    Attributes:
        file: The file (or data set spec) the row came from.
        line: 1-based line (JSONL) or row (JSON list, Parquet, HF) number, or ``None``.
        field: The offending field, ``"(row)"`` for whole-row problems, or ``None``.
    """

    def __init__(
        self, message: str, *, file: str = "", line: int | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.file, self.line, self.field = file, line, field


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What a load produced and what it rejected or dropped.

    Attributes:
        problems: The good rows, in source order (sources in ``cfg.paths`` order).
        num_read: Rows looked at (good + skipped; rows after ``limit`` was reached are not read).
        num_skipped: Bad rows skipped (always 0 with ``on_bad_row="error"``).
        rejects_path: Where rejected rows were appended, or ``None``.
        dropped: Good rows left out on purpose, counted by reason: ``overlaps``, ``exact``,
            ``ngram`` (decontamination) and ``flag:<field>`` (``exclude_flags``).
        dropped_path: Where the dropped rows were listed, or ``None``.
    """

    problems: list[records.Problem]
    num_read: int
    num_skipped: int
    rejects_path: str | None
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)
    dropped_path: str | None = None

    @property
    def num_dropped(self) -> int:
        return sum(self.dropped.values())


@dataclasses.dataclass(frozen=True)
class _Row:
    number: int  # 1-based line (JSONL) or row number
    unit: str  # "line" or "row"
    raw: Any  # what goes to the rejects file: the line's text or the row object
    value: Any = None
    error: str | None = None  # set when the row could not even be parsed


class _BadField(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclasses.dataclass(frozen=True)
class _Source:
    label: str  # file path or spec, used in messages
    stem: str  # used for derived ids and the default source name
    rows: Iterator[_Row]


def load_problems(
    cfg: data_config.DatasetConfig, *, rejects_path: str | pathlib.Path | None = None,
    dropped_path: str | pathlib.Path | None = None,
) -> list[records.Problem]:
    """Loads the problems ``cfg`` describes (see :func:`load_with_report` for the details).

    Returns:
        The good problems in source order; skipped rows are logged with their count.
    """
    return load_with_report(cfg, rejects_path=rejects_path, dropped_path=dropped_path).problems


def load_with_report(
    cfg: data_config.DatasetConfig, *, rejects_path: str | pathlib.Path | None = None,
    dropped_path: str | pathlib.Path | None = None,
) -> LoadReport:
    """Loads problems from every source in ``cfg.paths`` and reports what was read and left.

    Rows whose ``exclude_flags`` field is true, and (with ``cfg.decontaminate``) rows that
    copy a bundled evaluation problem, are dropped before ``limit`` counts them.

    Args:
        cfg: Sources and field mapping.
        rejects_path: With ``on_bad_row="skip"``, each rejected row is appended here as one
            JSON object ``{"file", "line", "field", "reason", "raw"}``; the file is created
            only if something is rejected, and never truncated.
        dropped_path: Each dropped row is listed here as ``{"file", "line", "id", "reason",
            "eval_set", "eval_id", "score"}``; the file is rewritten by every load that drops
            something (the list follows from the config alone).

    Raises:
        DataError: a bad row with ``on_bad_row="error"``, an unreadable or unknown source, or
            a pool with no problem left.
        ImportError: a Hugging Face source without the ``datasets`` package.
    """
    sources = [_open_source(spec) for spec in cfg.paths]  # every spec checked before reading
    state = _LoadState(cfg)
    with _Rejects(rejects_path) as rejects:
        for spec, source in zip(cfg.paths, sources):
            if state.full():
                break
            _load_source(spec, source, cfg, state, rejects, rejects_path)
    if not state.problems:
        label = " + ".join(s.label for s in sources)
        raise DataError(f"{label}: no problem left after dropping {state.dropped_counts()} "
                        f"(see {dropped_path})", file=label)
    written = _write_dropped(dropped_path, state.dropped)
    skipped = str(rejects_path) if (rejects_path is not None and state.num_skipped) else None
    return LoadReport(state.problems, state.num_read, state.num_skipped, skipped,
                      state.dropped_counts(), written)


class _LoadState:
    """What a load has gathered so far, across its sources."""

    def __init__(self, cfg: data_config.DatasetConfig) -> None:
        self.cfg = cfg
        self.problems: list[records.Problem] = []
        self.first_seen: dict[str, tuple[str, str]] = {}  # id -> (file, line), all sources
        self.dropped: list[dict[str, Any]] = []
        self.num_read = self.num_skipped = 0

    def full(self) -> bool:
        return self.cfg.limit is not None and len(self.problems) >= self.cfg.limit

    def dropped_counts(self) -> dict[str, int]:
        return dict(collections.Counter(entry["reason"] for entry in self.dropped))


def _load_source(
    spec: str, source: _Source, cfg: data_config.DatasetConfig, state: _LoadState,
    rejects: _Rejects, rejects_path: str | pathlib.Path | None,
) -> None:
    index = (decontaminate.build_index(cfg.decontaminate_ngram)
             if cfg.decontaminate and decontaminate.applies_to(spec) else None)
    read = skipped = 0
    for row in source.rows:
        read += 1
        try:
            problem = _checked_problem(row, cfg, source, state.first_seen)
        except _BadField as bad:
            if cfg.on_bad_row == "error":
                raise _row_error(source, row, bad) from None
            skipped += 1
            rejects.add(source.label, row, bad)
            continue
        state.first_seen[problem.id] = (source.label, f"{row.unit} {row.number}")
        entry = _drop_entry(problem, cfg, index)
        if entry is not None:
            state.dropped.append({"file": source.label, row.unit: row.number, **entry})
            continue
        state.problems.append(problem)
        if state.full():
            break
    state.num_read += read
    state.num_skipped += skipped
    _check_not_empty(source, cfg, read, skipped, rejects_path)
    if skipped:
        _LOG.warning("%s: skipped %d bad rows of %d", source.label, skipped, read)


def _drop_entry(problem: records.Problem, cfg: data_config.DatasetConfig,
                index: decontaminate.Index | None) -> dict[str, Any] | None:
    """Why ``problem`` is left out of the pool (as a dropped-rows entry), or ``None``."""
    for flag in cfg.exclude_flags:
        if problem.meta.get(flag) is True:
            return {"id": problem.id, "reason": f"flag:{flag}", "eval_set": None,
                    "eval_id": None, "score": None}
    match = index.match(problem, cfg.decontaminate_threshold) if index is not None else None
    if match is None:
        return None
    return {"id": problem.id, "reason": match.reason, "eval_set": match.eval_set,
            "eval_id": match.eval_id, "score": match.score}


def _write_dropped(path: str | pathlib.Path | None, dropped: list[dict[str, Any]]) -> str | None:
    if dropped:
        reasons = collections.Counter(entry["reason"] for entry in dropped)
        _LOG.warning("data: dropped %d rows (%s)%s", len(dropped), dict(sorted(reasons.items())),
                     f"; listed in {path}" if path is not None else "")
    if path is None or not dropped:
        return None
    text = "".join(json.dumps(entry, ensure_ascii=True) + "\n" for entry in dropped)
    rundir.atomic_write_text(pathlib.Path(path), text)
    return str(path)


def _check_not_empty(
    source: _Source, cfg: data_config.DatasetConfig, num_read: int, num_skipped: int,
    rejects_path: str | pathlib.Path | None,
) -> None:
    """A source that yields no problem is an error here, naming the file: otherwise every
    stage 'succeeds' on nothing and the run fails stages later naming no file."""
    if num_read == 0:
        raise DataError(f"{source.label}: no rows (the data source is empty)", file=source.label)
    if num_skipped == num_read:
        where = f"; see {rejects_path}" if rejects_path is not None else ""
        raise DataError(
            f"{source.label}: all {num_read} rows were rejected (on_bad_row={cfg.on_bad_row!r})"
            f"{where}", file=source.label)


def _checked_problem(
    row: _Row, cfg: data_config.DatasetConfig, source: _Source,
    first_seen: dict[str, tuple[str, str]],
) -> records.Problem:
    if row.error is not None:
        raise _BadField(_ROW, row.error)
    _check_unicode(row.value)
    problem = _to_problem(row.value, cfg, f"{source.stem}-{row.number - 1}", source.stem)
    if len(problem.problem) > cfg.max_problem_chars:
        raise _BadField(cfg.problem_key, f"{len(problem.problem)} characters > "
                        f"data.max_problem_chars={cfg.max_problem_chars}")
    if problem.id in first_seen:
        label, where = first_seen[problem.id]
        first = where if label == source.label else f"{label} {where}"
        raise _BadField(
            cfg.id_key,
            f"duplicate id {problem.id!r} at {row.unit} {row.number} (first at {first})",
        )
    return problem


def _row_error(source: _Source, row: _Row, bad: _BadField) -> DataError:
    where = f"{row.unit} {row.number}"
    return DataError(
        f"{source.label}: {where}: field {bad.field!r}: {bad.reason}",
        file=source.label,
        line=row.number,
        field=bad.field,
    )


class _Rejects(contextlib.AbstractContextManager):
    """Records rejected rows in a JSONL file, replacing the entries an earlier load of the
    same source wrote (so every command that reloads the data does not append them again)
    and keeping all other lines. Written once, atomically, when the load ends."""

    def __init__(self, path: str | pathlib.Path | None) -> None:
        self._path = None if path is None else pathlib.Path(path)
        self._labels: set[str] = set()
        self._lines: list[str] = []

    def add(self, label: str, row: _Row, bad: _BadField) -> None:
        if self._path is None:
            return
        self._labels.add(label)
        entry = {
            "file": label,
            row.unit: row.number,
            "field": bad.field,
            "reason": bad.reason,
            "raw": row.raw,
        }
        # ASCII escapes: a raw row with a lone surrogate still gives valid UTF-8 JSON.
        self._lines.append(json.dumps(entry, ensure_ascii=True, default=repr) + "\n")

    def __exit__(self, *exc: object) -> None:
        if self._path is None or not self._lines:
            return
        kept = [line for line in _read_lines(self._path) if not self._ours(_entry_file(line))]
        rundir.atomic_write_text(self._path, "".join(kept + self._lines))

    def _ours(self, label: Any) -> bool:
        return isinstance(label, str) and label in self._labels


def _read_lines(path: pathlib.Path) -> list[str]:
    if not path.is_file():
        return []
    return [line + "\n" for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _entry_file(line: str) -> Any:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    return entry.get("file") if isinstance(entry, dict) else None


def _check_unicode(value: Any) -> None:
    """Lone surrogates (JSON's "\\ud800") are valid Python text but not Unicode: they crash
    tokenizers and strict writers far from here, so a row holding one is bad at load."""
    if not isinstance(value, dict):
        return
    for key, field in value.items():
        bad = _first_surrogate(field)
        if bad is not None:
            raise _BadField(str(key), f"invalid Unicode: lone surrogate U+{ord(bad[1]):04X} "
                            f"at character {bad[0]}")


def _first_surrogate(value: Any, depth: int = 0) -> tuple[int, str] | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            return err.start, value[err.start]
        return None
    if depth > 32:
        return None
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for k, v in items:
        found = _first_surrogate(k, depth + 1) or _first_surrogate(v, depth + 1)
        if found is not None:
            return found
    return None


# ----------------------------------------------------------------------------- row -> Problem


def _to_problem(
    value: Any, cfg: data_config.DatasetConfig, default_id: str, default_source: str
) -> records.Problem:
    if not isinstance(value, dict):
        raise _BadField(_ROW, f"expected a JSON object, got {type(value).__name__}")
    solution = _optional_text(value, cfg.solution_key)
    if solution is None and cfg.require_solution:
        raise _BadField(cfg.solution_key, "missing or empty (require_solution is set)")
    return records.Problem(
        id=_id(value, cfg.id_key, default_id),
        problem=_required_text(value, cfg.problem_key),
        answer=_answer(value, cfg.answer_key),
        solution=solution,
        source=_optional_text(value, cfg.source_key) or default_source,
        meta=_meta(value, cfg),
    )


def _meta(value: dict[str, Any], cfg: data_config.DatasetConfig) -> dict[str, Any]:
    mapped = {cfg.id_key, cfg.problem_key, cfg.answer_key, cfg.solution_key, cfg.source_key}
    extra = {k: v for k, v in value.items() if k not in mapped}
    # A "meta" object (as Problem.to_dict writes it) is unpacked, so records round-trip.
    nested = extra.pop("meta", None) if isinstance(extra.get("meta"), dict) else None
    return {**nested, **extra} if nested else extra


def _required_text(value: dict[str, Any], key: str) -> str:
    text = value.get(key)
    if text is None:
        raise _BadField(key, "missing or null")
    if not isinstance(text, str):
        raise _BadField(key, f"expected a string, got {type(text).__name__}")
    if not text.strip():
        raise _BadField(key, "empty")
    return text


def _optional_text(value: dict[str, Any], key: str) -> str | None:
    text = value.get(key)
    if text is not None and not isinstance(text, str):
        raise _BadField(key, f"expected a string or null, got {type(text).__name__}")
    return text if text and text.strip() else None


def _id(value: dict[str, Any], key: str, default: str) -> str:
    raw = value.get(key)
    if raw is None:
        return default  # sources without ids get a stable, position-based one
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if not isinstance(raw, str):
        raise _BadField(key, f"expected a string or integer, got {type(raw).__name__}")
    if not raw.strip():
        raise _BadField(key, "empty")
    return raw


def _answer(value: dict[str, Any], key: str) -> str:
    raw = value.get(key)
    # bool is an int subclass: "true" as an answer is a data bug, not the number 1.
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise _BadField(key, f"not a finite number: {raw!r}")
        # Sources such as AMC store 27 as 27.0; the gold answer is "27".
        return str(int(raw)) if raw.is_integer() else repr(raw)
    return _required_text(value, key)


# ----------------------------------------------------------------------------- sources


def _open_source(spec: str) -> _Source:
    if spec.startswith("hf:"):
        return _hf_source(spec)
    if bundled.is_bundled(spec):
        file = bundled.path(spec)
        return _Source(f"{spec} ({file})", spec, _file_rows(file))
    path = pathlib.Path(spec).expanduser()
    if path.is_dir():
        return _hf_source(spec)
    if not path.is_file():
        raise DataError(
            f"data source not found: {spec!r} (not a file or directory, not 'hf:ORG/NAME', "
            f"not a bundled name: {bundled.short_names()})",
            file=spec,
        )
    return _Source(str(path), _stem(path), _file_rows(path))


def _stem(path: pathlib.Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.rsplit(".", 1)[0]


def _format(path: pathlib.Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    if kind not in (".jsonl", ".json", ".parquet"):
        raise DataError(
            f"{path}: unsupported file type {kind or '(none)'!r}; use .jsonl, .json, .parquet "
            "(the JSON kinds may be gzip-compressed, .gz)",
            file=str(path),
        )
    if kind == ".parquet" and path.suffix.lower() == ".gz":
        raise DataError(f"{path}: gzip-compressed parquet is not supported", file=str(path))
    return kind


def _file_rows(path: pathlib.Path) -> Iterator[_Row]:
    kind = _format(path)
    if kind == ".jsonl":
        return _jsonl_rows(path)
    if kind == ".json":
        return _json_rows(path)
    return _parquet_rows(path)


def _open_binary(path: pathlib.Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")


def _jsonl_rows(path: pathlib.Path) -> Iterator[_Row]:
    with _open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue  # blank lines (often a trailing one) are not rows
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as err:
                raw = line.decode("utf-8", errors="replace").rstrip("\n")
                yield _Row(number, "line", raw, error=f"invalid UTF-8: {err}")
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                yield _Row(number, "line", text.rstrip("\n"), error=f"invalid JSON: {err}")
                continue
            yield _Row(number, "line", value, value)


def _json_rows(path: pathlib.Path) -> Iterator[_Row]:
    with _open_binary(path) as handle:
        try:
            data = json.loads(handle.read().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"{path}: invalid JSON file: {err}", file=str(path)) from None
    if not isinstance(data, list):
        raise DataError(
            f"{path}: a .json data file must hold a list of objects, got {type(data).__name__}",
            file=str(path),
        )
    for number, value in enumerate(data, start=1):
        yield _Row(number, "row", value, value)


def _parquet_rows(path: pathlib.Path) -> Iterator[_Row]:
    import pyarrow.parquet as pq  # deferred: pyarrow is heavy and only parquet needs it

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for value in batch.to_pylist():
            number += 1
            yield _Row(number, "row", value, value)


def _hf_source(spec: str) -> _Source:
    try:
        import datasets  # optional extra
    except ImportError:
        raise ImportError(
            f"loading {spec!r} needs the Hugging Face 'datasets' package, an optional extra: "
            "pip install 'jaxint[hf]'"
        ) from None
    if spec.startswith("hf:"):
        name, _, split = spec[3:].partition(":")
        data = datasets.load_dataset(name, split=split or "train")
        return _Source(spec, name.rsplit("/", 1)[-1], _object_rows(data))
    return _Source(spec, pathlib.Path(spec).name, _object_rows(_load_hf_dir(datasets, spec)))


def _load_hf_dir(datasets: Any, directory: str) -> Any:
    """A dataset saved by ``save_to_disk``, or a directory of files ``load_dataset`` reads."""
    try:
        data = datasets.load_from_disk(directory)
    except FileNotFoundError:
        return datasets.load_dataset(directory, split="train")
    if isinstance(data, datasets.DatasetDict):
        if "train" in data:
            return data["train"]
        if len(data) == 1:
            return next(iter(data.values()))
        raise DataError(
            f"{directory}: several splits {sorted(data)} and none is 'train'", file=directory
        )
    return data


def _object_rows(data: Any) -> Iterator[_Row]:
    for number, value in enumerate(data, start=1):
        yield _Row(number, "row", value, value)
