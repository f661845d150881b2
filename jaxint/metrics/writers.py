"""One writer interface behind `rundir.Metrics.write`: every metrics.jsonl line also goes to
TensorBoard and/or Weights & Biases when the run config's `logging:` section asks for them.

The JSONL line stays the record of truth; the other writers get its numeric leaves (nested
dicts flattened with "/", strings, bools and lists dropped) under `STAGE/KEY` names, at the
line's own `step` (or `steps`, else its line number in the stage's file), so a dashboard
shows exactly the numbers the run directory holds.

TensorBoard goes through `tensorboardX`: a maintained, pure-Python event writer that needs
no TensorFlow (`clu.metric_writers` writes TensorBoard through TensorFlow, a 500 MB install
for a JAX project). Both writers are optional extras (`pip install 'jaxint[logging]'`),
imported only when configured. Only process 0 writes (as for every run file), and the
writers are flushed when a stage ends and closed when the run ends or is preempted.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import numbers
import pathlib
import re
import secrets
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from jaxint.metrics import config as metrics_config

log = logging.getLogger(__name__)
_SKIP_KEYS = frozenset({"time"})
_TB_TAG_BAD = re.compile(r"[^-/\w.]")


def tensorboard_tag(name: str) -> str:
    """TensorBoard's tag alphabet ([-/\\w.]): other characters become "_" ("eval/pass@8" ->
    "eval/pass_8"), as tensorboardX would do anyway, but here on purpose and documented."""
    return _TB_TAG_BAD.sub("_", name)


class Writer(Protocol):
    """A sink for one stage's scalars at a step."""

    def write(self, stage: str, step: int, scalars: Mapping[str, float]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def scalars(record: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a metrics record as {"a/b": value} (bools and text dropped)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if not prefix and key in _SKIP_KEYS:
            continue
        if isinstance(value, Mapping):
            out.update(scalars(value, f"{name}/"))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def step_of(record: Mapping[str, Any], line_index: int) -> int:
    """The x-axis value of a record: its `step`, else `steps` (a final summary), else the
    line's index in the stage's metrics.jsonl."""
    for key in ("step", "steps"):
        value = record.get(key)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
    return line_index


class TensorBoardWriter:
    """Scalars as `STAGE/KEY` tags in DIR/RUN_NAME (tensorboardX event files)."""

    def __init__(self, logdir: str | pathlib.Path, *, flush_secs: int = 10):
        try:
            import tensorboardX
        except ImportError as err:
            raise ImportError("logging.tensorboard needs tensorboardX: "
                              "pip install 'jaxint[logging]'") from err
        self.logdir = pathlib.Path(logdir)
        self._writer = tensorboardX.SummaryWriter(logdir=str(self.logdir), flush_secs=flush_secs)

    def write(self, stage: str, step: int, scalars: Mapping[str, float]) -> None:
        for key, value in scalars.items():
            self._writer.add_scalar(tensorboard_tag(f"{stage}/{key}"), value, global_step=step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class WandbWriter:
    """A W&B run; each stage gets its own x-axis (`STAGE/step`), since a W&B run has one
    global step that the stages (SFT steps, then GRPO steps, ...) would otherwise fight over.

    The run id is kept in RUN_DIR/wandb_id, so a resumed run (after a preemption) continues
    the same W&B run instead of starting a second one.
    """

    def __init__(self, cfg: metrics_config.WandbConfig, run_dir: str | pathlib.Path, *,
                 run_name: str, config: Mapping[str, Any] | None = None):
        try:
            import wandb
        except ImportError as err:
            raise ImportError("logging.wandb needs wandb: pip install 'jaxint[logging]'") from err
        run_dir = pathlib.Path(run_dir)
        id_file = run_dir / "wandb_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(run_id + "\n")
        wandb_dir = pathlib.Path(cfg.dir) if cfg.dir else run_dir
        wandb_dir.mkdir(parents=True, exist_ok=True)
        self._stages: set[str] = set()
        self.run = wandb.init(
            project=cfg.project, entity=cfg.entity, name=cfg.name or run_name, group=cfg.group,
            notes=cfg.notes, tags=list(cfg.tags) or None, dir=str(wandb_dir), mode=cfg.mode,
            id=run_id, resume="allow", config=dict(config or {}), reinit="create_new")

    def write(self, stage: str, step: int, scalars: Mapping[str, float]) -> None:
        if stage not in self._stages:
            self.run.define_metric(f"{stage}/step")
            self.run.define_metric(f"{stage}/*", step_metric=f"{stage}/step")
            self._stages.add(stage)
        self.run.log({f"{stage}/step": step, **{f"{stage}/{k}": v for k, v in scalars.items()}})

    def flush(self) -> None:
        pass  # wandb streams each `log` to its service process; nothing is held here

    def close(self, *, preempted: bool = False) -> None:
        if preempted:
            self.run.mark_preempting()
        self.run.finish(exit_code=143 if preempted else 0)


# ---------------------------------------------------------------------- the process's writers
_writers: list[Writer] = []
_lines: dict[pathlib.Path, int] = {}


def active() -> list[Writer]:
    return list(_writers)


def open_writers(cfg: metrics_config.LoggingConfig, run_dir: str | pathlib.Path, *,
                 run_name: str, config: Mapping[str, Any] | None = None) -> list[Writer]:
    """Starts the configured writers for this process (none on processes other than 0)."""
    from jaxint import rundir  # lazy: rundir imports this module

    close()
    if not rundir.is_writer():
        return []
    if cfg.tensorboard:
        _writers.append(TensorBoardWriter(pathlib.Path(cfg.tensorboard) / run_name,
                                          flush_secs=cfg.flush_secs))
    if cfg.wandb.project is not None:
        _writers.append(WandbWriter(cfg.wandb, run_dir, run_name=run_name, config=config))
    for w in _writers:
        log.info("metrics: also writing to %s", type(w).__name__)
    return active()


def emit(path: pathlib.Path, record: Mapping[str, Any]) -> None:
    """Mirrors one metrics.jsonl line (already appended to `path`) to the open writers."""
    if not _writers:
        return
    if path not in _lines:  # a resumed stage: keep counting after the lines already there
        with open(path) as f:
            _lines[path] = sum(1 for line in f if line.strip()) - 1
    index = _lines[path]
    _lines[path] = index + 1
    values = scalars(record)
    if not values:
        return
    stage, step = path.parent.name, step_of(record, index)
    for w in _writers:
        try:
            w.write(stage, step, values)
        except Exception:  # noqa: BLE001 - a dashboard hiccup must not kill a training run
            log.exception("metrics: %s failed to write %s", type(w).__name__, stage)


def flush() -> None:
    for w in _writers:
        w.flush()


def close(*, preempted: bool = False) -> None:
    """Flushes and closes every writer (idempotent)."""
    while _writers:
        w = _writers.pop()
        try:
            if isinstance(w, WandbWriter):
                w.close(preempted=preempted)
            else:
                w.close()
        except Exception:  # noqa: BLE001 - closing the others matters more
            log.exception("metrics: closing %s failed", type(w).__name__)
    _lines.clear()


@contextlib.contextmanager
def session(cfg: metrics_config.LoggingConfig, run_dir: str | pathlib.Path, *, run_name: str,
            config: Mapping[str, Any] | None = None) -> Iterator[list[Writer]]:
    """Writers open for the body; closed at its end, also when it raises (a preemption's
    `Preempted` after the checkpoint marks the W&B run preempted)."""
    from jaxint.train import preemption

    writers = open_writers(cfg, run_dir, run_name=run_name, config=config)
    try:
        yield writers
    except preemption.Preempted:
        close(preempted=True)
        raise
    finally:
        close()


atexit.register(close)
