"""The report's sections, each an HTML fragment built from a ``RunFiles``.

Every value that comes from the run directory (problem text, model output, ids, even config
names and manifest keys) goes through :func:`esc`: model output is untrusted, and a trace that
happens to contain ``<script>`` or ``</pre>`` must show as text, never change the page. Each
section works on its own and says "stage not run" when its inputs are missing, because the
report is read on partial and failed runs as much as on finished ones.
"""

from __future__ import annotations

import collections
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from jaxint.report import plots
from jaxint.report.runfiles import EVAL_LABELS, RunFiles, key

VIEWER_CAP = 50
MAX_STEP_CHARS = 4_000
MAX_TEXT_CHARS = 20_000
# Steps shown around the first error before the rest are folded away.
CONTEXT_BEFORE = 4
CONTEXT_AFTER = 3


# ----------------------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    """Text as HTML-safe text (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def pct(x: Any, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%" if _num(x) else "–"


def num(x: Any) -> str:
    """Integers as they are, floats to 4 significant digits, anything else escaped."""
    if isinstance(x, bool):
        return esc(x)
    if isinstance(x, int):
        return f"{x:,}"
    if _num(x):
        return f"{x:,.4g}" if abs(x) < 1e5 else f"{x:,.0f}"
    return "–" if x is None else esc(x)


def seconds(x: Any) -> str:
    if not _num(x):
        return "–"
    if x < 120:
        return f"{x:.1f} s"
    if x < 7200:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.2f} h"


def clip(text: Any, limit: int) -> str:
    """Escaped text, cut at ``limit`` characters with a visible note."""
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return esc(text)
    return esc(text[:limit]) + f'<span class="cut">[… {len(text) - limit:,} more characters]</span>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table; cells are HTML already (callers escape data)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def kv_table(items: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def figures(svgs: Iterable[str | None]) -> str:
    items = [f'<figure class="plot">{s}</figure>' for s in svgs if s]
    return f'<div class="grid">{"".join(items)}</div>' if items else ""


def missing(run: RunFiles, stages: Sequence[str], what: str) -> str:
    """Why a section is empty: never started, or started and not finished."""
    states = {s: run.stage_status(s) for s in stages}
    started = [s for s, st in states.items() if st and st != "done"]
    if started:
        names = ", ".join(esc(s) for s in started)
        return (f'<p class="missing">Stage {names} started but has not finished '
                f"(no {esc(what)} yet).</p>")
    done = [s for s, st in states.items() if st == "done"]
    if done:
        return f'<p class="missing">No {esc(what)} found (files missing).</p>'
    return f'<p class="missing">stage not run ({", ".join(esc(s) for s in stages)}).</p>'


def badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{esc(text)}</span>'


# ----------------------------------------------------------------------------- overview


def _compact(summary: Any) -> str:
    """A stage summary as short ``key value`` pairs (scalars only; nested values counted)."""
    if not isinstance(summary, Mapping):
        return ""
    parts = []
    for k, v in summary.items():
        if isinstance(v, Mapping):
            continue
        if isinstance(v, list):
            continue
        shown = pct(v) if k.endswith(("rate", "accuracy", "frac")) and _num(v) else num(v)
        parts.append(f'<span class="pair">{esc(k)} <b>{shown}</b></span>')
    return " ".join(parts)


def stages(run: RunFiles) -> str:
    names = run.stage_names()
    if not names:
        return '<p class="missing">No manifest.json and no configured stages: nothing has run.</p>'
    rows, total = [], 0.0
    for name in names:
        entry = run.stage_entry(name)
        status = run.stage_status(name)
        kind = {"done": "ok", "running": "warn"}.get(status or "", "off")
        wall = entry.get("wall_s")
        if status == "done" and _num(wall):
            total += wall
        updated = str(entry.get("updated", "")).replace("T", " ").replace("+00:00", " UTC")
        rows.append([esc(name), badge(status or "not run", kind), seconds(wall),
                     esc(updated), _compact(entry.get("summary"))])
    out = table(["stage", "status", "wall time", "updated", "summary"], rows, "stages")
    return out + f'<p class="note">Sum of finished stages\' wall time: {seconds(total)}.</p>'


