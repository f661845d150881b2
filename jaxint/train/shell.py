"""What the SFT and GRPO trainers share around their own step: resuming from the latest
checkpoint (with the metrics rows after it dropped, since those steps are redone), saving with
the data iterator's position, exporting the policy as an HF directory, and the step loop with
its progress bar and preemption handling. A trainer supplies one step and its data iterator."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable
from typing import Any

from flax import nnx
from jax.sharding import Mesh

from jaxint import progress as progress_lib
from jaxint import rundir
from jaxint.models import decoder, hf_io
from jaxint.train import checkpoint as ckpt_lib
from jaxint.train import loop_utils, preemption
from jaxint.train import state as state_lib

log = logging.getLogger(__name__)


class Shell:
    """Restore / save / export / the step loop, for a trainer that sets `name` ("SFT",
    "GRPO": it appears in log lines and the preemption message), `graphdef`, `state`,
    `model_config`, `mesh`, `checkpoints`, `step`, and `resumable_data()`."""

    name: str
    graphdef: nnx.GraphDef
    state: state_lib.TrainState
    model_config: Any
    mesh: Mesh | None
    checkpoints: ckpt_lib.Checkpointer
    step: int

    def resumable_data(self) -> Any:
        """The data iterator whose position (`get_state` / `set_state`) a checkpoint holds."""
        raise NotImplementedError

    def restore(self, metrics: rundir.Metrics | None = None) -> bool:
        """Resumes from the latest checkpoint if there is one; `metrics` loses the rows logged
        after it (those steps are redone), so a resumed run's metrics equal an uninterrupted
        one's."""
        if self.checkpoints.latest_step() is None:
            if metrics is not None:
                metrics.truncate_after(0)
            return False
        with loop_utils.mesh_context(self.mesh):
            self.state, extra = self.checkpoints.restore(self.state)
        self.resumable_data().set_state(extra["data"])
        self.step = int(extra["step"])
        if metrics is not None:
            metrics.truncate_after(self.step)
        log.info("resumed %s at step %d", self.name, self.step)
        return True

    def _save(self, *, force: bool = False) -> None:
        self.checkpoints.save(self.step, self.state,
                              {"data": self.resumable_data().get_state(), "step": self.step},
                              force=force)

    def model(self) -> decoder.Decoder:
        return nnx.merge(self.graphdef, self.state.params)

    def export(self, path: str | pathlib.Path, *, tokenizer_dir: str | None = None) -> pathlib.Path:
        """The policy as an HF model directory, in the model's compute dtype."""
        return hf_io.save_hf(self.model(), path, dtype=self.model_config.dtype,
                             tokenizer_dir=tokenizer_dir)

    def loop(self, metrics: rundir.Metrics, total: int, one_step: Callable[[Any], None], *,
             desc: str, progress: bool = True) -> None:
        """Resumes, then runs `one_step(bar)` until `step` reaches `total`, saving after each
        step; on a preemption request saves at once and raises `preemption.Preempted`."""
        preemption.install()
        self.restore(metrics)
        bar = progress_lib.Bar(total=total, initial=self.step, desc=desc, disable=not progress)
        while self.step < total:
            one_step(bar)
            bar.update(1)
            self._save()
            if preemption.requested():
                self._save(force=True)
                self.checkpoints.close()
                raise preemption.Preempted(f"{self.name} preempted at step {self.step}")
        bar.close()
        self._save(force=True)
        self.checkpoints.wait()
