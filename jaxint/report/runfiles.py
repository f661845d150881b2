"""Reading a run directory for the report, tolerantly.

The report is most useful exactly when a run is partial, killed or odd, so nothing here raises
on a missing stage or a damaged file: a missing file reads as ``None`` / ``[]``, a JSONL line
that does not parse (the half-written last line of a killed process) is skipped and counted,
and every problem found is collected in ``RunFiles.warnings`` for the page to show. Only the
standard library and the light ``jaxint.data`` loaders are imported: rendering a report must
not start JAX.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

import yaml

# Display order of the stages the loop, the demo and the side commands write.
STAGE_ORDER = (
    "base", "generate", "verify", "intervene", "filter", "sft", "rl", "rl_baseline",
    "rl_matched", "ref_sft", "ref_rl", "eval", "eval_base", "eval_rl_only",
    "eval_rl_only_matched", "eval_int_rl", "eval_int_sft", "eval_ref_sft_rl",
    "eval_int_sft_pool", "conditioning",
)
# RL metrics directories and their legend labels (see ``RunFiles.rl_runs``).
RL_STAGES = ("rl", "rl_baseline", "rl_matched", "ref_rl")
# Evaluation names the loop (``policy``) and the demo (the others) write under eval/.
EVAL_ORDER = ("base", "rl_only", "rl_only_matched", "int_rl", "int_sft", "ref_sft_rl",
              "int_sft_pool", "policy")
EVAL_LABELS = {"base": "base", "rl_only": "RL only", "rl_only_matched": "RL only (matched)",
               "int_rl": "InT + RL", "int_sft": "InT SFT only",
               "ref_sft_rl": "SFT on references + RL", "int_sft_pool": "InT SFT on pool traps",
               "policy": "policy"}


@dataclasses.dataclass
class Jsonl:
    """Records of a JSONL file and how many of its lines could not be parsed."""

    records: list[dict[str, Any]]
    bad_lines: int = 0
    exists: bool = True


def read_json(path: pathlib.Path, warnings: list[str] | None = None) -> Any:
    """The parsed file, or None when it is missing or broken (noted in ``warnings``)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as err:
        if warnings is not None:
            warnings.append(f"{path.name}: could not be read ({err})")
        return None


