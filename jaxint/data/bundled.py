"""Evaluation sets and training pools shipped inside the package, addressed by short names.

The files are normalised JSONL (``id, problem, answer, solution, source`` plus optional extra
fields), copied once from the project's shared data; sources and licenses are in
``jaxint/data/bundled/NOTICE``. The large training pools are gzip-compressed. Sets under a
non-commercial share-alike license (HMMT, Apex Shortlist) live in their own folder,
``bundled/cc_by_nc_sa/``, with that license's notice, apart from the Apache-2.0 code. Files
are found through ``importlib.resources`` so an installed wheel works the same as a source
checkout.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import pathlib

# Short name -> packaged file name. "imo-answerbench" is v2: upstream deprecated v1 because some
# of its statements were ambiguous and some answers wrong.
_FILES: dict[str, str] = {
    "math500": "math500.jsonl",
    "imo-answerbench": "imo_answerbench_v2.jsonl",
    "imo-answerbench-v2": "imo_answerbench_v2.jsonl",
    "imo-answerbench-v1": "imo_answerbench.jsonl",
    "aime24": "aime24.jsonl",
    "aime25": "aime25.jsonl",
    "amc23": "amc23.jsonl",
    "gsm8k": "gsm8k_test.jsonl",
    "hmmt-nov25": "cc_by_nc_sa/hmmt_nov25.jsonl",
    "apex": "cc_by_nc_sa/apex_shortlist.jsonl",
    "amo": "amo_bench.jsonl",
    "math-train": "math_train.jsonl.gz",
    "gsm8k-train": "gsm8k_train.jsonl.gz",
    "aime-1983-2023": "aime_1983_2023.jsonl.gz",
    "olympiadbench": "olympiadbench_en_comp.jsonl.gz",
}

# The bundled sets that are evaluation benchmarks (never training data), each with the family
# it belongs to: the two IMO-AnswerBench versions hold the same problems, so a pool is checked
# against both, and an eval set is never checked against its own family.
EVAL_FAMILIES: dict[str, str] = {
    "math500": "math500",
    "imo-answerbench": "imo-answerbench",
    "imo-answerbench-v2": "imo-answerbench",
    "imo-answerbench-v1": "imo-answerbench",
    "aime24": "aime24",
    "aime25": "aime25",
    "amc23": "amc23",
    "gsm8k": "gsm8k",
    "hmmt-nov25": "hmmt-nov25",
    "apex": "apex",
    "amo": "amo",
}


def is_bundled(name: str) -> bool:
    """Whether ``name`` is one of the bundled short names."""
    return name in _FILES


def short_names() -> list[str]:
    """The bundled short names, sorted (cheap: reads no files)."""
    return sorted(_FILES)


def path(name: str) -> pathlib.Path:
    """The packaged file behind a short name.

    Raises:
        KeyError: unknown name; the message lists the known ones.
        FileNotFoundError: the package was installed without its data files.
    """
    if name not in _FILES:
        raise KeyError(f"unknown bundled data set {name!r}; known: {sorted(_FILES)}")
    parts = _FILES[name].split("/")
    resource = importlib.resources.files("jaxint.data").joinpath("bundled", *parts)
    # A zipped install would give a non-filesystem Traversable; the loaders need a real path.
    file = pathlib.Path(str(resource))
    if not file.is_file():
        raise FileNotFoundError(f"bundled data file for {name!r} is missing: {file}")
    return file


@functools.cache
def _count_records(file: pathlib.Path) -> int:
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def file_name(name: str) -> str:
    """The packaged file's name (without its folder) behind a short name."""
    return _FILES[name].rsplit("/", 1)[-1]


def eval_family(name: str) -> str | None:
    """The evaluation family of a bundled short name, or ``None`` for a training pool."""
    return EVAL_FAMILIES.get(name)


def names() -> dict[str, int]:
    """All short names with their record counts (counted from the files, cached)."""
    return {name: _count_records(path(name)) for name in sorted(_FILES)}
