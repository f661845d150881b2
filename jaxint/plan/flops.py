"""Matmul FLOPs of a traced function, counted on its jaxpr with loop trip counts.

Why not `compiled.cost_analysis()["flops"]`: XLA's cost analysis (CPU and TPU alike, checked
with jax 0.10.2 / libtpu 0.0.42) counts the body of a while loop once. Every jaxint step
loops (gradient accumulation, scanned layers, chunked attention and log-probs, the decode
chunk), so the compiler's figure undercounts by those trip counts. Here `scan` bodies are
multiplied by their length, `while` bodies by a bound the caller knows (the decode chunk's
steps), `cond` takes its most expensive branch, and rematerialised blocks are counted where
they run again in the backward pass: the result is what the hardware executes, the number a
step-time bound needs. Only `dot_general` is counted (elementwise work is a few percent of a
transformer's FLOPs); the count is global, so the per-device figure assumes an even split.
A `shard_map` body sees per-shard shapes: it counts once per shard of its manual axes. A
Pallas kernel's body runs per grid point with data-dependent loops the jaxpr does not bound
(multiplying them by the caller's `while_trips` gave the paged decode ~9x the dense FLOPs):
it counts its `cost_estimate` if it has one, else nothing (the TPU ragged paged attention
kernel has none, so a paged decode's attention dots are left out of its figure).
"""

from __future__ import annotations

import math
from typing import Any

from jax.extend import core


def _dot_flops(eqn: Any) -> float:
    lhs, rhs = (v.aval for v in eqn.invars[:2])
    (_, rhs_contract), (_, rhs_batch) = eqn.params["dimension_numbers"]
    rhs_free = [d for i, d in enumerate(rhs.shape) if i not in rhs_contract and i not in rhs_batch]
    return 2.0 * math.prod(lhs.shape) * math.prod(rhs_free)


def _sub_jaxprs(value: Any):
    if isinstance(value, core.ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, core.Jaxpr):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _sub_jaxprs(v)


def count(jaxpr: core.Jaxpr | core.ClosedJaxpr, *, while_trips: int = 1) -> float:
    """Matmul FLOPs of one call of `jaxpr` (global, not per device).

    Args:
        jaxpr: e.g. `jax.jit(f).trace(*args).jaxpr`.
        while_trips: iterations assumed for every `while` loop (their trip count is not
            static); the decode chunk passes its chunk length, an upper bound.
    """
    if isinstance(jaxpr, core.ClosedJaxpr):
        jaxpr = jaxpr.jaxpr
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            total += _dot_flops(eqn)
        elif name == "scan":
            total += eqn.params["length"] * count(eqn.params["jaxpr"], while_trips=while_trips)
        elif name == "while":
            total += while_trips * count(eqn.params["body_jaxpr"], while_trips=while_trips)
        elif name == "pallas_call":
            estimate = eqn.params.get("cost_estimate")
            total += float(estimate.flops) if estimate is not None else 0.0
        elif name == "shard_map":
            shards = math.prod(eqn.params["mesh"].shape[a]
                               for a in eqn.params["newly_manual_axes"])
            total += shards * count(eqn.params["jaxpr"], while_trips=while_trips)
        elif name == "cond":
            total += max(count(b, while_trips=while_trips) for b in eqn.params["branches"])
        else:
            for value in eqn.params.values():
                for sub in _sub_jaxprs(value):
                    total += count(sub, while_trips=while_trips)
    return total
