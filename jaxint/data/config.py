"""Where a problem set comes from and how its fields map onto :class:`records.Problem`.

A frozen dataclass of plain values so that ``jaxint.configlib.load`` can build it from YAML and
``key=value`` overrides (OmegaConf structured configs). Invalid values fail at
construction, before any file is opened, with a message naming the field and the value.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Union

_BAD_ROW_MODES = ("error", "skip")
_KEY_FIELDS = ("id_key", "problem_key", "answer_key", "solution_key", "source_key")


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """A problem source and its field mapping.

    Attributes:
        path: A ``.jsonl``/``.json``/``.parquet`` file (optionally ``.gz`` for the JSON
            kinds), a bundled short name (see ``jaxint.data.bundled.names()``), a local
            Hugging Face dataset directory, or ``hf:ORG/NAME[:SPLIT]``; or a list of these,
            read in order into one pool (ids must be unique across them).
        id_key: Source field holding the id; rows without it get ``<stem>-<row index>``.
        problem_key: Source field holding the problem text.
        answer_key: Source field holding the short gold answer (numbers become strings).
        solution_key: Source field holding the reference solution (may be absent or null).
        source_key: Source field naming the data set; absent means the file's name.
        require_solution: Treat a missing or empty solution as a bad row (InT needs one).
        on_bad_row: ``"error"`` stops at the first bad row; ``"skip"`` counts it, optionally
            writes it to a rejects file, and goes on.
        limit: Keep only the first ``limit`` good rows (``None``: all).
        max_problem_chars: A longer problem text is a bad row: it bounds what reaches the
            tokenizer (a 50 MB line aborts it) and prefill. Large, but finite, by default.
        chat_template_kwargs: Extra variables for the model's chat template, passed to every
            ``apply_chat_template`` call (e.g. ``{enable_thinking: false}``); ``None`` takes
            the model's default from ``jaxint.data.chat.default_template_kwargs`` (base
            Qwen3 checkpoints: no thinking block), ``{}`` passes nothing.
        exclude_flags: Drop rows whose field of this name is true (``[in_math_train]`` drops
            the AIME rows that are MATH train problems); dropped rows are recorded like
            decontaminated ones.
        decontaminate: Drop rows that are (near-)copies of a bundled evaluation set's problem
            (``jaxint.data.decontaminate``): a training pool must not hold what is evaluated.
            A source that is itself a bundled evaluation set is never decontaminated.
        decontaminate_ngram: Word n-gram size for the near-copy test.
        decontaminate_threshold: A row is a near-copy when at least this fraction of the
            n-grams of the shorter of the two texts are shared.
    """

    path: Union[str, list[str]] = "math500"
    id_key: str = "id"
    problem_key: str = "problem"
    answer_key: str = "answer"
    solution_key: str = "solution"
    source_key: str = "source"
    require_solution: bool = False
    on_bad_row: str = "error"
    limit: int | None = None
    max_problem_chars: int = 200_000
    chat_template_kwargs: Optional[dict[str, Any]] = None
    exclude_flags: tuple[str, ...] = ()
    decontaminate: bool = True
    decontaminate_ngram: int = 8
    decontaminate_threshold: float = 0.5

    def __post_init__(self) -> None:
        self._check_path()
        self._check_decontaminate()
        for name in _KEY_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"DatasetConfig.{name} must be a non-empty string, got {value!r}")
        if self.on_bad_row not in _BAD_ROW_MODES:
            raise ValueError(
                f"DatasetConfig.on_bad_row must be one of {_BAD_ROW_MODES}, got {self.on_bad_row!r}"
            )
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise ValueError(f"DatasetConfig.limit must be None or >= 1, got {self.limit!r}")
        if isinstance(self.max_problem_chars, bool) or self.max_problem_chars < 1:
            raise ValueError(
                f"DatasetConfig.max_problem_chars must be >= 1, got {self.max_problem_chars!r}")
        kwargs = self.chat_template_kwargs
        if kwargs is not None and (not isinstance(kwargs, dict)
                                   or not all(isinstance(k, str) and k for k in kwargs)):
            raise ValueError("DatasetConfig.chat_template_kwargs must be a mapping of names "
                             f"to values (or null), got {kwargs!r}")
        keys = [getattr(self, name) for name in _KEY_FIELDS]
        if len(set(keys)) != len(keys):
            raise ValueError(f"DatasetConfig: the *_key fields must be distinct, got {keys!r}")

    @property
    def paths(self) -> tuple[str, ...]:
        """The sources, in reading order (one for a plain string ``path``)."""
        return (self.path,) if isinstance(self.path, str) else tuple(self.path)

    def _check_path(self) -> None:
        path = self.path
        if isinstance(path, (list, tuple)):
            # Stored as a tuple: the config stays immutable (a list would be shared and mutable).
            object.__setattr__(self, "path", tuple(path))
            if not path:
                raise ValueError("DatasetConfig.path must name at least one source, got []")
            bad = [p for p in path if not isinstance(p, str) or not p.strip()]
            if bad:
                raise ValueError(f"DatasetConfig.path: every source must be a non-empty string, "
                                 f"got {bad[0]!r} in {list(path)!r}")
            if len(set(path)) != len(path):
                raise ValueError(f"DatasetConfig.path lists a source twice: {list(path)!r}")
        elif not isinstance(path, str) or not path.strip():
            raise ValueError("DatasetConfig.path must be a non-empty string or a list of them, "
                             f"got {path!r}")

    def _check_decontaminate(self) -> None:
        object.__setattr__(self, "exclude_flags", tuple(self.exclude_flags))
        if not all(isinstance(f, str) and f for f in self.exclude_flags):
            raise ValueError("DatasetConfig.exclude_flags must be field names, got "
                             f"{list(self.exclude_flags)!r}")
        n = self.decontaminate_ngram
        if isinstance(n, bool) or not isinstance(n, int) or n < 3:
            raise ValueError(f"DatasetConfig.decontaminate_ngram must be an int >= 3, got {n!r}")
        if not 0 < self.decontaminate_threshold <= 1:
            raise ValueError("DatasetConfig.decontaminate_threshold must be in (0, 1], got "
                             f"{self.decontaminate_threshold!r}")
