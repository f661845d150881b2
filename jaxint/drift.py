"""Config drift: what each stage of a run directory was computed with, and reruns that differ.

A finished (or half-finished) stage's outputs belong to the config it ran with. The runner
records, per stage, the config values the stage depends on (its section and every earlier
stage's, plus the data file's content hash) in the manifest. A rerun whose values differ fails
before any work, naming the changed keys per stage and the two ways on: a new run name, or
``--restart-from STAGE``, which moves that stage's and later stages' outputs into
``archive/`` (never deletes them).

``config.yaml`` is written once per run; each invocation appends one line to
``history.log`` (time, command line, config hash), so the directory says what ran, when.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import os
import pathlib
import shutil
import sys
from typing import Any, TypeAlias

import yaml

from jaxint import configlib, rundir
from jaxint.train.credit import config as credit_config

log = logging.getLogger(__name__)

# {dotted config key: value}: what a stage's outputs depend on, as the manifest records it.
Values: TypeAlias = dict[str, Any]
# One stage's manifest entry: status, times, summary, and `fingerprint`, `config` (its
# Values) and `schema` (see `record`).
Entry: TypeAlias = dict[str, Any]

# Manifest entries carry `schema`; entries without it were written before the tables below.
# 2: `_BEFORE_KEY` and `_RENAMED`; 3: the sampling settings moved into `sampling:` (`MOVED`).
SCHEMA = 3
# Settings added with a default that changes what a stage computes. A stage recorded before
# them ran as the value given here: an old run directory resumes with it (`legacy_settings`),
# and drift compares the key against it, not against today's default.
_BEFORE_KEY: Values = {"data.decontaminate": False}
# Values renamed at schema 2: an older entry's recorded name, and what that name reads now
# (`sft.batching: pack` then meant today's `pack_rows`).
_RENAMED: dict[str, dict[Any, Any]] = {"sft.batching": {"pack": "pack_rows", "pad": "examples"}}
# Sampling settings that each stage kept flat until schema 3, now in its `sampling:` section
# (`rl.temperature` is `rl.sampling.temperature`). An old key in a config is an error naming
# the new one; an older manifest entry's recorded values are read under the new names.
_FLAT_SAMPLING = ("max_new_tokens", "temperature", "top_k", "top_p")
_ENGINE_SIZING = ("max_batch_slots", "chunk_steps")
MOVED: dict[str, str] = {
    f"{section}.{key}": f"{section}.sampling.{key}"
    for section, keys in (("select", _FLAT_SAMPLING), ("intervene", _FLAT_SAMPLING),
                          ("filter", _FLAT_SAMPLING),
                          ("generate", _FLAT_SAMPLING + _ENGINE_SIZING),
                          ("rl", _FLAT_SAMPLING + _ENGINE_SIZING),
                          ("eval", _FLAT_SAMPLING + _ENGINE_SIZING))
    for key in keys
}
# Before schema 3, select, intervene and filter sized their engines with generate's slots and
# chunk: an older entry that recorded generate's values ran with them (read so), and one that
# did not (select records no generate section) cannot be judged on them.
_INHERITED: dict[str, str] = {
    f"{section}.sampling.{key}": f"generate.sampling.{key}"
    for section in ("select", "intervene", "filter") for key in _ENGINE_SIZING
}
# Settings removed because nothing read them: a stage that recorded one computed nothing from
# it, so its recorded value is dropped before comparing (an old run directory resumes).
REMOVED: dict[str, str] = {
    "demo.eval_samples": "the demo's evaluation reads eval.n",
    "demo.eval_temperature": "the demo's evaluation reads eval.sampling.temperature",
    "sft.export_hf": "the SFT stage always exports its model to sft/hf",
    "rl.export_hf": "the RL stage always exports its model to rl/hf",
}

PIPELINE = ("select", "generate", "verify", "intervene", "filter", "sft", "rl", "eval")
# Config sections each pipeline stage reads itself; a stage depends on its own sections and
# on every earlier stage's (their outputs are its inputs) -- except `select`'s: it is optional
# (off by default), and run directories made before it existed must keep their fingerprints.
# A changed `select:` section still stops a rerun that includes the select stage, and
# `--restart-from select` archives every later stage.
_OWN_SECTIONS = {
    "select": ("model", "tokenizer_path", "data", "verify", "select"),
    "generate": ("model", "tokenizer_path", "data", "generate"),
    "verify": ("verify",),
    "intervene": ("intervene",),
    "filter": ("filter",),
    "sft": ("sft",),
    "rl": ("rl",),
    "eval": ("eval",),
}
# Where outputs go and how devices are laid out: never part of what a stage computes.
_NOT_CONTENT = ("name", "out_dir", "stages", "mesh", "distributed")
_HASH_LIMIT = 2**30  # data files larger than this are identified by size only


class ConfigDriftError(rundir.RunDirError):
    """A rerun's config differs from the one a stage of the run directory ran with."""


