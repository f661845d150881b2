"""`jaxint run`: the stage runner.

Runs the configured stages in order into `runs/NAME/`, recording each finished stage in
`manifest.json`; re-running the same command skips finished stages and resumes the current
one from its shards or checkpoints. The policy model is kept in memory from stage to stage;
a finished model-producing stage (sft, rl) is picked up from its HF export on resume.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time
from collections.abc import Callable
from typing import Any

from jaxint import config as run_config
from jaxint import configlib, drift, rundir
from jaxint.data import chat, loaders, records
from jaxint.data import config as data_config
from jaxint.evaluation import evaluate as evaluate_lib
from jaxint.evaluation import suite as eval_suite
from jaxint.metrics import writers as metric_writers
from jaxint.models import decoder
from jaxint.models import spec as model_spec
from jaxint.parallel import distributed
from jaxint.parallel import mesh as mesh_lib
from jaxint.stages import filter as filter_stage
from jaxint.stages import generate
from jaxint.stages import intervene as intervene_stage
from jaxint.stages import rl as rl_stage
from jaxint.stages import select as select_stage
from jaxint.stages import sft as sft_stage
from jaxint.stages import verify as verify_stage
from jaxint.train import preemption
from jaxint.train.credit import registry as credit

log = logging.getLogger(__name__)


class Pipeline:
    """One run: its config, run directory, mesh, and the current policy."""

    def __init__(self, cfg: run_config.RunConfig, *, progress: bool = True,
                 restart_from: str | None = None):
        distributed.maybe_initialize(cfg.distributed)
        self.run_dir = rundir.RunDir(cfg.run_dir)
        if restart_from is not None:
            drift.restart_from(self.run_dir, restart_from, cfg)
        cfg = drift.legacy_settings(self.run_dir, cfg)  # an older run resumes as it ran
        self.cfg = cfg
        self.cfg0 = cfg  # what stage fingerprints are taken of (set_policy changes self.cfg)
        self.progress = progress
        self.mesh = mesh_lib.make_mesh(cfg.mesh)
        self._policy: decoder.Decoder | None = None
        self._tokenizer: Any = None
        self._problems: list[records.Problem] | None = None
        self.base_spec = cfg.model  # the starting model, for the RL-only baseline
        self.t0 = time.perf_counter()
        drift.write_config(self.run_dir, cfg)

    # ------------------------------------------------------------------ resources
    @property
    def tokenizer_dir(self) -> str:
        path = self.cfg.tokenizer_path or self.cfg.model.path
        if path is None:
            raise ValueError("tokenizer_path is required when model.preset is used")
        return model_spec.local_path(str(path))

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            import transformers

            tok = transformers.AutoTokenizer.from_pretrained(self.tokenizer_dir)
            # data.chat_template_kwargs (or the base model's default) for every rendering
            kwargs = chat.resolve_template_kwargs(self.cfg.data.chat_template_kwargs,
                                                  self.base_spec.path or self.base_spec.preset)
            self._tokenizer = chat.with_template_kwargs(tok, kwargs)
        return self._tokenizer

    def problems(self) -> list[records.Problem]:
        """The training pool, loaded once: bad rows go to `data_rejects.jsonl`, rows dropped
        by `data.exclude_flags` / `data.decontaminate` to `data_dropped.jsonl`, and the
        counts to `data_load.json` (all in the run directory)."""
        if self._problems is None:
            root = self.run_dir.root
            report = loaders.load_with_report(self.cfg.data,
                                              rejects_path=root / "data_rejects.jsonl",
                                              dropped_path=root / "data_dropped.jsonl")
            summary_json(root / "data_load.json", {
                "sources": list(self.cfg.data.paths), "problems": len(report.problems),
                "read": report.num_read, "skipped": report.num_skipped,
                "dropped": report.dropped})
            self._problems = report.problems
        return self._problems

    def problems_by_id(self) -> dict[str, records.Problem]:
        return {p.id: p for p in self.problems()}

    def pool(self) -> list[records.Problem]:
        """The problems to roll out and train RL on: select's kept pool once that stage is
        done (PAPER.md step 1), else the whole dataset."""
        return select_stage.kept_problems(self.run_dir, self.problems())

    def policy(self) -> decoder.Decoder:
        if self._policy is None:
            self._policy = model_spec.load(self.cfg.model, mesh=self.mesh)
        return self._policy

    def set_policy(self, path: pathlib.Path, model: decoder.Decoder | None = None) -> None:
        """The policy is now the model exported at `path` (kept in memory if given)."""
        self.cfg = dataclasses.replace(self.cfg, model=self.cfg.model.with_path(str(path)))
        self._policy = model

    # ------------------------------------------------------------------ stages
    def stage_select(self) -> rundir.Summary:
        return select_stage.run(
            self.run_dir, self.cfg.select, model=self.policy(), tokenizer=self.tokenizer(),
            problems=self.problems(), mesh=self.mesh,
            timeout_s=self.cfg.verify.timeout_s, progress=self.progress)

    def stage_generate(self) -> rundir.Summary:
        return generate.run(self.run_dir, self.cfg.generate, model=self.policy(),
                            tokenizer=self.tokenizer(), problems=self.pool(), mesh=self.mesh,
                            progress=self.progress)

    def stage_verify(self) -> rundir.Summary:
        return verify_stage.run(self.run_dir, problems=self.problems(),
                                timeout_s=self.cfg.verify.timeout_s, progress=self.progress)

    def stage_intervene(self) -> rundir.Summary:
        cfg = self.cfg.intervene
        model = None
        if cfg.intervener == "policy":
            model = self.policy()
        elif cfg.intervener == "model":
            model = model_spec.load(self.cfg.model.with_path(cfg.intervener_path), mesh=self.mesh)
        intervener = intervene_stage.make_intervener(
            cfg, model=model, tokenizer=self.tokenizer(), mesh=self.mesh,
            progress=self.progress)
        return intervene_stage.run(
            self.run_dir, cfg, problems=self.problems_by_id(),
            attempts=verify_stage.failed_attempts(self.run_dir), intervener=intervener,
            tokenizer=self.tokenizer(), progress=self.progress)

    def stage_filter(self) -> rundir.Summary:
        rows = intervene_stage.read_interventions(
            self.run_dir.root / "intervene" / "interventions.jsonl")
        return filter_stage.run(
            self.run_dir, self.cfg.filter, problems=self.problems_by_id(), interventions=rows,
            model=self.policy(), tokenizer=self.tokenizer(), mesh=self.mesh,
            progress=self.progress)

    def stage_sft(self) -> rundir.Summary:
        if not sft_stage.intervention_records(self.run_dir):
            # A small policy may propose nothing usable (SmolLM2-135M writes no <intervention>
            # block): the loop goes on from the unchanged policy rather than losing the run.
            log.warning("sft: no accepted interventions (see intervene/stats.json); skipping "
                        "SFT, the next stage starts from the current policy")
            return {"examples": 0, "skipped": "no accepted interventions"}
        summary, model = sft_stage.run(
            self.run_dir, self.cfg.sft, model=self.policy(), tokenizer=self.tokenizer(),
            problems=self.problems_by_id(), mesh=self.mesh, tokenizer_dir=self.tokenizer_dir,
            progress=self.progress)
        self.set_policy(self.run_dir.root / "sft" / "hf", model)
        return summary

    def stage_rl(self) -> rundir.Summary:
        summary, model = rl_stage.run(
            self.run_dir, self.cfg.rl, model=self.policy(), tokenizer=self.tokenizer(),
            problems=self.pool(), mesh=self.mesh, tokenizer_dir=self.tokenizer_dir,
            verify_timeout_s=self.cfg.verify.timeout_s, progress=self.progress)
        self.set_policy(self.run_dir.root / "rl" / "hf", model)
        return summary

    def stage_rl_baseline(self) -> rundir.Summary:
        """GRPO from the base model with the same budget and prompts: the "RL only" row."""
        base = model_spec.load(self.base_spec, mesh=self.mesh)
        summary, _ = rl_stage.run(
            self.run_dir, self.cfg.rl, model=base, tokenizer=self.tokenizer(),
            problems=self.pool(), mesh=self.mesh, stage="rl_baseline",
            tokenizer_dir=self.tokenizer_dir, verify_timeout_s=self.cfg.verify.timeout_s,
            progress=self.progress)
        return summary

    def stage_eval(self) -> rundir.Summary:
        return self.evaluate(self.policy(), "policy")

    def evaluate(self, model: decoder.Decoder, name: str) -> rundir.Summary:
        if self.cfg.eval.suite is not None:
            return self.evaluate_suite(model, name)
        # An evaluation set is never decontaminated: every one of its problems counts.
        dataset = data_config.DatasetConfig(path=self.cfg.eval.dataset, decontaminate=False)
        problems = loaders.load_problems(dataset)
        summary = evaluate_lib.evaluate(model, self.tokenizer(), problems, self.cfg.eval,
                                        self.run_dir.stage("eval") / name, mesh=self.mesh,
                                        progress=self.progress)
        log.info("eval %s:\n%s", name, evaluate_lib.table(summary))
        self.run_dir.metrics("eval").write({"model": name, **summary})  # dashboards see it too
        return summary

    def evaluate_suite(self, model: decoder.Decoder, name: str) -> rundir.Summary:
        """`eval.suite`: every benchmark of the suite into `eval/NAME/<dataset>/`, one table."""
        summary = eval_suite.run(model, self.tokenizer(), self.cfg.eval.suite, self.cfg.eval,
                                 self.run_dir.stage("eval") / name, label=name, mesh=self.mesh,
                                 progress=self.progress)
        log.info("eval %s:\n%s", name, eval_suite.table([summary]))
        self.run_dir.metrics("eval").write({"model": name, **eval_suite.flat_metrics(summary)})
        return summary

    # ------------------------------------------------------------------ running
    def _after_skip(self, stage: str) -> None:
        """Picks up a finished model-producing stage's export."""
        if stage in ("sft", "rl") and not self.run_dir.summary(stage).get("skipped"):
            self.set_policy(self.run_dir.root / stage / "hf")

    def _pick_up_earlier_stages(self) -> None:
        """A single-stage command (`jaxint rl CONFIG`) starts from the latest model that the
        earlier, finished stages of this run directory produced."""
        if not self.cfg.stages:
            return
        first = run_config.STAGES.index(self.cfg.stages[0])
        for stage in run_config.STAGES[:first]:
            if self.run_dir.is_done(stage):
                self._after_skip(stage)

    def run_stage(self, stage: str, fn) -> rundir.Summary:
        """Runs `stage` unless it is done; either way only if the config it ran with (its
        manifest fingerprint) equals this run's, else `drift.ConfigDriftError`."""
        drift.check(self.run_dir, self.cfg0, [stage])
        if self.run_dir.is_done(stage):
            log.info("stage %s: done already, skipping", stage)
            self._after_skip(stage)
            return self.run_dir.summary(stage)
        self.run_dir.mark(stage, "running", **drift.record(self.cfg0, stage))
        t = time.perf_counter()
        summary = fn()
        self.run_dir.mark(stage, "done", summary=summary, wall_s=round(time.perf_counter() - t, 2))
        metric_writers.flush()  # a finished stage is on the dashboards even if the next dies
        return summary

    def run(self) -> rundir.Summary:
        """Runs every configured stage; returns {stage: summary}. The `logging:` writers
        (TensorBoard, W&B) are open throughout and closed at the end, on error or preemption."""
        with metric_writers.session(self.cfg.logging, self.run_dir.root, run_name=self.cfg.name,
                                    config=configlib.to_dict(self.cfg0)):
            return self._run()

    def _run(self) -> rundir.Summary:
        preemption.install()
        stages = list(self.cfg.stages) + (["rl_baseline"] if self.cfg.rl_baseline else [])
        drift.check(self.run_dir, self.cfg0, stages)  # every changed stage, before any work
        if "rl" in self.cfg.stages:  # what rl.credit reads, before hours of earlier stages
            credit.check_problems(self.cfg.rl, self.problems())
        self._pick_up_earlier_stages()
        out = {}
        for stage in self.cfg.stages:
            out[stage] = self.run_stage(stage, getattr(self, f"stage_{stage}"))
            if stage == "rl" and self.cfg.rl_baseline:
                out["rl_baseline"] = self.run_stage("rl_baseline", self.stage_rl_baseline)
        return out