def _rl_mean(run: RunFiles, stage: str, metric: str) -> float | None:
    vals = [r[metric] for r in run.metrics(stage) if _num(r.get(metric))]
    return sum(vals) / len(vals) if vals else None


def headline(run: RunFiles) -> str:
    """The demo's result table: held-out accuracy of base, RL only and InT + RL, and the
    zero-advantage fraction of both RL runs. From summary.json when the demo wrote it, else
    assembled from eval/*/summary.json and the RL metrics, so a non-demo run gets it too."""
    summary = run.demo_summary or {}
    from jaxint.report import demo_section  # it formats with this module's helpers

    split = demo_section.section(summary)
    if split:
        return split + "".join(f'<p class="note">{n}</p>' for n in _summary_notes(summary))
    evals = run.evals()
    acc = dict(summary.get("accuracy") or {})
    for name in ("base", "rl_only", "int_rl"):
        if acc.get(name) is None and name in evals:
            acc[name] = evals[name].get("pass@1")
    zero = dict(summary.get("zero_adv_frac") or {})
    reward = dict(summary.get("reward_mean") or {})
    for name, stage in (("rl_only", "rl_baseline"), ("int_rl", "rl")):
        if zero.get(name) is None:
            zero[name] = _rl_mean(run, stage, "zero_adv_frac")
        if reward.get(name) is None:
            reward[name] = _rl_mean(run, stage, "reward_mean")
    values = [*acc.values(), *zero.values(), *reward.values()]
    if not any(_num(v) for v in values):
        return ('<p class="missing">No held-out evaluation and no RL metrics yet '
                "(stage not run).</p>")
    rows = [
        ["base", pct(acc.get("base")), "–", "–"],
        ["RL only", pct(acc.get("rl_only")), pct(zero.get("rl_only")), pct(reward.get("rl_only"))],
        ["InT + RL", pct(acc.get("int_rl")), pct(zero.get("int_rl")), pct(reward.get("int_rl"))],
    ]
    header = ["model", "held-out accuracy (pass@1)", "zero-advantage groups in RL",
              "mean RL training reward"]
    out = table(header, rows, "headline")
    notes = []
    if _num(acc.get("int_rl")) and _num(acc.get("rl_only")):
        delta = acc["int_rl"] - acc["rl_only"]
        notes.append(f"InT + RL − RL only: <b>{delta * 100:+.1f} points</b> of held-out accuracy.")
    if summary:
        notes += _summary_notes(summary)
        source = "summary.json"
    else:
        source = "eval/*/summary.json and RL metrics (no demo summary.json)"
    notes.append(f"Source: {esc(source)}; the zero-advantage fraction and reward are means "
                 "over all RL steps.")
    return out + "".join(f'<p class="note">{n}</p>' for n in notes)


def _summary_notes(summary: Mapping[str, Any]) -> list[str]:
    """The demo summary's size, wall time and intervention counts, as note texts."""
    notes = []
    if summary.get("heldout_problems") is not None:
        notes.append(f"{num(summary.get('heldout_problems'))} held-out problems × "
                     f"{num(summary.get('eval_samples'))} samples.")
    if _num(summary.get("wall_s")):
        notes.append(f"Demo wall time {seconds(summary['wall_s'])}.")
    iv = summary.get("interventions") or {}
    if isinstance(iv, Mapping) and iv:
        flt = iv.get("filter") if isinstance(iv.get("filter"), Mapping) else {}
        notes.append(
            f"Interventions: {num(iv.get('proposals'))} proposed, "
            f"{num(iv.get('accepted'))} accepted, {num(flt.get('kept'))} kept by the "
            f"filter, {num(summary.get('sft_examples'))} used for SFT.")
    return notes


# ----------------------------------------------------------------------------- RL

