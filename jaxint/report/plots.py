"""Matplotlib figures as inline SVG, so the report is one self-contained file.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot): no global figure
state, no GUI backend, safe to call from anywhere, and the raster backend (Agg) is never needed
because SVG is vector. SVG rather than PNG because it stays sharp when zoomed and its text is
real text (``svg.fonttype: none``) the browser can search. The XML prolog, the DOCTYPE and
matplotlib's metadata block are stripped: they are not valid inside HTML and carry the only
URLs of the output (``xmlns`` declarations are kept; browsers never fetch them).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

# One colour per series name across all figures, so "InT + RL" is the same blue everywhere.
COLORS = {
    "InT + RL": "#1f77b4",
    "RL": "#1f77b4",
    "RL only": "#ff7f0e",
    "train": "#1f77b4",
    "held-out": "#d62728",
    "base": "#7f7f7f",
    "": "#1f77b4",
}
_FALLBACK = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_RC = {
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
SIZE = (4.6, 2.8)


def color(name: str, index: int = 0) -> str:
    return COLORS.get(name, _FALLBACK[index % len(_FALLBACK)])


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def to_svg(fig: Figure, label: str) -> str:
    """The figure as an ``<svg>`` element that scales with its container."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.S)
    # Drop the fixed size (keep the viewBox) so CSS can scale it; label it for screen readers.
    head, rest = text.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    label = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return f'{head} role="img" aria-label="{label}">{rest}'


def series(rows: Sequence[Mapping[str, object]], key: str, x: str = "step"
           ) -> tuple[list[float], list[float]]:
    """The (x, y) points of rows that have finite values of both keys."""
    xs, ys = [], []
    for i, r in enumerate(rows):
        xv, yv = r.get(x, i + 1), r.get(key)
        if _finite(xv) and _finite(yv):
            xs.append(float(xv))
            ys.append(float(yv))
    return xs, ys


def lines(
    data: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, title: str,
    xlabel: str = "step", ylabel: str = "", percent: bool = False, ylim: tuple | None = None,
) -> str | None:
    """One line per series (markers too when a series is short); None when there is no data."""
    data = {k: v for k, v in data.items() if len(v[0])}
    if not data:
        return None
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=SIZE)
        ax = fig.add_subplot()
        for i, (name, (xs, ys)) in enumerate(data.items()):
            marker = "o" if len(xs) <= 30 else None
            ax.plot(xs, ys, label=name, color=color(name, i), marker=marker, markersize=3,
                    linewidth=1.5)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        if ylabel:
            ax.set_ylabel(ylabel)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if any(data):
            ax.legend()
        return to_svg(fig, title)


def bars(
    labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str = "",
    ylabel: str = "", percent: bool = False, colors: Sequence[str] | None = None,
    annotate: bool = True, rotation: int | None = None,
) -> str | None:
    """A bar chart with the values written on the bars; None when there is nothing to show."""
    if not labels:
        return None
    with matplotlib.rc_context(_RC):
        width = max(SIZE[0], min(9.0, 0.28 * len(labels) + 1.5))
        fig = Figure(figsize=(width, SIZE[1]))
        ax = fig.add_subplot()
        ax.grid(axis="x", visible=False)
        positions = range(len(labels))
        drawn = ax.bar(positions, values, color=list(colors) if colors else "#1f77b4",
                       width=0.7)
        if rotation is None:
            rotation = 0 if len(labels) <= 12 else 90
        ax.set_xticks(list(positions), [str(s) for s in labels], rotation=rotation,
                      ha="right" if 0 < rotation < 90 else "center")
        if annotate and len(labels) <= 24:
            fmt = (lambda v: f"{100 * v:.1f}%") if percent else (lambda v: f"{v:g}")
            ax.bar_label(drawn, labels=[fmt(v) for v in values], fontsize=7, padding=1)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        top = max([v for v in values if _finite(v)] or [0])
        ax.set_ylim(0, (top or 1) * 1.15)
        ax.set_title(title)
        if xlabel:
            ax.set_xlabel(xlabel)
        if ylabel:
            ax.set_ylabel(ylabel)
        return to_svg(fig, title)
