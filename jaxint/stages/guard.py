"""Resume guards for sharded stages: a finished shard is reused on a rerun only when the
stage's inputs and settings are the ones that wrote it (``plan.json`` holds their digest),
since otherwise the shards would no longer line up."""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

from jaxint import rundir
from jaxint.intervene import interveners


def fingerprint(cfg: Mapping[str, Any], work: Iterable[Any]) -> str:
    """A digest of a stage's settings and its units of work, in order."""
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode())
    for unit in work:
        if isinstance(unit, interveners.Item):
            unit = (unit.problem.id, unit.sample_index, unit.steps)
        digest.update(json.dumps(unit, ensure_ascii=False).encode())
    return digest.hexdigest()


def guard_plan(stage_dir: pathlib.Path, digest: str) -> None:
    """Records ``digest`` in ``plan.json``, or refuses to resume shards made from another.

    Raises:
        RuntimeError: ``plan.json`` holds another digest.
    """
    path = stage_dir / "plan.json"
    if path.is_file():
        previous = json.loads(path.read_text()).get("fingerprint")
        if previous != digest:
            raise RuntimeError(
                f"{stage_dir}: inputs or settings differ from the run that wrote these shards; "
                f"delete {stage_dir} to start this stage over"
            )
    elif rundir.is_writer():
        rundir.atomic_write_text(path, json.dumps({"fingerprint": digest}))