RL_MAIN = (
    ("reward_mean", "Mean reward per step", "", True, (0, 1)),
    ("pass_rate", "Pass rate (groups with ≥1 correct)", "", True, (0, 1)),
    ("zero_adv_frac", "Zero-advantage groups", "", True, (0, 1)),
    ("response_len_mean", "Response length", "tokens", False, None),
    ("entropy", "Token entropy", "nats", False, None),
    ("truncated_frac", "Truncated responses", "", True, (0, 1)),
)
RL_EXTRA = (
    ("loss", "Policy loss", ""),
    ("grad_norm", "Gradient norm", ""),
    ("clip_frac", "Clipped fraction", ""),
    ("ratio_mean", "Mean importance ratio", ""),
    ("kl", "KL to reference", ""),
    ("sampler_logprob_gap", "Sampler vs trainer log-prob gap", "nats/token"),
    ("rollout_tokens_per_s", "Rollout throughput", "tokens/s"),
    ("train_tokens_per_s", "Training throughput", "tokens/s"),
)


def rl(run: RunFiles) -> str:
    runs = run.rl_runs()
    if not runs:
        return missing(run, ["rl", "rl_baseline"], "RL metrics")
    main = [plots.lines({n: plots.series(rows, m) for n, rows in runs.items()}, title=t,
                        ylabel=y, percent=p, ylim=lim)
            for m, t, y, p, lim in RL_MAIN]
    out = figures(main)
    rows = []
    for name, steps in runs.items():
        first, last = steps[0], steps[-1]
        for metric in ("reward_mean", "pass_rate", "zero_adv_frac"):
            vals = [r[metric] for r in steps if _num(r.get(metric))]
            mean = sum(vals) / len(vals) if vals else None
            rows.append([esc(name), esc(metric), num(len(steps)), pct(first.get(metric)),
                         pct(last.get(metric)), pct(mean)])
    out += table(["run", "metric", "steps", "first step", "last step", "mean"], rows)
    if len(runs) == 1:
        other = "rl_baseline" if "RL only" not in runs else "rl"
        out += f'<p class="note">Only one RL run; {esc(other)}: ' \
               f'{esc(run.stage_status(other) or "stage not run")}.</p>'
    extra = [plots.lines({n: plots.series(rows, m) for n, rows in runs.items()}, title=t,
                         ylabel=y) for m, t, y in RL_EXTRA]
    timing = {}
    for n, rows in runs.items():
        for phase in ("rollout", "scoring", "training"):
            timing[f"{phase} ({n})"] = plots.series(rows, f"time_{phase}_s")
    extra.append(plots.lines(timing, title="Seconds per step by phase", ylabel="s"))
    body = figures(extra)
    if body:
        out += f"<details><summary>Optimisation and throughput</summary>{body}</details>"
    return out


# ----------------------------------------------------------------------------- SFT


def _sft_block(run: RunFiles, stage: str, title: str, what: str) -> str:
    steps = [r for r in run.metrics(stage) if "step" in r]
    head = f"<h3>{esc(title)}</h3>"
    if not steps:
        return head + missing(run, [stage], what)
    loss = plots.lines({"train": plots.series(steps, "loss"),
                        "held-out": plots.series(steps, "eval_loss")},
                       title=f"{title}: loss", ylabel="NLL / token")
    lr = plots.lines({"": plots.series(steps, "lr")}, title=f"{title}: learning rate")
    final = run.final_metrics(stage) or {}
    summary = run.stage_entry(stage).get("summary") or {}
    items = [
        ("steps", num(final.get("steps", steps[-1].get("step")))),
        ("final train loss", num(final.get("train_loss", steps[-1].get("loss")))),
        ("held-out loss", num(final.get("eval_loss"))),
        ("tokens/s", num(final.get("tokens_per_s", steps[-1].get("tokens_per_s")))),
    ]
    if isinstance(summary, Mapping) and summary.get("examples") is not None:
        items.append(("training examples", num(summary.get("examples"))))
    if not final:
        items.append(("status", esc(run.stage_status(stage) or "no final line")))
    return head + kv_table(items) + figures([loss, lr])


