"""`jaxint status RUN_DIR`: where a run is, from its files alone.

A table of the run's stages: status, wall time, steps or shards done / planned, the last
checkpoint on disk, the last metrics and an ETA from the stage's own rate. `--json` prints the
same as one JSON object; `--watch` redraws it (rich) until interrupted.

It reads a run that another process is writing, without locks: the manifest and config are
replaced atomically by the writer, and a metrics.jsonl line being appended (or torn by a kill)
is skipped instead of failing, so the command can never disturb or be broken by a live run.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import re
import sys
import time
from typing import Any

import yaml

# Stages in display order (the demo's `base` first); a run lists only those it has.
ORDER = ("base", "generate", "verify", "intervene", "filter", "sft", "rl", "rl_baseline",
         "rl_matched", "ref_sft", "ref_rl", "eval", "conditioning")
# Where a training stage's planned step count is in config.yaml.
_PLANNED_STEPS = {"sft": ("sft", "max_steps"), "rl": ("rl", "steps"),
                  "rl_baseline": ("rl", "steps"), "base": ("demo", "pretrain_steps"),
                  "ref_sft": ("sft", "max_steps"), "ref_rl": ("rl", "steps"),
                  "rl_matched": ("rl", "steps")}
_SHARD = re.compile(r"^([a-z0-9_]+)-\d{5}\.jsonl$")
# The file name of a stage's unit of work (intervene also writes turn1-* side files).
_SHARD_NAMES = {"intervene": "proposals", "eval": "results"}
# Metrics worth a glance, in order; others fill up to `_LAST_KEYS` entries.
_PREFERRED = ("loss", "reward_mean", "pass@1", "accuracy", "accept_rate", "eval_loss",
              "tokens_per_s", "rollout_tokens_per_s")
_LAST_KEYS = 3


def read_rows(path: pathlib.Path) -> list[dict[str, Any]]:
    """The JSON object lines of a file being appended to; unparsable lines (the half-written
    last one) are skipped, a missing file is empty."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    rows = []
    for line in data.splitlines():
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _read_json(path: pathlib.Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_config(root: pathlib.Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _parse_time(text: Any) -> float | None:
    try:
        return datetime.datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def _stage_names(root: pathlib.Path, cfg: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    names = set(manifest.get("stages", {}))
    names.update(cfg.get("stages") or [])
    if cfg.get("rl_baseline"):
        names.add("rl_baseline")
    if cfg.get("demo"):
        names.add("base")
    names.update(n for n in ORDER if (root / n).is_dir() and any((root / n).iterdir()))
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def _checkpoint(stage_dir: pathlib.Path) -> int | None:
    """The newest orbax step directory: orbax writes a step under a temporary name and
    renames it to the bare step number when complete, so digits-only names are finished."""
    try:
        steps = [int(p.name) for p in (stage_dir / "checkpoints").iterdir()
                 if p.is_dir() and p.name.isdigit()]
    except OSError:
        return None
    return max(steps) if steps else None


def _shards(stage_dir: pathlib.Path) -> int:
    """Committed shard files (NAME-00000.jsonl) in the stage folder and one level below
    (eval/MODEL/results-*.jsonl); temporary files are hidden dot-files and never match."""
    name = _SHARD_NAMES.get(stage_dir.name, "shard")
    files = list(stage_dir.glob("*.jsonl")) + list(stage_dir.glob("*/*.jsonl"))
    return sum(1 for p in files if (m := _SHARD.match(p.name)) and m.group(1) == name)


def _last_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    numeric = {}
    for row in reversed(rows):
        if not row.get("final"):
            numeric = {k: v for k, v in row.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and k not in ("step", "shard", "of")}
            break
    keys = [k for k in _PREFERRED if k in numeric]
    keys += [k for k in numeric if k not in keys]
    return {k: numeric[k] for k in keys[:_LAST_KEYS]}


def _progress(stage: str, rows: list[dict[str, Any]], stage_dir: pathlib.Path,
              cfg: dict[str, Any], entry: dict[str, Any]) -> tuple[Any, Any, str, list]:
    """(done, planned, unit, [(time, done), ...] for the rate)."""
    steps = [(r.get("time"), r["step"]) for r in rows
             if isinstance(r.get("step"), int) and not isinstance(r["step"], bool)]
    if stage in _PLANNED_STEPS or steps:  # a training stage (also ones not listed here)
        section, key = _PLANNED_STEPS.get(stage, ("", ""))
        planned = (cfg.get(section) or {}).get(key) if section else None
        if planned is None:  # a trainer that logs its own plan (SFT: epochs x examples)
            planned = next((r["total_steps"] for r in reversed(rows)
                            if isinstance(r.get("total_steps"), int)), None)
        done = steps[-1][1] if steps else entry.get("summary", {}).get("steps")
        if done is None and planned is not None and stage_dir.is_dir():
            done = 0  # started, no step logged yet (compiling)
        return done, planned if isinstance(planned, int) else None, "steps", steps
    shard_rows = [r for r in rows if isinstance(r.get("shard"), int)]
    planned = next((r["of"] for r in reversed(shard_rows) if isinstance(r.get("of"), int)),
                   entry.get("summary", {}).get("shards"))
    points = [(r.get("time"), i + 1) for i, r in enumerate(shard_rows)]
    return _shards(stage_dir), planned if isinstance(planned, int) else None, "shards", points


def _eta(status: str, done: int | None, planned: int | None, points: list) -> float | None:
    """Seconds left at the rate over this stage's metric rows (the latest session's)."""
    if status != "running" or done is None or planned is None or len(points) < 2:
        return None
    (t0, d0), (t1, d1) = points[0], points[-1]
    t0, t1 = _parse_time(t0), _parse_time(t1)
    if t0 is None or t1 is None or t1 <= t0 or d1 <= d0:
        return None
    return max(planned - done, 0) * (t1 - t0) / (d1 - d0)


def stage_status(root: pathlib.Path, stage: str, cfg: dict[str, Any],
                 entry: dict[str, Any], now: float) -> dict[str, Any]:
    stage_dir = root / stage
    rows = read_rows(stage_dir / "metrics.jsonl")
    status = entry.get("status") or ("started" if stage_dir.is_dir() else "pending")
    wall = entry.get("wall_s")
    if status == "running" and _parse_time(entry.get("updated")) is not None:
        wall = round(now - _parse_time(entry["updated"]), 1)
    done, planned, unit, points = _progress(stage, rows, stage_dir, cfg, entry)
    if status == "done" and planned is None:
        planned = done  # a finished stage did all it planned
    if status == "pending":
        done = None  # nothing to count yet
    return {"stage": stage, "status": status, "wall_s": wall, "done": done, "planned": planned,
            "unit": unit, "checkpoint_step": _checkpoint(stage_dir),
            "last_metrics": _last_metrics(rows), "eta_s": _eta(status, done, planned, points),
            "records": entry.get("summary", {}).get("records"), "updated": entry.get("updated")}


def collect(run_dir: str | pathlib.Path, *, now: float | None = None) -> dict[str, Any]:
    """The status of every stage of `run_dir` as plain data (what `--json` prints)."""
    root = pathlib.Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such run directory")
    now = time.time() if now is None else now
    cfg = _read_config(root)
    manifest = _read_json(root / "manifest.json")
    entries = manifest.get("stages") if isinstance(manifest.get("stages"), dict) else {}
    stages = [stage_status(root, s, cfg, entries.get(s, {}), now)
              for s in _stage_names(root, cfg, {"stages": entries})]
    done = all(s["status"] == "done" for s in stages) and bool(stages)
    return {"run_dir": str(root), "name": cfg.get("name", root.name),
            "state": "finished" if done else "in progress", "stages": stages}


# ---------------------------------------------------------------------- rendering
def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _number(v: float) -> str:
    return f"{v:d}" if isinstance(v, int) else f"{v:.4g}"


def rows_for_table(status: dict[str, Any]) -> list[list[str]]:
    """One row of strings per stage, the columns of `HEADER`."""
    out = []
    for s in status["stages"]:
        progress = "-" if s["done"] is None else (
            f"{s['done']}/{s['planned'] if s['planned'] is not None else '?'} {s['unit']}")
        if s.get("records") is not None:
            progress += f", {s['records']} records"
        ckpt = "-" if s["checkpoint_step"] is None else f"step {s['checkpoint_step']}"
        last = " ".join(f"{k}={_number(v)}" for k, v in s["last_metrics"].items()) or "-"
        out.append([s["stage"], s["status"], _duration(s["wall_s"]), progress, ckpt, last,
                    _duration(s["eta_s"])])
    return out


HEADER = ["stage", "status", "wall", "progress", "checkpoint", "last metrics", "eta"]


def text(status: dict[str, Any]) -> str:
    """The table as plain aligned text (logs, pipes, tests)."""
    rows = [HEADER, *rows_for_table(status)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [f"{status['name']} ({status['run_dir']}): {status['state']}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def rich_table(status: dict[str, Any]):
    from rich.table import Table

    table = Table(title=f"{status['name']} ({status['run_dir']}): {status['state']}")
    for col in HEADER:
        wraps = col == "last metrics"  # the one column that may take several lines
        table.add_column(col, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
    styles = {"done": "green", "running": "yellow"}
    for row, s in zip(rows_for_table(status), status["stages"]):
        table.add_row(*row, style=styles.get(s["status"]))
    return table


def watch_table(run_dir: str, interval: float) -> int:
    """Redraws the table every `interval` seconds until Ctrl-C (or the run finishes)."""
    try:
        from rich.console import Console
        from rich.live import Live
    except ImportError:
        print("jaxint status --watch needs rich: pip install rich", file=sys.stderr)
        return 2
    with Live(rich_table(collect(run_dir)), console=Console(), auto_refresh=False) as live:
        try:
            while True:
                status = collect(run_dir)
                live.update(rich_table(status), refresh=True)
                if status["state"] == "finished":
                    return 0
                time.sleep(interval)
        except KeyboardInterrupt:
            return 0


def show(run_dir: str, *, as_json: bool = False, watch: bool = False,
         interval: float = 5.0) -> int:
    """`jaxint status`: prints the table (or JSON) once, or redraws it with `watch`."""
    try:
        if watch:
            return watch_table(run_dir, interval)
        status = collect(run_dir)
    except FileNotFoundError as err:
        print(f"jaxint status: {err}", file=sys.stderr)
        return 2
    print(json.dumps(status, indent=2) if as_json else text(status))
    return 0
