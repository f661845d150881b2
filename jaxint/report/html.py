"""`jaxint report RUN_DIR`: one self-contained HTML page about a run.

Everything is inline (a small stylesheet, plots as SVG, no scripts), so the file can be mailed,
attached to an issue or opened on a machine without network access. Sections are rendered
independently and a section that fails shows its error instead of taking the page down: the
report is the tool people reach for when a run went wrong, so it must survive odd inputs.
"""

from __future__ import annotations

import datetime
import pathlib
import traceback

from jaxint import __version__
from jaxint.report import sections
from jaxint.report.runfiles import RunFiles
from jaxint.report.sections import esc

CSS = """
:root { --fg:#1d1d1f; --mute:#6b6b6b; --line:#e3e3e3; --bg:#fafafa; --ok:#1a7f37;
        --bad:#c62828; --warn:#b26a00; --blue:#1f77b4; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); margin: 0; background: #fff; }
header { padding: 18px 28px 10px; border-bottom: 1px solid var(--line); background: var(--bg); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .meta { color: var(--mute); font-size: 12px; }
nav { margin-top: 8px; font-size: 13px; }
nav a { margin-right: 14px; color: var(--blue); text-decoration: none; }
main { padding: 6px 28px 40px; max-width: 1280px; }
section { margin-top: 22px; }
h2 { font-size: 18px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { font-size: 13px; margin: 12px 0 4px; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left;
         vertical-align: top; }
thead th { background: var(--bg); }
table.kv th { font-weight: normal; color: var(--mute); background: var(--bg); }
table.headline td:nth-child(n+2) { font-variant-numeric: tabular-nums; font-weight: 600; }
table.stages td:last-child { font-size: 12px; }
.pair { display: inline-block; margin-right: 8px; white-space: nowrap; }
.note { color: var(--mute); font-size: 12.5px; margin: 4px 0; }
.missing { color: var(--warn); font-style: italic; }
.error { color: var(--bad); }
.badge { display: inline-block; border-radius: 9px; padding: 0 7px; font-size: 11.5px;
         border: 1px solid currentColor; margin-left: 4px; }
.badge.ok { color: var(--ok); } .badge.bad { color: var(--bad); }
.badge.warn { color: var(--warn); } .badge.off { color: var(--mute); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 10px; }
figure.plot { margin: 0; border: 1px solid var(--line); border-radius: 4px; padding: 4px; }
figure.plot svg { width: 100%; height: auto; display: block; }
details > summary { cursor: pointer; }
details.iv { border: 1px solid var(--line); border-radius: 4px; margin: 6px 0; }
details.iv > summary { padding: 6px 10px; background: var(--bg); }
details.iv[open] > summary { border-bottom: 1px solid var(--line); }
.ivbody { padding: 4px 14px 12px; }
pre.text { white-space: pre-wrap; word-break: break-word; margin: 0;
           font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.ivbody > pre.text, details.ref pre.text, details.raw pre.text {
           background: var(--bg); padding: 6px 8px; border-radius: 3px; }
ol.steps { padding-left: 34px; margin: 4px 0; }
ol.steps > li { margin: 3px 0; padding: 3px 6px; border-left: 3px solid var(--line); }
ol.steps > li.fold { list-style: none; border-left: none; color: var(--mute); }
ol.steps > li.dropped { opacity: .55; }
ol.steps > li.swap { border-left-color: var(--bad); }
.swap .sbs { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
.swap .error { background: #fdecea; border: 1px solid #f5c2c0; padding: 4px 6px; color: inherit; }
.swap .fix { background: #e8f5e9; border: 1px solid #b7dfb9; padding: 4px 6px; }
.tag { display: block; font-size: 11px; font-weight: 600; color: var(--mute);
       text-transform: uppercase; letter-spacing: .03em; margin-bottom: 2px; }
.swap .error .tag { color: var(--bad); } .swap .fix .tag { color: var(--ok); }
.cut { color: var(--warn); font-style: italic; }
footer { color: var(--mute); font-size: 12px; padding: 12px 28px;
         border-top: 1px solid var(--line); }
@media (max-width: 800px) { .swap .sbs { grid-template-columns: 1fr; } }
"""


def _section(run: RunFiles, anchor: str, title: str, fn) -> str:
    try:
        body = fn(run)
    except Exception as err:  # noqa: BLE001 - one broken section must not hide the others
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        body = (f'<p class="error">This section could not be rendered: {esc(detail)}</p>')
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def render(run_dir: str | pathlib.Path) -> str:
    """The report of ``run_dir`` as one HTML document (a string)."""
    run = RunFiles(run_dir)
    body = "".join(_section(run, a, t, fn) for a, t, fn in sections.SECTIONS)
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in sections.SECTIONS)
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    model = run.config.get("model") if isinstance(run.config.get("model"), dict) else {}
    data = run.config.get("data") if isinstance(run.config.get("data"), dict) else {}
    meta = [f"run directory <code>{esc(run.root.resolve())}</code>"]
    if model.get("path") or model.get("preset"):
        meta.append(f"model <code>{esc(model.get('path') or model.get('preset'))}</code>")
    if data.get("path"):
        meta.append(f"data <code>{esc(data.get('path'))}</code>")
    if not run.root.is_dir():
        meta.append('<span class="error">the directory does not exist</span>')
    warnings = ""
    if run.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in dict.fromkeys(run.warnings))
        warnings = f'<section id="warnings"><h2>Notes on the files</h2><ul>{items}</ul></section>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>jaxint report: {esc(run.name)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>InT run <code>{esc(run.name)}</code></h1>"
        f'<div class="meta">{" · ".join(meta)}</div><nav>{nav}</nav></header>'
        f"<main>{body}{warnings}</main>"
        f"<footer>Generated by jaxint {esc(__version__)} on {esc(when)} with "
        "<code>jaxint report</code>; self-contained, works offline.</footer>"
        "</body></html>\n"
    )


def write_report(run_dir: str | pathlib.Path, out: str | pathlib.Path | None = None
                 ) -> pathlib.Path:
    """Writes the report (default ``RUN_DIR/report.html``) and returns its path."""
    path = pathlib.Path(out) if out else pathlib.Path(run_dir) / "report.html"
    text = render(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