def sft(run: RunFiles) -> str:
    return (_sft_block(run, "sft", "SFT on interventions", "SFT metrics")
            + _sft_block(run, "base", "Base pretraining (demo)", "pretraining metrics"))


# ----------------------------------------------------------------------------- evaluation


def evaluation(run: RunFiles) -> str:
    evals = run.evals()
    if not evals:
        return missing(run, ["eval", "eval_base", "eval_rl_only", "eval_int_rl"],
                       "evaluation summaries")
    ks = sorted({k for s in evals.values() for k in s if k.startswith("pass@")},
                key=lambda k: int(k[5:]) if k[5:].isdigit() else 0)
    rows = []
    for name, s in evals.items():
        rows.append([esc(EVAL_LABELS.get(name, name)), esc(s.get("dataset", "")),
                     num(s.get("problems")), num(s.get("n")), num(s.get("solved")),
                     *[pct(s.get(k)) for k in ks]])
    out = table(["model", "dataset", "problems", "samples/problem", "solved (≥1 correct)",
                 *[esc(k) for k in ks]], rows)
    names = list(evals)
    labels = [EVAL_LABELS.get(n, n) for n in names]
    values = [evals[n].get("pass@1") if _num(evals[n].get("pass@1")) else 0.0 for n in names]
    colors = [plots.color(label, i) for i, label in enumerate(labels)]
    return out + figures([plots.bars(labels, values, title="Held-out pass@1", percent=True,
                                     colors=colors)])


# ----------------------------------------------------------------------------- rollouts


def rollouts(run: RunFiles) -> str:
    v = run.verify_summary
    gen = [r for r in run.metrics("generate") if _num(r.get("tokens_per_s"))]
    if not v:
        text = missing(run, ["generate", "verify"], "scored rollouts")
        if gen:
            text += f'<p class="note">Generation throughput: ' \
                    f'{num(gen[-1]["tokens_per_s"])} tokens/s.</p>'
        return text
    n = v["attempts"]
    items = [
        ("attempts", num(n)),
        ("correct", f"{num(v['correct'])} ({pct(v['correct'] / n)})"),
        ("failed (sent to intervene)", num(n - v["correct"])),
        ("problems", num(v["problems"])),
        ("problems with ≥1 correct attempt", num(v["solved"])),
        ("mean completion length", f"{num(v['mean_tokens'])} tokens"),
        ("truncated at the token limit", pct(v["truncated"] / n)),
    ]
    if gen:
        items.append(("generation throughput", f"{num(gen[-1]['tokens_per_s'])} tokens/s"))
    out = kv_table(items)
    reasons = v["reasons"]
    if reasons:
        failures = max(sum(reasons.values()), 1)
        out += "<h3>Why attempts failed (verifier)</h3>" + table(
            ["reason", "attempts", "share of failures"],
            [[esc(k), num(c), pct(c / failures)] for k, c in reasons.most_common()])
    return out


# ----------------------------------------------------------------------------- interventions


def _rel_labels(n: int) -> list[str]:
    step = 100 / n
    return [f"{step * i:.0f}–{step * (i + 1):.0f}%" for i in range(n)]


