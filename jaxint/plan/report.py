"""Turning compiled figures into a verdict and a step-time bound, and printing the table.

How to read a row (also in configs/plan_table.md):
  total     = arguments + new outputs + temporaries + resident, per device, against the HBM of
              one chip. "fits", or "over by X GiB" naming the largest of the three terms.
  bound     = max(FLOPs / peak FLOP/s, HBM traffic / HBM bandwidth): no step can run faster
              on this chip; the larger term names what limits it (compute or memory).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from jaxint.plan import compile as compile_lib
from jaxint.plan import topologies

GIB = float(1 << 30)


@dataclasses.dataclass(frozen=True)
class Row:
    """One function on one target, judged."""

    result: compile_lib.Result
    hbm_bytes: int
    peak_flops: float
    bandwidth: float

    @property
    def fits(self) -> bool:
        return self.result.error is None and self.result.total <= self.hbm_bytes

    @property
    def dominant(self) -> str:
        r = self.result
        terms = {"arguments": r.arguments + r.outputs - r.aliased, "temporaries": r.temporaries,
                 "resident": r.resident}
        return max(terms, key=terms.get)

    @property
    def verdict(self) -> str:
        if self.fits:
            return "fits"
        over = max(self.result.total - self.hbm_bytes, 0) / GIB
        if self.result.error is not None:
            return f"over by >= {over:.2f} GiB (compiler refused; dominant: {self.dominant})"
        return f"over by {over:.2f} GiB (dominant: {self.dominant})"

    @property
    def compute_s(self) -> float:
        return self.result.flops / self.peak_flops

    @property
    def memory_s(self) -> float:
        return self.result.hbm_traffic / self.bandwidth

    @property
    def bound_s(self) -> float:
        return max(self.compute_s, self.memory_s)

    @property
    def limit(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"

    def as_dict(self) -> dict:
        r = self.result
        return {"function": r.name, "shape": r.shape, "arguments": r.arguments,
                "outputs": r.outputs, "aliased": r.aliased, "temporaries": r.temporaries,
                "resident": r.resident, "total": r.total, "hbm": self.hbm_bytes,
                "fits": self.fits, "verdict": self.verdict, "flops_per_device": r.flops,
                "xla_flops_per_device": r.xla_flops, "hbm_traffic": r.hbm_traffic,
                "bound_s": self.bound_s, "limit": self.limit, "compile_s": r.compile_s,
                "error": r.error, **({"kv": {**r.kv, "slots_at_hbm": self.slots_at_hbm}}
                                     if r.kv else {})}

    @property
    def slots_at_hbm(self) -> int | None:
        """Samples one device could decode at once within its HBM: what is not KV (weights,
        resident state, temporaries) stays, the rest is divided by one sample's KV (a dense
        row, or a paged sample's pages at `expected_len`)."""
        kv = self.result.kv
        if not kv:
            return None
        other = self.result.total - kv["kv_bytes"]
        return max(0, int((self.hbm_bytes - other) // kv["sample_bytes"]))


def judge(results: Sequence[compile_lib.Result], target: topologies.Target,
          hbm_gib: float | None = None) -> list[Row]:
    hbm = int(hbm_gib * GIB) if hbm_gib is not None else target.chip.hbm_bytes
    return [Row(r, hbm, target.chip.peak_flops, target.chip.hbm_bandwidth) for r in results]


def _gib(x: float) -> str:
    return f"{x / GIB:.2f}"


def _time(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def attention_label(impl: str, target: topologies.Target) -> str:
    """The attention implementation the plan compiled. `auto` resolves by the platform compiled
    for (`jaxint.models.attention.resolve_impl`): a TPU topology gets splash, also for a
    target whose compile is borrowed from one (a GPU itself would run cudnn)."""
    if impl != "auto":
        return impl
    return "auto = chunked or xla by length" if target.topology is None else "auto = splash"


def header(target: topologies.Target, mesh_sizes: dict, model: str, hbm_gib: float | None,
           attention: str | None = None) -> str:
    """The lines above a target's table; `attention` is `attention_label()`'s text."""
    chip = target.chip
    hbm = f"{hbm_gib:g} GiB (--hbm-gib)" if hbm_gib else f"{chip.hbm_bytes / GIB:g} GiB"
    lines = [
        f"## {model} on {target.name}: {target.num_devices} x {chip.name}, mesh "
        + " ".join(f"{k}={v}" for k, v in mesh_sizes.items())
        + (f", attention {attention}" if attention else ""),
        f"per device: HBM {hbm}, peak {chip.peak_flops / 1e12:g} TFLOP/s bf16, "
        f"{chip.hbm_bandwidth / 1e9:g} GB/s ({chip.source})",
    ]
    if target.estimated_with:
        lines.append(f"estimate: compiled for TPU {target.estimated_with} (no GPU compiler "
                     f"here), judged with {chip.name} figures")
    return "\n".join(lines)


COLUMNS = ("function", "shape", "in+out GiB", "temp GiB", "resident GiB", "total GiB", "HBM %",
           "verdict", "TFLOP/dev", "bound", "limit", "compile")


def table(rows: Sequence[Row]) -> str:
    """A markdown table, one line per function."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        r = row.result
        cells = (r.name, r.shape, _gib(r.arguments + r.outputs - r.aliased), _gib(r.temporaries),
                 _gib(r.resident), _gib(r.total), f"{100 * r.total / row.hbm_bytes:.0f}%",
                 row.verdict, f"{r.flops / 1e12:.1f}", _time(row.bound_s), row.limit,
                 f"{r.compile_s:.0f} s")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


KV_COLUMNS = ("function", "slots/dev", "KV GiB/dev", "per sample MiB", "other GiB/dev",
              "slots/dev at HBM")


def kv_table(rows: Sequence[Row]) -> str:
    """Dense vs paged decode: per-device KV memory and how many samples fit the HBM budget
    (empty when no decode row was compiled)."""
    rows = [r for r in rows if r.result.kv]
    if not rows:
        return ""
    lines = ["| " + " | ".join(KV_COLUMNS) + " |", "|" + "---|" * len(KV_COLUMNS)]
    for row in rows:
        kv = row.result.kv
        cells = (row.result.name, f"{kv['slots_per_device']:g}", _gib(kv["kv_bytes"]),
                 f"{kv['sample_bytes'] / (1 << 20):.1f}",
                 _gib(row.result.total - kv["kv_bytes"]), str(row.slots_at_hbm))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