def iter_jsonl(path: pathlib.Path, bad: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """The object lines of a JSONL file, streamed (a paper-scale proposals file is gigabytes,
    and the report needs only aggregates and a few rows of it). Lines that do not parse (a
    killed writer's partial last line) are skipped and counted in ``bad[0]``."""
    try:
        f = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except OSError:
        return
    with f:
        for line in f:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            if isinstance(value, dict):
                yield value
            elif bad is not None:
                bad[0] += 1


def read_jsonl(path: pathlib.Path, warnings: list[str] | None = None) -> Jsonl:
    """Every parsable object line of a (small) file; other lines are counted, not fatal, so a
    damaged metrics file still plots."""
    if not path.is_file():
        return Jsonl([], 0, exists=False)
    bad = [0]
    records = list(iter_jsonl(path, bad))
    if bad[0] and warnings is not None:
        warnings.append(f"{path}: skipped {bad[0]} line(s) that are not JSON objects")
    return Jsonl(records, bad[0])


def _shard_files(directory: pathlib.Path, name: str) -> list[pathlib.Path]:
    """``name-00000.jsonl`` ... in index order (temporary files of a writer are ignored)."""
    prefix = f"{name}-"
    found = []
    for p in directory.glob(f"{prefix}*.jsonl"):
        suffix = p.stem[len(prefix):]
        if suffix.isdigit():
            found.append((int(suffix), p))
    return [p for _, p in sorted(found)]


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def spread_order(problem_ids: Sequence[Any]) -> list[int]:
    """Indices reordered one per problem first, then each problem's second, ...: a capped
    viewer then covers as many problems as possible instead of every attempt at the first
    few."""
    seen: collections.Counter[Any] = collections.Counter()
    ranked = []
    for index, pid in enumerate(problem_ids):
        ranked.append((seen[pid], index))
        seen[pid] += 1
    return [index for _, index in sorted(ranked)]


def key(record: Mapping[str, Any]) -> tuple[str, int] | None:
    """The (problem_id, sample_index) an attempt, proposal or intervention belongs to."""
    try:
        return str(record["problem_id"]), int(record["sample_index"])
    except (KeyError, TypeError, ValueError):
        return None


@dataclasses.dataclass
class Interventions:
    """The interventions the viewer shows, and where they came from.

    Attributes:
        rows: The chosen intervention records (``steps``, ``location``, ``content``, ... and,
            when the filter ran, ``num_correct`` / ``num_samples``), in display order.
        source: The file they were read from, relative to the run directory.
        note: Why this source was chosen when it is not the obvious one (or "").
        total: How many there are in ``source``.
    """

    rows: list[dict[str, Any]]
    source: str
    note: str = ""
    total: int = 0


class RunFiles:
    """Lazy, read-only access to one run directory's files."""

    def __init__(self, root: str | pathlib.Path):
        self.root = pathlib.Path(root)
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ top-level files
    @cached_property
    def config(self) -> dict[str, Any]:
        path = self.root / "config.yaml"
        if not path.is_file():
            return {}
        try:
            value = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, yaml.YAMLError) as err:
            self.warnings.append(f"config.yaml: could not be read ({err})")
            return {}
        return value if isinstance(value, dict) else {}

    @cached_property
    def manifest(self) -> dict[str, Any]:
        value = read_json(self.root / "manifest.json", self.warnings)
        if not isinstance(value, dict) or not isinstance(value.get("stages"), dict):
            return {"stages": {}}
        return value

    @cached_property
    def demo_summary(self) -> dict[str, Any] | None:
        value = read_json(self.root / "summary.json", self.warnings)
        return value if isinstance(value, dict) else None

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.root.resolve().name)

    # ------------------------------------------------------------------ stages
    def stage_entry(self, stage: str) -> dict[str, Any]:
        entry = self.manifest["stages"].get(stage)
        return entry if isinstance(entry, dict) else {}

    def stage_status(self, stage: str) -> str | None:
        """"done", "running" or None (never started, as far as the manifest knows)."""
        status = self.stage_entry(stage).get("status")
        return str(status) if status is not None else None

    def stage_names(self) -> list[str]:
        """Stages in the manifest or configured, in pipeline order, then any others."""
        names = list(self.manifest["stages"])
        configured = self.config.get("stages")
        if isinstance(configured, list):
            names += [str(s) for s in configured]
            if self.config.get("rl_baseline") and "rl" in configured:
                names.append("rl_baseline")
        order = {s: i for i, s in enumerate(STAGE_ORDER)}
        unique = list(dict.fromkeys(names))
        return sorted(unique, key=lambda s: (order.get(s, len(order)), unique.index(s)))

    # ------------------------------------------------------------------ metrics
    def metrics(self, stage: str) -> list[dict[str, Any]]:
        """Step records of STAGE/metrics.jsonl (the trainers' closing "final" line excluded)."""
        rows = read_jsonl(self.root / stage / "metrics.jsonl", self.warnings).records
        return [r for r in rows if not r.get("final")]

    def final_metrics(self, stage: str) -> dict[str, Any] | None:
        rows = read_jsonl(self.root / stage / "metrics.jsonl").records
        finals = [r for r in rows if r.get("final")]
        return finals[-1] if finals else None

    def rl_runs(self) -> dict[str, list[dict[str, Any]]]:
        """{legend label: step records} for the RL runs that have metrics.

        The ``rl`` stage starts from the SFT model when SFT ran (InT + RL), else from the
        configured model (plain RL); ``rl_baseline`` is always RL from the base model.
        """
        out = {}
        credit = sorted(p.name for p in self.root.glob("credit_*") if p.is_dir())
        for stage in (*RL_STAGES, *credit):  # credit_*: `jaxint compare`'s methods
            steps = [r for r in self.metrics(stage) if "step" in r]
            if steps:
                out[self.rl_label(stage)] = steps
        return out

    def rl_label(self, stage: str) -> str:
        fixed = {"rl_baseline": "RL only", "rl_matched": "RL only (compute-matched)",
                 "ref_rl": "SFT on references + RL"}
        if stage in fixed:
            return fixed[stage]
        if stage.startswith("credit_"):
            return f"RL, credit: {stage.removeprefix('credit_')}"
        sft_ran = self.stage_status("sft") is not None or (self.root / "sft").is_dir()
        return "InT + RL" if sft_ran else "RL"

    # ------------------------------------------------------------------ stage outputs
    def stats(self, stage: str) -> dict[str, Any] | None:
        """STAGE/stats.json, or the manifest's summary of the stage when only that exists."""
        value = read_json(self.root / stage / "stats.json", self.warnings)
        if isinstance(value, dict):
            return value
        summary = self.stage_entry(stage).get("summary")
        return summary if isinstance(summary, dict) and summary else None

    def stream(self, stage: str, name: str = "shard") -> Iterator[dict[str, Any]]:
        """The records of STAGE/NAME-*.jsonl in shard order, streamed."""
        directory = self.root / stage
        for path in _shard_files(directory, name) if directory.is_dir() else []:
            bad = [0]
            yield from iter_jsonl(path, bad)
            if bad[0]:
                self.warnings.append(f"{path}: skipped {bad[0]} line(s) that are not JSON objects")

    @cached_property
    def verify_summary(self) -> dict[str, Any] | None:
        """Aggregates over the scored rollouts (one streaming pass; completions not kept)."""
        n = correct = truncated = tokens = counted = 0
        problems, solved = set(), set()
        reasons: collections.Counter[str] = collections.Counter()
        for r in self.stream("verify"):
            n += 1
            ok = _is_num(r.get("reward")) and r["reward"] >= 1.0
            correct += ok
            problems.add(r.get("problem_id"))
            if ok:
                solved.add(r.get("problem_id"))
            else:
                reasons[str(r.get("reason"))] += 1
            truncated += r.get("finish_reason") == "length"
            if _is_num(r.get("num_tokens")):
                tokens += r["num_tokens"]
                counted += 1
        if not n:
            return None
        return {"attempts": n, "correct": correct, "problems": len(problems),
                "solved": len(solved), "truncated": truncated,
                "mean_tokens": tokens / counted if counted else None, "reasons": reasons}

    def attempts_for(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], dict]:
        """The scored rollouts of the given (problem, attempt) keys, without completions."""
        wanted = set(keys)
        out = {}
        for r in self.stream("verify"):
            k = key(r)
            if k in wanted and k not in out:
                out[k] = {f: v for f, v in r.items() if f != "completion"}
        return out

    def proposals_for(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], list]:
        """The intervener's proposal rows (raw replies) of the given keys."""
        wanted = set(keys)
        out: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in self.stream("intervene", "proposals"):
            k = key(r)
            if k in wanted:
                out.setdefault(k, []).append(r)
        return out

    @cached_property
    def filter_by_key(self) -> dict[tuple[str, int], dict[str, Any]]:
        """Filter scores per intervention (small rows: counts and per-sample rewards)."""
        out = {}
        for r in self.stream("filter"):
            k = key(r)
            if k is not None:
                out[k] = {f: v for f, v in r.items() if f not in ("completions",)}
        return out

    @cached_property
    def conditioning(self) -> dict[str, Any] | None:
        value = read_json(self.root / "conditioning" / "summary.json", self.warnings)
        return value if isinstance(value, dict) else None

    @cached_property
    def conditioning_by_key(self) -> dict[tuple[str, int], dict[str, Any]]:
        items = (self.conditioning or {}).get("items") or []
        return {k: r for r in items if isinstance(r, dict) and (k := key(r)) is not None}

    def evals(self) -> dict[str, dict[str, Any]]:
        """{eval name: summary.json} for eval/*/, demo names first."""
        directory = self.root / "eval"
        if not directory.is_dir():
            return {}
        found = {}
        for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
            value = read_json(sub / "summary.json", self.warnings)
            if isinstance(value, dict):
                found[sub.name] = value
        order = {n: i for i, n in enumerate(EVAL_ORDER)}
        return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def interventions(self, cap: int) -> Interventions | None:
        """Up to ``cap`` interventions for the viewer, spread over problems (see
        :func:`spread_order`), from the filter's kept ones when the filter kept some, else
        from every intervention of the intervene stage (with its filter score when there is
        one), so that a run whose filter kept nothing still shows what was tried.

        Two streaming passes (ids, then the chosen rows): an unfiltered paper-scale file holds
        ~15k attempts of ~7k tokens each, far more than the page shows.
        """
        kept_path = self.root / "filter" / "kept.jsonl"
        source = "filter/kept.jsonl"
        ids = [r.get("problem_id") for r in iter_jsonl(kept_path)]
        note = ""
        if not ids:
            source = "intervene/interventions.jsonl"
            ids = [r.get("problem_id") for r in iter_jsonl(self.root / source)]
            if not ids:
                return None
            if kept_path.is_file():
                note = (f"The filter kept none of the {len(ids)} interventions; shown are the "
                        "intervene stage's interventions with their filter scores.")
            elif self.filter_by_key:
                note = ("The filter has not finished; shown are the intervene stage's "
                        "interventions.")
            else:
                note = ("The filter did not run; shown are all of the intervene stage's "
                        "interventions.")
        order = spread_order(ids)[:cap]
        rank = {index: i for i, index in enumerate(order)}
        rows: list[dict[str, Any] | None] = [None] * len(order)
        bad = [0]
        for index, r in enumerate(iter_jsonl(self.root / source, bad)):
            if index in rank:
                score = self.filter_by_key.get(key(r)) if source != "filter/kept.jsonl" else None
                if score:
                    r = {**r, "num_correct": score.get("num_correct"),
                         "num_samples": score.get("num_samples"), "kept": score.get("kept")}
                rows[rank[index]] = r
        if bad[0]:
            self.warnings.append(f"{source}: skipped {bad[0]} line(s) that are not JSON objects")
        return Interventions([r for r in rows if r is not None], source, note, total=len(ids))

    # ------------------------------------------------------------------ problems
    @cached_property
    def problems(self) -> tuple[dict[str, Any], str]:
        """({id: Problem}, where from or why not): the dataset the run used, loaded once.

        The config's ``data`` section names it; when that path no longer resolves (the run
        directory was copied elsewhere) the demo's own ``data/train.jsonl`` is tried.
        """
        from jaxint.data import config as data_config
        from jaxint.data import loaders

        data = self.config.get("data") if isinstance(self.config.get("data"), dict) else {}
        fields = {f.name for f in dataclasses.fields(data_config.DatasetConfig)}
        base = {k: v for k, v in data.items() if k in fields and k != "path"}
        base.update(on_bad_row="skip", require_solution=False, limit=None)
        # data.path is one source or a list of them (as the YAML wrote it).
        candidates = [data["path"]] if data.get("path") else []
        local = self.root / "data" / "train.jsonl"
        if local.is_file():
            candidates.append(str(local))
        errors = []
        for path in candidates:
            try:
                cfg = data_config.DatasetConfig(path=path, **base)
                problems = loaders.load_problems(cfg)
            except Exception as err:  # noqa: BLE001 - any loader failure just means "not here"
                errors.append(f"{path}: {type(err).__name__}: {err}")
                continue
            return {p.id: p for p in problems}, path if isinstance(path, str) else ", ".join(path)
        if not candidates:
            return {}, "no dataset: config.yaml has no data.path and data/train.jsonl is absent"
        return {}, "dataset could not be loaded (" + "; ".join(errors) + ")"