# The demo's own stages (jaxint/demo.py): what each one's outputs are computed from.
_DEMO_SECTIONS = {
    "base": ("model", "tokenizer_path", "demo"),
    "ref_sft": ("model", "tokenizer_path", "data", "sft"),
    "ref_rl": ("model", "tokenizer_path", "data", "sft", "verify", "rl"),
}
# Keys that choose which arms run, never what any arm computes.
_SELECTORS = ("demo.full", "demo.matched_control")


def sections(stage: str) -> tuple[str, ...] | None:
    """Config sections `stage` depends on; None (the whole config) for stages not known here."""
    if stage == "rl_baseline" or stage.startswith("credit_"):
        # credit_METHOD (`jaxint compare`): RL only with rl.credit set to METHOD by the name
        return ("model", "tokenizer_path", "data", "verify", "rl")
    if stage in _DEMO_SECTIONS:
        return _DEMO_SECTIONS[stage]
    if stage == "rl_matched":  # RL only, continued until it matches InT's SFT + RL tokens
        return sections("rl")
    if stage.startswith("eval_"):  # the demo's per-arm evaluations
        return sections("eval")
    if stage not in PIPELINE:
        return None
    if stage == "select":
        return _OWN_SECTIONS[stage]
    main = PIPELINE[1:]
    earlier = main[: main.index(stage) + 1]
    return tuple(s for st in earlier for s in _OWN_SECTIONS[st])


