"""Lowering and compiling a job for the target mesh, and reading what the compiler says.

Tracing and lowering happen under `jax.set_mesh(mesh)`, as in the trainers and the engine,
so the model's `shard()` constraints apply. Memory figures are the target compiler's own
(`compiled.memory_analysis()`, per device); FLOPs come from the jaxpr (see `plan.flops`, the
compiler's `cost_analysis()` counts loop bodies once and is kept only for reference).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from typing import Any

import jax
from jax.sharding import Mesh

from jaxint.plan import abstract, functions
from jaxint.plan import flops as flops_lib


@dataclasses.dataclass
class Result:
    """Per-device figures of one compiled function (bytes unless named otherwise).

    Attributes:
        arguments, outputs, aliased, temporaries: from `memory_analysis()`; outputs aliased
            to donated arguments take no extra memory.
        resident: other arrays that stay on the device meanwhile (not in the arguments).
        flops: matmul FLOPs per device (global jaxpr count / devices).
        xla_flops: the compiler's per-device `cost_analysis()` FLOPs (loop bodies once).
        hbm_traffic: lower bound on HBM bytes moved: arguments read once, fresh outputs
            written once, weights (and KV) streamed again per micro-batch / decode step.
        compile_s: trace + lower + compile wall time.
        input_shardings: the compiled executable's input shardings (tests read them).
        error: the compiler's out-of-memory message when it refused the program (TPU
            compilers do when it cannot fit); the figures then come from that message
            (temporaries) and the abstract arguments.
    """

    name: str
    shape: str
    arguments: int
    outputs: int
    aliased: int
    temporaries: int
    resident: int
    flops: float
    xla_flops: float
    hbm_traffic: float
    compile_s: float
    input_shardings: Any = dataclasses.field(default=None, repr=False)
    error: str | None = None
    kv: dict | None = None  # a decode row's KV sizing (`functions.Job.kv`)

    @property
    def total(self) -> int:
        """Peak bytes per device: live inputs, new outputs, scratch, and what else is resident."""
        return self.arguments + self.outputs - self.aliased + self.temporaries + self.resident


def _xla_flops(compiled: Any) -> float:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_oom(message: str) -> int | None:
    """Temporary bytes from a TPU compiler out-of-memory message, e.g. "the total memory
    required for HLO temporaries (32.83G) exceeds available HBM (15.75G)"; None if absent."""
    match = re.search(r"temporaries \(([\d.]+)([KMGT]?)", message)
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _abstract_leaves(tree: Any) -> list:
    return [x for x in jax.tree.leaves(tree) if isinstance(x, jax.ShapeDtypeStruct)]


def _refused(job: functions.Job, mesh: Mesh, flops: float, err: Exception, elapsed: float):
    message = str(err).strip().splitlines()[0]
    temps = parse_oom(message)
    if "RESOURCE_EXHAUSTED" not in message or temps is None:
        raise err
    args = abstract.device_bytes(_abstract_leaves(job.args))
    return Result(job.name, job.shape, args, 0, 0, temps, abstract.device_bytes(job.resident),
                  flops / mesh.size, 0.0, float(args + job.weight_reads), elapsed, None, message,
                  job.kv)


@contextlib.contextmanager
def _no_persistent_cache(mesh: Mesh):
    """A TPU executable compiled without a TPU cannot be read back from jax's persistent
    compilation cache (it needs a TPU client), so writing it there only wastes disk."""
    platform = next(iter(mesh.devices.flat)).platform
    enabled = jax.config.jax_enable_compilation_cache
    if platform == "tpu":
        jax.config.update("jax_enable_compilation_cache", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", enabled)


def run(job: functions.Job, mesh: Mesh) -> Result:
    """Traces, lowers and compiles `job` for `mesh`'s devices; returns its figures."""
    start = time.perf_counter()
    with jax.set_mesh(mesh), _no_persistent_cache(mesh):
        traced = job.fn.trace(*job.args)
        global_flops = flops_lib.count(traced.jaxpr, while_trips=job.while_trips)
        try:
            compiled = traced.lower().compile()
        except jax.errors.JaxRuntimeError as err:
            return _refused(job, mesh, global_flops, err, time.perf_counter() - start)
    elapsed = time.perf_counter() - start
    mem = compiled.memory_analysis()
    fresh_out = mem.output_size_in_bytes - mem.alias_size_in_bytes
    return Result(
        name=job.name, shape=job.shape,
        arguments=mem.argument_size_in_bytes, outputs=mem.output_size_in_bytes,
        aliased=mem.alias_size_in_bytes, temporaries=mem.temp_size_in_bytes,
        resident=abstract.device_bytes(job.resident),
        flops=global_flops / mesh.size, xla_flops=_xla_flops(compiled),
        hbm_traffic=float(mem.argument_size_in_bytes + fresh_out + job.weight_reads),
        compile_s=elapsed, input_shardings=compiled.input_shardings, kv=job.kv,
    )