def run(cfg: run_config.RunConfig, *, progress: bool = True,
        restart_from: str | None = None,
        runner: Callable[..., rundir.Summary] | None = None) -> rundir.Summary:
    """`jaxint run`: the pipeline, or `runner(cfg, progress=...)` in its place.

    A config with a `demo:` section runs the demo, which is built on this module, so the
    caller passes it in (`runner=demo.run`, as the CLI does): this module never imports it.
    `restart_from` first archives that stage's and later stages' outputs (`drift`).

    Raises:
        ValueError: `cfg` has a `demo:` section and no `runner` is given.
    """
    if cfg.demo is not None and runner is None:
        raise ValueError("a config with a demo: section runs through jaxint.demo.run "
                         "(loop.run(cfg, runner=demo.run), or `jaxint run CONFIG`)")
    distributed.maybe_initialize(cfg.distributed)  # before anything touches a device
    if restart_from is not None:
        drift.restart_from(rundir.RunDir(cfg.run_dir), restart_from, cfg)
    if runner is not None:
        with metric_writers.session(cfg.logging, cfg.run_dir, run_name=cfg.name,
                                    config=configlib.to_dict(cfg)):
            return runner(cfg, progress=progress)
    return Pipeline(cfg, progress=progress).run()


def summary_json(path: pathlib.Path, summary: rundir.Summary) -> None:
    if rundir.is_writer():
        rundir.atomic_write_text(path, json.dumps(summary, indent=2, default=float))
