"""`jaxint plan CONFIG [--topology NAME ...] [--hbm-gib X] [key=value ...]`

Compiles the config's real steps for each target and prints one table per target (markdown):
per-device memory against the chip's HBM with a verdict, matmul FLOPs, and a lower bound on
the step time. Targets: v5p-8, v4-8, v5e-8, v5e-16, v5e-256, v6e-8, h100x8 (an estimate from
a TPU compile, see `plan.topologies`), cpu-8, or a libtpu topology string ("v5e:4x8").

Nothing runs on an accelerator: the process is pinned to the CPU platform, TPU targets use
libtpu's compiler only (`pip install 'jaxint[plan]'`), and cpu-8 needs 8 fake CPU devices,
which XLA grants only before jax starts: when jax is already up with fewer, the command
re-runs itself in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from jaxint.plan import topologies


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxint plan", description=__doc__.split("\n\n")[1])
    p.add_argument("config", help="a run config YAML (only model/mesh/sft/rl/generate/plan "
                   "are read)")
    p.add_argument("overrides", nargs="*", help="key.sub=value, e.g. sft.micro_batch_size=4")
    p.add_argument("--topology", "-t", nargs="+", default=["cpu-8"],
                   help=f"targets (default cpu-8): {', '.join(topologies.TARGETS)}")
    p.add_argument("--hbm-gib", type=float, help="judge against this HBM per device instead")
    p.add_argument("--functions", help="comma-separated subset to compile, e.g. "
                   "sft_step,gen_decode (default: all)")
    p.add_argument("--json", help="also write every row as JSON to this file")
    return p


def _needs_fresh_process(targets: Sequence[topologies.Target]) -> bool:
    cpu = [t for t in targets if t.topology is None]
    if not cpu or "jax" not in sys.modules:
        return False
    import jax

    return len(jax.devices("cpu")) < max(t.num_devices for t in cpu)


def _rerun(argv: Sequence[str]) -> int:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = " ".join(
        [f for f in env.get("XLA_FLAGS", "").split() if "host_platform_device_count" not in f]
        + [f"--xla_force_host_platform_device_count={topologies.CPU_DEVICES}"])
    return subprocess.call([sys.executable, "-m", "jaxint.plan.cli", *argv], env=env)


def plan(cfg, target: topologies.Target, *, hbm_gib: float | None = None,
         progress: bool = False) -> list:
    """Compiles `cfg`'s functions for `target`; returns judged rows (`report.Row`).

    With `progress`, a line per compiled function goes to stderr: a 4B train step takes the
    TPU compiler minutes on a small machine.
    """
    from jaxint.models import spec
    from jaxint.parallel import mesh as mesh_lib
    from jaxint.plan import abstract, functions, report
    from jaxint.plan import compile as compile_lib

    model_cfg = spec.model_config(cfg.model)
    graphdef, params = abstract.model(model_cfg)
    mesh = mesh_lib.make_mesh(cfg.mesh, devices=topologies.devices(target))
    ctx = functions.Context(cfg, model_cfg, mesh, graphdef, params)
    results = []
    for job in functions.jobs(ctx, cfg.plan.functions):
        results.append(compile_lib.run(job, mesh))
        if progress:
            r = results[-1]
            print(f"[plan {target.name}] {r.name} ({r.shape}): {r.total / report.GIB:.2f} GiB "
                  f"per device, compiled in {r.compile_s:.0f} s", file=sys.stderr, flush=True)
    return report.judge(results, target, hbm_gib if hbm_gib is not None else cfg.plan.hbm_gib)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_intermixed_args(argv)
    # `--topology a b key=value`: nargs="+" also swallows overrides that follow it.
    args.overrides += [t for t in args.topology if "=" in t]
    args.topology = [t for t in args.topology if "=" not in t]
    try:
        targets = [topologies.get(name) for name in args.topology]
    except KeyError as err:
        print(f"jaxint plan: {err.args[0]}", file=sys.stderr)
        return 2
    if _needs_fresh_process(targets):
        return _rerun(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # compile only: never claim an accelerator
    topologies.ensure_cpu_devices()

    from jaxint import configlib
    from jaxint.plan import config as plan_config
    from jaxint.plan import report

    overrides = list(args.overrides)
    if args.functions:
        overrides.append(f"plan.functions=[{args.functions}]")
    try:
        cfg = plan_config.load(args.config, overrides)
    except configlib.ConfigError as err:
        print(f"jaxint plan: {err}", file=sys.stderr)
        return 2
    rows_out = []
    for target in targets:
        start = time.perf_counter()
        try:
            rows = plan(cfg, target, hbm_gib=args.hbm_gib, progress=True)
        except (topologies.MissingLibtpu, ValueError) as err:
            print(f"jaxint plan: {err}", file=sys.stderr)
            return 2
        sizes = dict(zip(*_mesh_sizes(cfg, target), strict=True))
        name = cfg.model.preset or cfg.model.path
        attention = report.attention_label(cfg.model.attention_impl, target)
        print(report.header(target, sizes, name, args.hbm_gib or cfg.plan.hbm_gib, attention))
        print(report.table(rows))
        if report.kv_table(rows):
            print("\nKV cache per device (dense rows vs paged at expected_len):\n"
                  + report.kv_table(rows))
        print(f"(plan for {target.name} took {time.perf_counter() - start:.0f} s)\n", flush=True)
        rows_out += [{"target": target.name, "model": name, "attention": attention, **r.as_dict()}
                     for r in rows]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows_out, f, indent=1)
    return 0


def _mesh_sizes(cfg, target: topologies.Target) -> tuple[tuple[str, ...], tuple[int, ...]]:
    from jaxint.parallel import config as parallel_config
    from jaxint.parallel import mesh as mesh_lib

    return parallel_config.AXES, mesh_lib.resolve_sizes(cfg.mesh, target.num_devices)


if __name__ == "__main__":
    sys.exit(main())
