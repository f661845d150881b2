"""The demo's trap / plain split in the report: per-arm accuracy by kind, trap-step accuracy,
zero-advantage groups split into all-wrong and all-correct, and the paired differences.

Read from the demo's ``summary.json`` only (every figure there comes from the run); a run
without those keys (round-1 demos, pipeline runs) shows nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jaxint.report import sections as s

ARM_LABELS = {"base": "base", "rl_only": "RL only", "rl_only_matched": "RL only, compute-matched",
              "int_rl": "InT + RL", "int_sft": "InT SFT only",
              "ref_sft_rl": "SFT on references + RL"}
COMPARISON_LABELS = {"int_rl_vs_rl_only": "InT + RL − RL only",
                     "int_rl_vs_rl_only_matched": "InT + RL − RL only (compute-matched)"}
DESIGN = (
    "The pretraining corpus computes {readings} every time; gold answers, the verifier and the "
    "oracle read each phrase by its meaning ({meanings}). Trap problems hold one such "
    "step (never the last), so the base model fails them the same way every time and outcome RL "
    "sees all-wrong groups there: the synthetic analogue of the paper's pool of problems "
    "solved 0 of 64 times. Held-out trap steps use operand pairs absent from the pool's, and no "
    "held-out problem repeats a pool or pretraining arithmetic chain."
)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        d = d.get(k) if isinstance(d, Mapping) else None
    return d


def _pair(zero: Any, field: str) -> str:
    return f"{s.pct(_get(zero, 'trap', field))} / {s.pct(_get(zero, 'plain', field))}"


def _points(diff: Any, se: Any) -> str:
    if not (s._num(diff) and s._num(se)):
        return "–"
    z = f"z {diff / se:+.1f}" if se > 0 else "z –"
    return f"{100 * diff:+.1f} ± {100 * se:.1f} ({z})"


def arms_table(summary: Mapping[str, Any]) -> str:
    by_kind = summary.get("accuracy_by_kind")
    if not isinstance(by_kind, Mapping):
        return ""
    acc, zero = summary.get("accuracy") or {}, summary.get("zero_adv") or {}
    rows = []
    for arm in acc:
        z = zero.get(arm)
        rows.append([s.esc(ARM_LABELS.get(arm, arm)), s.pct(acc.get(arm)),
                     s.pct(_get(by_kind, "trap", arm)), s.pct(_get(by_kind, "plain", arm)),
                     s.pct(_get(summary, "trap_step_accuracy", arm)),
                     _pair(z, "all_wrong") if z else "–", _pair(z, "all_correct") if z else "–"])
    header = ["arm", "held-out pass@1", "trap", "plain", "trap step right",
              "RL groups all wrong (trap / plain)", "RL groups all correct (trap / plain)"]
    return s.table(header, rows, "headline")


def differences_table(summary: Mapping[str, Any]) -> str:
    diff, se = summary.get("paired_diff"), summary.get("paired_se")
    if not isinstance(diff, Mapping) or not isinstance(se, Mapping):
        return ""
    rows = [[s.esc(COMPARISON_LABELS.get(k, k))]
            + [_points(_get(diff, k, kind), _get(se, k, kind)) for kind in ("trap", "plain", "all")]
            for k in diff]
    note = ("Points ± paired standard error over problem × sample pairs (every arm is sampled "
            "with the same seeds); z = difference / SE.")
    return (s.table(["comparison", "trap", "plain", "all"], rows, "headline")
            + f'<p class="note">{note}</p>')


def design_note(summary: Mapping[str, Any]) -> str:
    trap = summary.get("trap")
    if not isinstance(trap, Mapping) or not trap.get("fraction"):
        return ""
    kinds = trap.get("kinds") or [trap]
    pairs = [(s.esc(str(p).replace("{b}", "b")), k) for k in kinds if isinstance(k, Mapping)
             for p in k.get("phrases", [])]
    readings = ", ".join(f"“{p}” as <b>{s.esc(k.get('corpus_computes'))}</b>" for p, k in pairs)
    meanings = ", ".join(f"“{p}”: <b>{s.esc(k.get('means'))}</b>" for p, k in pairs)
    text = DESIGN.format(readings=readings, meanings=meanings)
    transfer = summary.get("transfer")
    if isinstance(transfer, Mapping):
        text += (f" InT's SFT model alone: pool trap problems "
                 f"{s.pct(transfer.get('int_sft_pool_trap'))}, held-out trap problems "
                 f"{s.pct(transfer.get('int_sft_heldout_trap'))} (close: a learnt reading; "
                 "far apart: memorised problems).")
    return f'<p class="note">{text}</p>'


def section(summary: Mapping[str, Any] | None) -> str:
    """The whole fragment, or "" when the summary has no trap / plain split."""
    if not summary or not isinstance(summary.get("accuracy_by_kind"), Mapping):
        return ""
    return design_note(summary) + arms_table(summary) + differences_table(summary)
