"""Evaluation sets and training pools shipped inside the package, addressed by short names.

The files are normalised JSONL (``id, problem, answer, solution, source`` plus optional extra
fields), copied once from the project's shared data; sources and licenses are in
``jaxint/data/bundled/NOTICE``. The two training pools are gzip-compressed (about 3.3 MB
together instead of 14 MB). Files are found through ``importlib.resources`` so an installed
wheel works the same as a source checkout.
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
    "math-train": "math_train.jsonl.gz",
    "gsm8k-train": "gsm8k_train.jsonl.gz",
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
    resource = importlib.resources.files("jaxint.data").joinpath("bundled", _FILES[name])
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


def names() -> dict[str, int]:
    """All short names with their record counts (counted from the files, cached)."""
    return {name: _count_records(path(name)) for name in sorted(_FILES)}
