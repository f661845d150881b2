"""Orbax checkpoints of a train state plus the JSON that makes resumption exact (data
iterator state, RNG counters, progress)."""

from __future__ import annotations

import pathlib
from typing import Any

import orbax.checkpoint as ocp

from jaxint.train import config as train_config
from jaxint.train import state as state_lib


class Checkpointer:
    """Saves every `cfg.every` steps (and on demand), keeps the last `cfg.keep`."""

    def __init__(self, directory: str | pathlib.Path, cfg: train_config.CheckpointConfig):
        self.directory = pathlib.Path(directory).resolve()
        self.cfg = cfg
        options = ocp.CheckpointManagerOptions(
            max_to_keep=cfg.keep, enable_async_checkpointing=cfg.async_save, create=True,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, extra: dict[str, Any], *, force: bool = False) -> bool:
        """Saves if `step` is on the interval (or `force`); returns whether it saved."""
        if not force and step % self.cfg.every:
            return False
        if step in self.manager.all_steps():
            return False
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), extra=ocp.args.JsonSave(extra),
        ), force=True)
        return True

    def restore(self, target: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restores into `target`'s structure, shapes and shardings (a concrete state or its
        abstract twin), e.g. onto a different mesh than the one that saved it."""
        step = self.latest_step() if step is None else step
        abstract = state_lib.abstract_like(target)
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), extra=ocp.args.JsonRestore(),
        ))
        return out["state"], dict(out["extra"])

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