def _flatten(value: Any, prefix: str, out: Values) -> None:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _flatten(sub, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def _file_digest(path: str) -> str | None:
    """sha256 of a data file (None when the source is not a local file)."""
    p = pathlib.Path(path).expanduser()
    if not p.is_file():
        from jaxint.data import bundled

        if not bundled.is_bundled(path):
            return None
        p = pathlib.Path(bundled.path(path))
    size = p.stat().st_size
    if size > _HASH_LIMIT:
        return f"size:{size}"
    digest = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_values(cfg: Any, stage: str) -> Values:
    """{dotted key: value} of the config fields (and input digests) `stage` depends on."""
    full = configlib.to_dict(cfg)
    wanted = sections(stage)
    keep = {k: v for k, v in full.items()
            if (k in wanted if wanted is not None else k not in _NOT_CONTENT)}
    flat: Values = {}
    _flatten(keep, "", flat)
    for key in _SELECTORS:
        flat.pop(key, None)
    _keep_own_credit(flat, stage)
    _in_run_terms(flat, getattr(cfg, "run_dir", None))
    data_path = full.get("data", {}).get("path")
    # Only stages known to read the data file hash it: a custom stage (the demo's base)
    # may be the one that writes it, and would see it change under itself.
    if data_path and wanted is not None and "data" in wanted:
        paths = [data_path] if isinstance(data_path, str) else list(data_path)
        digests = [_file_digest(str(p)) for p in paths]
        flat["inputs.data"] = digests[0] if isinstance(data_path, str) else digests
    # What the manifest stores reads back as JSON: compare like with like.
    return json.loads(json.dumps(flat, default=str))


# How a path inside the run directory is recorded: relative to it, so that a run directory
# copied or moved elsewhere (another disk, a bucket mounted at another path, a second VM)
# resumes. The demo points the model and the data at its own outputs (`base/hf`,
# `data/train.jsonl`); absolute, those paths changed with every copy and stopped the rerun as
# drift. A path outside the run directory stays as given: it names an input of its own.
RUN_DIR_TOKEN = "$RUN_DIR"


def _in_run_terms(flat: Values, root: Any) -> None:
    """Rewrites (in place) every path value under `root` as `$RUN_DIR/relative/path`."""
    if root is None:
        return
    base = os.path.abspath(os.fspath(root))

    def rewrite(value: Any) -> Any:
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if not isinstance(value, str) or os.sep not in value or value.startswith(RUN_DIR_TOKEN):
            return value
        path = os.path.abspath(os.path.expanduser(value))
        if path != base and not path.startswith(base + os.sep):
            return value
        rel = pathlib.PurePath(os.path.relpath(path, base)).as_posix()
        return RUN_DIR_TOKEN if rel == "." else f"{RUN_DIR_TOKEN}/{rel}"

    for key, value in flat.items():
        flat[key] = rewrite(value)


def _first_root(run_dir: rundir.RunDir) -> list[pathlib.Path]:
    """Where the run directory was first written (`config.yaml`'s out_dir / name), if that
    is readable: an older manifest recorded absolute paths under it, and a copy of such a
    directory resumes only if those are read relative to it."""
    try:
        first = yaml.safe_load((run_dir.root / "config.yaml").read_text(encoding="utf-8"))
        return [pathlib.Path(first["out_dir"]) / first["name"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []


def _keep_own_credit(flat: Values, stage: str) -> None:
    """An RL stage computes with one credit method: `rl.credit` (`credit_METHOD` for `jaxint
    compare`'s stages); the other methods' option sections (`rl.vineppo.k`, ...) are no part
    of it, so tuning one method never stops a rerun of another's stage."""
    if "rl.credit" not in flat:
        return
    if stage.startswith("credit_"):
        flat["rl.credit"] = stage.removeprefix("credit_")
    own = flat["rl.credit"]
    for key in [k for k in flat if k.count(".") >= 2]:
        section, method = key.split(".")[:2]
        if section == "rl" and method in credit_config.METHODS and method != own:
            del flat[key]


def fingerprint(values: Values) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def changed_keys(old: Values, new: Values) -> list[str]:
    """Keys whose value differs, with both values: "data.path: 'a' -> 'b'"."""
    keys = sorted(set(old) | set(new))
    missing = object()
    out = []
    for key in keys:
        a, b = old.get(key, missing), new.get(key, missing)
        if a != b:
            out.append(f"{key}: {_show(a, missing)} -> {_show(b, missing)}")
    return out


def _show(value: Any, missing: object) -> str:
    if value is missing:
        return "(absent)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check(run_dir: rundir.RunDir, cfg: Any, stages: list[str]) -> None:
    """Raises ConfigDriftError if any of `stages` already ran (done or started) with other
    values than `cfg` gives it; stages recorded without a fingerprint (older runs) pass."""
    recorded = run_dir.manifest()["stages"]
    roots = [run_dir.root, *_first_root(run_dir)]
    problems = []
    for stage in stages:
        entry = recorded.get(stage) or {}
        if "fingerprint" not in entry:
            continue
        values = stage_values(cfg, stage)
        if fingerprint(values) == entry["fingerprint"]:
            continue
        recorded_values = recorded_config(entry)
        _keep_own_credit(recorded_values, stage)  # recorded with every method's options
        for root in roots:  # paths recorded absolute by older jaxint, here or where it ran
            _in_run_terms(recorded_values, root)
        values = _judged(entry, recorded_values, values)
        if recorded_values:  # settings added since the stage ran, left at their default
            added = _added_at_default(cfg, recorded_values, values)
            values = {k: v for k, v in values.items() if k not in added}
        if recorded_values == values:
            continue
        keys = changed_keys(recorded_values, values) or ["(values not recorded)"]
        problems.append((stage, keys))
    if problems:
        first = problems[0][0]
        listing = "; ".join(f"{stage}: {', '.join(keys)}" for stage, keys in problems)
        raise ConfigDriftError(
            f"{run_dir.manifest_path}: the config differs from the one these stages ran with: "
            f"{listing}. Use a new run name (name=NEW), or rerun with --restart-from {first} "
            f"(moves {first} and later outputs to {run_dir.root / 'archive'}/, deletes nothing)")


def only_added_at_default(cfg: Any, old: Values, new: Values) -> bool:
    """True when every difference is a key `old` lacks whose new value is the schema default:
    a setting added to jaxint since the stage ran, left at the value that keeps the earlier
    behaviour, is no change to what the stage computed."""
    differing = {k for k in set(old) | set(new) if k not in old or old[k] != new.get(k)}
    return bool(differing) and differing == _added_at_default(cfg, old, new)


def _added_at_default(cfg: Any, old: Values, new: Values) -> set[str]:
    """The keys of `new` that `old` lacks and whose value is the schema default (or, for a
    `_BEFORE_KEY` setting, the value it had before it existed)."""
    added = [k for k in new if k not in old]
    if not added:
        return set()
    defaults: Values = {}
    _flatten(configlib.to_dict(type(cfg)()), "", defaults)
    defaults = json.loads(json.dumps(defaults, default=str))
    defaults.update(_BEFORE_KEY)
    return {k for k in added if k in defaults and defaults[k] == new[k]}


def recorded_config(entry: Entry) -> Values:
    """A manifest entry's recorded values, in today's names (`_RENAMED`, `MOVED` and
    `_INHERITED` for older entries) and without the keys jaxint no longer has (`REMOVED`)."""
    values = {k: v for k, v in entry.get("config", {}).items() if k not in REMOVED}
    schema = entry.get("schema", 1)
    if schema < 2:
        for key, names in _RENAMED.items():
            if isinstance(values.get(key), str) and values[key] in names:
                values[key] = names[values[key]]
    if schema < 3:
        values = {MOVED.get(k, k): v for k, v in values.items()}
        for key, source in _INHERITED.items():
            section = key.split(".")[0] + "."
            if source in values and any(k.startswith(section) for k in values):
                values.setdefault(key, values[source])
    return values


def _judged(entry: Entry, recorded: Values, values: Values) -> Values:
    """`values` without the keys an older entry could not have recorded (`_INHERITED` ones
    it has no value for): the stage ran with sizes nobody wrote down, so none is a change."""
    if entry.get("schema", 1) >= 3:
        return values
    return {k: v for k, v in values.items() if k in recorded or k not in _INHERITED}


def legacy_settings(run_dir: rundir.RunDir, cfg: Any) -> Any:
    """`cfg` as a run directory made by an older jaxint resumes: where one of its stages ran
    with a setting today's config does not state (`_legacy_values`) and `cfg` leaves that key
    at today's default, the stage's own value is used (e.g. no decontamination, or generate's
    engine slots for the filter), with a log line. A value set on purpose is kept (and then
    stops the run as drift)."""
    if not run_dir.manifest_path.is_file():
        return cfg
    entries = [e for e in run_dir.manifest()["stages"].values()
               if isinstance(e, dict) and e.get("config")]
    defaults = type(cfg)()
    for key, value in _legacy_values(entries).items():
        current = _get(cfg, key)
        if current == _get(defaults, key) and current != value:
            log.warning("%s: this run's stages were recorded before %s existed; resuming with "
                        "%s=%s as they ran", run_dir.manifest_path, key, key, value)
            cfg = _replace(cfg, key.split("."), value)
    return cfg


def _legacy_values(entries: list[Entry]) -> Values:
    """Settings older manifest entries ran with without recording them: a `_BEFORE_KEY`
    setting where a schema-1 entry read its section, and the engine sizing a schema-1/2 entry
    of select, intervene or filter took from generate (`_INHERITED`)."""
    out: Values = {}
    for entry in entries:
        schema, values = entry.get("schema", 1), recorded_config(entry)
        for key, value in _BEFORE_KEY.items():
            section = key.split(".")[0] + "."
            if schema < 2 and key not in values and any(k.startswith(section) for k in values):
                out[key] = value
        for key in _INHERITED:
            if schema < 3 and key in values:
                out.setdefault(key, values[key])
    return out


def _get(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _replace(cfg: Any, path: list[str], value: Any) -> Any:
    if len(path) == 1:
        return dataclasses.replace(cfg, **{path[0]: value})
    return dataclasses.replace(cfg, **{path[0]: _replace(getattr(cfg, path[0]), path[1:], value)})


def record(cfg: Any, stage: str) -> Entry:
    """The manifest fields that tie `stage`'s outputs to the config they came from."""
    values = stage_values(cfg, stage)
    return {"fingerprint": fingerprint(values), "config": values, "schema": SCHEMA}


# What GRPO from the base model on the problem pool (`rl_baseline`, `jaxint compare`'s
# `credit_METHOD`) reads: the base model (the demo's `base` stage) and the pool (`select`).
_BASELINE_INPUTS = ("base", "select")


def _from_base(stage: str) -> bool:
    return stage == "rl_baseline" or stage.startswith("credit_")


def _drifted(run_dir: rundir.RunDir, cfg: Any, stage: str) -> bool:
    try:
        check(run_dir, cfg, [stage])
    except ConfigDriftError:
        return True
    return False


def _later_stages(manifest: dict[str, Any], stage: str) -> list[str]:
    """`stage` and every stage after it (pipeline order, then the manifest's run order),
    except RL from the base model when `stage` is not among its inputs: restarting InT's SFT
    must not throw away (and rerun) hours of the RL-only baseline, which never read it."""
    recorded = list(manifest["stages"])
    out = [stage]
    if stage in PIPELINE:
        out += [s for s in PIPELINE[PIPELINE.index(stage) + 1:]]
    if stage in recorded:
        out += recorded[recorded.index(stage) + 1:]
    if stage in _BASELINE_INPUTS:
        out += ["rl_baseline"]
        return list(dict.fromkeys(out))
    return [s for s in dict.fromkeys(out) if s == stage or not _from_base(s)]


def restart_from(run_dir: rundir.RunDir, stage: str, cfg: Any = None) -> pathlib.Path | None:
    """Moves `stage`'s and later stages' folders, their manifest entries and config.yaml into
    `archive/TIME/`; returns that folder (None when nothing was there to move). With the
    config the rerun will use, RL from the base model is moved too when its own settings
    changed (else the rerun would stop on its drift right after this restart)."""
    if not rundir.is_writer():
        return None
    manifest = run_dir.manifest()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%f")
    archive = run_dir.root / "archive" / stamp
    moved = []
    names = _later_stages(manifest, stage)
    if cfg is not None:
        names += [s for s in manifest["stages"]
                  if _from_base(s) and s not in names and _drifted(run_dir, cfg, s)]
    for name in names:
        folder = run_dir.root / name
        if folder.exists() or name in manifest["stages"]:
            archive.mkdir(parents=True, exist_ok=True)
            if folder.exists():
                shutil.move(str(folder), str(archive / name))
            manifest["stages"].pop(name, None)
            moved.append(name)
    if not moved:
        return None
    config_yaml = run_dir.root / "config.yaml"
    if config_yaml.is_file():
        shutil.copy2(config_yaml, archive / "config.yaml")
        config_yaml.unlink()  # the rerun writes the config it runs with
    rundir.atomic_write_text(run_dir.manifest_path, json.dumps(manifest, indent=2, default=str))
    log.warning("restart from %s: moved %s to %s", stage, ", ".join(moved), archive)
    return archive


def write_config(run_dir: rundir.RunDir, cfg: Any) -> None:
    """config.yaml once per run; one history.log line per invocation. A read-only run
    directory (a finished run being re-listed) only logs that it could not write."""
    if not rundir.is_writer():
        return
    text = yaml.safe_dump(configlib.to_dict(cfg), sort_keys=False)
    path = run_dir.root / "config.yaml"
    entry = {"time": rundir.now(), "argv": list(sys.argv),
             "config": hashlib.sha256(text.encode()).hexdigest()[:16]}
    try:
        if not path.is_file():
            rundir.atomic_write_text(path, text)
        elif path.read_text(encoding="utf-8") != text:
            entry["config_yaml"] = "differs (not rewritten)"
        with open(run_dir.root / "history.log", "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
    except OSError as err:
        log.warning("%s: could not record this invocation (%s)", run_dir.root, err)