def intervention_stats(run: RunFiles) -> str:
    st = run.stats("intervene")
    out = "<h3>Proposals</h3>"
    if not st:
        out += missing(run, ["intervene"], "intervention statistics")
    else:
        items = [
            ("proposals", num(st.get("proposals"))),
            ("failed attempts", num(st.get("attempts"))),
            ("problems", num(st.get("problems"))),
            ("accepted proposals", num(st.get("accepted"))),
            ("parse rate", pct(st.get("parse_rate"))),
            ("accept rate", pct(st.get("accept_rate"))),
            ("answer-leak rate", pct(st.get("leak_rate"))),
            ("location = true first error (synthetic)", pct(st.get("location_match_rate"))),
            ("interventions kept (one per attempt)", num(st.get("interventions"))),
            ("problems with an intervention", num(st.get("problems_with_intervention"))),
        ]
        out += kv_table(items)
        out += ('<p class="note">Parse rate: proposals with a parseable &lt;intervention&gt; '
                "block among those sampled; leak rate: proposals dropped for containing the "
                "gold answer among otherwise valid ones.</p>")
        rejected = st.get("rejected")
        if isinstance(rejected, Mapping):
            total = st.get("proposals") if _num(st.get("proposals")) else 0
            rows = [[esc(k), num(v), pct(v / total) if total and _num(v) else "–"]
                    for k, v in sorted(rejected.items(), key=lambda kv: -(kv[1] or 0))]
            out += "<h3>Rejection reasons</h3>" + table(["reason", "proposals", "share"], rows)
        svgs = []
        hist = st.get("location_hist")
        if isinstance(hist, Mapping) and hist:
            pairs = sorted(((int(k), v) for k, v in hist.items()
                            if str(k).lstrip("-").isdigit() and _num(v)))
            svgs.append(plots.bars([str(k) for k, _ in pairs], [v for _, v in pairs],
                                   title="Intervention location (step K)",
                                   xlabel="step replaced", ylabel="accepted proposals"))
        rel = st.get("relative_location_hist")
        if isinstance(rel, list) and rel and all(_num(v) for v in rel):
            svgs.append(plots.bars(_rel_labels(len(rel)), rel,
                                   title="Location relative to attempt length",
                                   xlabel="K / number of steps", ylabel="accepted proposals",
                                   rotation=35))
        out += figures(svgs)
    return out + _filter_stats(run) + _conditioning(run)


def _filter_stats(run: RunFiles) -> str:
    out = "<h3>Continuation filter</h3>"
    st = run.stats("filter")
    if not st:
        return out + missing(run, ["filter"], "filter statistics")
    if st.get("enabled") is False:
        return out + (f'<p class="note">The filter was disabled: all {num(st.get("kept"))} '
                      "interventions were kept unscored.</p>")
    out += kv_table([
        ("interventions scored", num(st.get("interventions"))),
        ("kept (≥ min_correct continuations correct)", num(st.get("kept"))),
        ("filter pass rate", pct(st.get("pass_rate"))),
        ("continuations sampled", num(st.get("num_samples"))),
        ("continuations correct", num(st.get("num_correct"))),
        ("mean continuation accuracy", pct(st.get("mean_accuracy"), 2)),
        ("problems", num(st.get("problems"))),
        ("problems with a kept intervention", num(st.get("problems_kept"))),
    ])
    rows = list(run.filter_by_key.values())
    counts = collections.Counter(int(r["num_correct"]) for r in rows
                                 if _num(r.get("num_correct")))
    if counts:
        top = max(max(counts), max((int(r.get("num_samples") or 0) for r in rows), default=0))
        labels = [str(i) for i in range(top + 1)]
        out += figures([plots.bars(labels, [counts.get(i, 0) for i in range(top + 1)],
                                   title="Correct continuations per intervention",
                                   xlabel="correct continuations", ylabel="interventions")])
    return out


def _conditioning(run: RunFiles) -> str:
    c = run.conditioning
    if not c or not isinstance(c.get("conditions"), Mapping):
        return ""
    labels = {"problem": "problem alone", "prefix": "prefix alone (steps before the error)",
              "original_step": "prefix + original (wrong) step",
              "intervention": "prefix + intervention"}
    rows = [[esc(labels.get(k, k)), num(v.get("problems_solved")), num(v.get("num_correct")),
             num(v.get("num_samples")), pct(v.get("mean_accuracy"), 2)]
            for k, v in c["conditions"].items() if isinstance(v, Mapping)]
    return ("<h3>Conditioning measurement</h3>"
            f'<p class="note">{num(c.get("num_interventions"))} interventions over '
            f'{num(c.get("num_problems"))} problems; continuations from {len(rows)} starts.</p>'
            + table(["start", "problems solved", "correct", "samples", "accuracy"], rows))


