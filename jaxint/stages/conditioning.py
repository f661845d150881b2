"""`jaxint conditioning CONFIG`: the InT paper's conditioning measurement on a run's failed
attempts and their interventions (continuations from the problem alone, from the prefix
alone, from prefix + original step, from prefix + intervention), using the run's current
policy and the filter's sampling settings (`filter.num_samples` continuations per condition).
The measurement is ``jaxint.intervene.conditioning``; this module reads and writes the run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jaxint import rundir
from jaxint.data import records
from jaxint.intervene import conditioning
from jaxint.intervene import config as intervene_config
from jaxint.stages import intervene as intervene_stage

STAGE = "conditioning"


def run(
    run_dir: rundir.RunDir, cfg: intervene_config.FilterConfig, *,
    problems: Mapping[str, records.Problem], model: Any, tokenizer: Any,
    mesh: Any = None, timeout_s: float = 10.0,
    progress: bool = True,
) -> rundir.Summary:
    """Measures `intervene/interventions.jsonl`; writes `conditioning/summary.json` and the
    stage's metrics; returns the result (see `conditioning.measure`)."""
    source = run_dir.root / "intervene" / "interventions.jsonl"
    result = conditioning.measure(
        model, tokenizer, problems, intervene_stage.read_interventions(source),
        cfg.continuation_sampling(), seed=cfg.seed, mesh=mesh, timeout_s=timeout_s,
        progress=progress)
    if rundir.is_writer():
        rundir.atomic_write_text(run_dir.stage(STAGE) / "summary.json",
                                 json.dumps(result, indent=2))
    run_dir.metrics(STAGE).write(
        {f"{name}/{key}": value for name, c in result["conditions"].items()
         for key, value in c.items()})
    return result
