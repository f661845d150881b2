"""The `logging:` section of a run config: where metrics go besides STAGE/metrics.jsonl."""

from __future__ import annotations

import dataclasses
from typing import Optional

_WANDB_MODES = ("online", "offline", "disabled")


@dataclasses.dataclass(frozen=True)
class WandbConfig:
    """A Weights & Biases run mirroring the run directory's metrics; off until a project is
    named (`logging.wandb.project=NAME`), so enabling it is one override.

    Attributes:
        project: the W&B project; null (the default): no W&B run.
        mode: "online", "offline" (no network; `wandb sync` the run later) or "disabled";
            None leaves it to W&B (the WANDB_MODE variable, else online).
        entity, name, group, notes, tags: as `wandb.init` takes them; `name` defaults to the
            run's name.
        dir: where W&B writes its `wandb/` folder (default: the run directory).
    """

    project: Optional[str] = None
    mode: Optional[str] = None
    entity: Optional[str] = None
    name: Optional[str] = None
    group: Optional[str] = None
    notes: Optional[str] = None
    tags: tuple[str, ...] = ()
    dir: Optional[str] = None

    def __post_init__(self) -> None:
        if self.project is not None and not str(self.project).strip():
            raise ValueError(f"logging.wandb.project must be a name or null, got {self.project!r}")
        if self.mode is not None and self.mode not in _WANDB_MODES:
            raise ValueError(f"logging.wandb.mode must be one of {_WANDB_MODES} or null, "
                             f"got {self.mode!r}")


@dataclasses.dataclass(frozen=True)
class LoggingConfig:
    """Optional metric writers; the JSONL files are always written.

    Attributes:
        tensorboard: a directory; events go to DIR/RUN_NAME so `tensorboard --logdir DIR`
            shows runs side by side (needs `pip install 'jaxint[logging]'`).
        wandb: a W&B run when `wandb.project` is set (needs `wandb`, also in the `logging`
            extra).
        flush_secs: the longest a TensorBoard value waits in memory before reaching disk
            (writers are also flushed when a stage ends and on SIGTERM).
    """

    tensorboard: Optional[str] = None
    wandb: WandbConfig = dataclasses.field(default_factory=WandbConfig)
    flush_secs: int = 10

    def __post_init__(self) -> None:
        if self.tensorboard is not None and not str(self.tensorboard).strip():
            raise ValueError("logging.tensorboard must be a directory or null, got ''")
        if isinstance(self.flush_secs, bool) or self.flush_secs < 1:
            raise ValueError(f"logging.flush_secs must be >= 1, got {self.flush_secs!r}")