# ----------------------------------------------------------------------------- viewer


def _step(index: int, text: Any, cls: str, label: str = "") -> str:
    tag = f'<span class="tag">{esc(label)}</span>' if label else ""
    return (f'<li class="{cls}" value="{index}">{tag}'
            f'<pre class="text">{clip(text, MAX_STEP_CHARS)}</pre></li>')


def _fold(items: list[str], summary: str) -> str:
    return (f'<li class="fold"><details><summary>{esc(summary)}</summary>'
            f'<ol class="steps">{"".join(items)}</ol></details></li>')


def _attempt(row: Mapping[str, Any], k: int) -> str:
    """The numbered attempt with step K replaced in place: kept prefix, the wrong step and the
    intervention side by side, then the dropped rest (folded when long)."""
    steps = row.get("steps") if isinstance(row.get("steps"), list) else []
    n = len(steps)
    if not 1 <= k <= n:
        listing = "".join(_step(i, s, "step") for i, s in enumerate(steps, 1))
        return (f'<p class="missing">Location {esc(k)} is outside steps 1..{n}; the attempt '
                f'is shown unmarked.</p><ol class="steps">{listing}</ol>')
    before = [_step(i, steps[i - 1], "step kept") for i in range(1, k)]
    if len(before) > CONTEXT_BEFORE + 1:
        cut = len(before) - CONTEXT_BEFORE
        before = [_fold(before[:cut], f"steps 1–{cut} (kept in the target)"),
                  *before[cut:]]
    replaced = (
        f'<li class="swap" value="{k}"><div class="sbs">'
        f'<div class="error"><span class="tag">step {k}: first error (original, dropped)</span>'
        f'<pre class="text">{clip(steps[k - 1], MAX_STEP_CHARS)}</pre></div>'
        f'<div class="fix"><span class="tag">intervention (replaces step {k})</span>'
        f'<pre class="text">{clip(row.get("intervention") or row.get("content"), MAX_STEP_CHARS)}'
        "</pre></div></div></li>"
    )
    after = [_step(i, steps[i - 1], "step dropped") for i in range(k + 1, n + 1)]
    if len(after) > CONTEXT_AFTER:
        after = [_fold(after, f"steps {k + 1}–{n} (dropped from the target)")]
    return f'<ol class="steps">{"".join(before)}{replaced}{"".join(after)}</ol>'


