"""`jaxint conditioning CONFIG`: the InT paper's conditioning measurement on a run's failed
attempts and their interventions (continuations from the problem alone, from the prefix
alone, from prefix + original step, from prefix + intervention), using the run's current
policy and the filter's sampling settings (`filter.num_samples` continuations per condition)."""

from __future__ import annotations

from typing import Any

from jaxint import config as config_lib
from jaxint import loop, rundir
from jaxint.intervene import conditioning


def run(cfg: config_lib.RunConfig, *, progress: bool = True) -> dict[str, Any]:
    pipe = loop.Pipeline(cfg, progress=progress)
    source = pipe.run_dir.root / "intervene" / "interventions.jsonl"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: run the intervene stage first")
    rows = list(rundir.read_jsonl(source))
    result = conditioning.run_conditioning(
        pipe.run_dir, pipe.problems_by_id(), rows, pipe.policy(), pipe.tokenizer(),
        cfg.filter.sampling(pipe.engine_base()), seed=cfg.filter.seed, mesh=pipe.mesh,
        timeout_s=cfg.verify.timeout_s, progress=progress)
    for name, c in result["conditions"].items():
        print(f"{name:>15}: {c['problems_solved']}/{result['num_problems']} problems solved, "
              f"mean accuracy {100 * c['mean_accuracy']:.2f}%")
    return result