def _one(run: RunFiles, index: int, row: Mapping[str, Any], problems: Mapping[str, Any],
         attempts: Mapping[tuple, dict], proposals_by_key: Mapping[tuple, list]) -> str:
    pid = row.get("problem_id")
    k_raw = row.get("location")
    k = int(k_raw) if _num(k_raw) else -1
    steps = row.get("steps") if isinstance(row.get("steps"), list) else []
    rkey = key(row)
    attempt = attempts.get(rkey, {}) if rkey else {}
    proposals = proposals_by_key.get(rkey, []) if rkey else []
    proposal = next((p for p in proposals
                     if p.get("proposal_index") == row.get("proposal_index")), None)
    cond = run.conditioning_by_key.get(rkey) if rkey else None

    badges = []
    nc, ns = row.get("num_correct"), row.get("num_samples")
    if _num(nc) and _num(ns):
        badges.append(badge(f"{int(nc)}/{int(ns)} continuations correct",
                            "ok" if nc > 0 else "bad"))
    else:
        badges.append(badge("not filtered", "off"))
    if row.get("kept") is False:
        badges.append(badge("dropped by filter", "bad"))
    true_k = proposal.get("true_location") if proposal else None
    if _num(true_k):
        badges.append(badge("K = true first error" if int(true_k) == k
                            else f"true first error: step {int(true_k)}",
                            "ok" if int(true_k) == k else "bad"))
    summary = (f"#{index} · problem {esc(pid)} · attempt {esc(row.get('sample_index'))} · "
               f"step {esc(k_raw)} of {len(steps)} " + " ".join(badges))

    prob = problems.get(str(pid))
    if prob is not None:
        prob_html = (f'<pre class="text">{clip(prob.problem, MAX_TEXT_CHARS)}</pre>'
                     f'<p class="note">Gold answer: <code>{esc(prob.answer)}</code> · '
                     f"source {esc(prob.source)}</p>")
        ref = (f'<details class="ref"><summary>Reference solution</summary>'
               f'<pre class="text">{clip(prob.solution, MAX_TEXT_CHARS)}</pre></details>'
               if prob.solution else '<p class="missing">No reference solution.</p>')
    else:
        prob_html = f'<p class="missing">Problem {esc(pid)} is not in the dataset.</p>'
        ref = ""
    verdict = ""
    if attempt:
        verdict = (f'<p class="note">Original attempt: answered '
                   f'<code>{esc(attempt.get("extracted"))}</code> ({esc(attempt.get("reason"))})'
                   f', {num(attempt.get("num_tokens"))} tokens, finish: '
                   f'{esc(attempt.get("finish_reason"))}.</p>')
    extra = ""
    if cond:
        extra += ('<p class="note">Conditioning (correct continuations): problem alone '
                  f'{num(cond.get("problem"))}, prefix + original step '
                  f'{num(cond.get("original_step"))}, prefix + intervention '
                  f'{num(cond.get("intervention"))}.</p>')
    if proposal and proposal.get("raw"):
        extra += ('<details class="raw"><summary>Intervener\'s reply (raw)</summary>'
                  f'<pre class="text">{clip(proposal["raw"], MAX_TEXT_CHARS)}</pre></details>')
    opened = " open" if index == 1 else ""
    return (
        f'<details class="iv" id="iv-{index}"{opened}><summary>{summary}</summary>'
        f'<div class="ivbody"><h4>Problem</h4>{prob_html}{ref}'
        f"<h4>Attempt, steps 1–{len(steps)}, with the intervention in place of step "
        f"{esc(k_raw)}</h4>{verdict}{_attempt(row, k)}{extra}</div></details>"
    )


def viewer(run: RunFiles) -> str:
    ivs = run.interventions(VIEWER_CAP)
    if ivs is None:
        return missing(run, ["intervene"], "interventions")
    problems, source = run.problems
    shown = ivs.rows
    keys = [k for r in shown if (k := key(r)) is not None]
    attempts, proposals = run.attempts_for(keys), run.proposals_for(keys)
    notes = [f"From <code>{esc(ivs.source)}</code>: {num(ivs.total)} interventions."]
    if ivs.note:
        notes.append(esc(ivs.note))
    if ivs.total > len(shown):
        notes.append(f"Showing {len(shown)} of {ivs.total} (one per problem first); the rest "
                     f"are in <code>{esc(ivs.source)}</code>.")
    if problems:
        notes.append(f"Problems from <code>{esc(source)}</code>.")
    else:
        notes.append(f"Problems unavailable: {esc(source)}.")
    notes.append("Each attempt is split into numbered steps; the intervention replaces the "
                 "first wrong step K; the SFT target is steps 1..K−1 + the intervention, and "
                 "everything after is dropped.")
    head = "".join(f'<p class="note">{n}</p>' for n in notes)
    return head + "".join(_one(run, i, r, problems, attempts, proposals)
                          for i, r in enumerate(shown, 1))


# ----------------------------------------------------------------------------- registry

Section = tuple[str, str, Callable[[RunFiles], str]]
SECTIONS: tuple[Section, ...] = (
    ("results", "Results", headline),
    ("stages", "Stages", stages),
    ("rl", "RL training", rl),
    ("sft", "SFT and pretraining", sft),
    ("eval", "Evaluation", evaluation),
    ("rollouts", "Rollouts and verification", rollouts),
    ("interventions", "Intervention statistics", intervention_stats),
    ("viewer", "Intervention viewer", viewer),
)
