"""Strict YAML + dotted-override loading of frozen config dataclasses (OmegaConf).

Every subpackage defines its own frozen dataclasses (validated in ``__post_init__`` with
messages naming the field and value); this module only turns YAML files and ``key.sub=value``
overrides into instances of them. Unknown keys and wrong types are errors that name the key
and the file, because a silently ignored typo in a 4B-model run costs hours.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key and the source."""


def section(cls: type[T]) -> Any:
    """A nested config section defaulting to ``cls()`` (a dataclass field)."""
    return dataclasses.field(default_factory=cls)


def _read_yaml(path: pathlib.Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _read_chain(path: pathlib.Path) -> list[tuple[pathlib.Path, dict[str, Any]]]:
    """The file and its `base:` ancestors as (path, values) layers, the root ancestor first.

    Each layer is merged (and checked) separately, so an unknown key in a base file is
    reported against that file, not the one that inherited it.
    """
    chain: list[tuple[pathlib.Path, dict[str, Any]]] = []
    seen: set[pathlib.Path] = set()
    while path is not None:
        path = path.resolve()
        if path in seen:
            raise ConfigError(f"{path}: `base:` chain is circular")
        seen.add(path)
        data = _read_yaml(path)
        base = data.pop("base", None)
        chain.append((path, data))
        path = (path.parent / base) if base is not None else None
    return chain[::-1]


def _check_sections(schema: Any, layer: Any, source: str, prefix: str = "") -> None:
    """A section (a nested config) given as a scalar or list is named here: OmegaConf's own
    error for `sft: [1, 2]` carries neither key nor reason."""
    if not isinstance(layer, DictConfig) or not isinstance(schema, DictConfig) or (
            schema._is_none() or layer._is_none()):
        return  # an unset optional section (demo: null) is OmegaConf's to fill
    for key in layer.keys():
        if not isinstance(schema, DictConfig) or key not in schema:
            continue  # unknown keys are OmegaConf's to report
        node = schema._get_node(key)
        value = layer._get_node(key)
        if isinstance(node, DictConfig) and not isinstance(value, DictConfig):
            if value is not None and value._is_none():
                continue  # `demo: null` clears an optional section
            shown = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
            raise ConfigError(f"{source}: key '{prefix}{key}': is a section of settings "
                              f"(a mapping of key: value), got {shown!r}")
        if isinstance(node, DictConfig):
            _check_sections(node, value, source, f"{prefix}{key}.")


def _merge(schema: Any, layer: Any, source: str, removed: Mapping[str, str],
           moved: Mapping[str, str]) -> Any:
    _check_sections(schema, layer, source)
    try:
        return OmegaConf.merge(schema, layer)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        if key in removed:
            raise ConfigError(f"{source}: key '{key}' was removed ({removed[key]}); "
                              f"delete it") from None
        if key in moved:
            raise ConfigError(f"{source}: key '{key}' is now '{moved[key]}'; write it "
                              f"there") from None
        detail = str(getattr(err, "msg", None) or err).split("\n")[0] or type(err).__name__
        raise ConfigError(f"{source}: key '{key}': {detail}") from None


def _failing_section(node: Any, path: str = "") -> str | None:
    """The dotted path of the innermost section whose dataclass refuses its values (its
    `__post_init__` raised), or None: a nested section's message names only its own key
    (`sampling.top_p`), this names where it sits (`generate.sampling.top_p`)."""
    if not isinstance(node, DictConfig) or node._is_none():
        return None
    for key in node.keys():
        child = node._get_node(key)
        inner = _failing_section(child, f"{path}{key}.")
        if inner is not None:
            return inner
    if path and OmegaConf.get_type(node) not in (None, dict):
        try:
            OmegaConf.to_object(node)
        except (ValueError, TypeError):
            return path[:-1]
    return None


def _located(err: Exception, cfg: Any) -> str:
    """``err``'s message with a nested section's own name widened to its full path."""
    text = str(err)
    path = _failing_section(cfg)
    if path and "." in path:
        own = path.rsplit(".", 1)[1]
        if text.startswith(f"{own}."):
            return path + text[len(own):]
    return text


def load(
    cls: type[T],
    path: str | pathlib.Path | None = None,
    overrides: Sequence[str] = (),
    removed: Mapping[str, str] | None = None,
    moved: Mapping[str, str] | None = None,
) -> T:
    """Builds ``cls`` from defaults, then an optional YAML file, then ``key=value`` overrides.

    A YAML file may name a ``base:`` file (relative to itself) whose values it extends.
    ``removed`` maps keys that no longer exist to why, and ``moved`` keys that moved to their
    new name, for a clearer error than "unknown".

    Raises:
        ConfigError: unknown key, wrong type, or a value rejected by a dataclass's validation;
            the message names the key and the file (or "command line").
    """
    cfg = OmegaConf.structured(cls)
    if path is not None:
        path = pathlib.Path(path)
        for source, layer in _read_chain(path):
            cfg = _merge(cfg, OmegaConf.create(layer), str(source), removed or {},
                         moved or {})
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"command line: overrides must look like key.sub=value, got {bad}")
    if overrides:
        cfg = _merge(cfg, _dotlist(overrides), "command line", removed or {}, moved or {})
    try:
        return OmegaConf.to_object(cfg)
    except (ValueError, TypeError) as err:
        where = " + ".join(
            ([str(path)] if path is not None else ["defaults"])
            + (["command line"] if overrides else [])
        )
        raise ConfigError(f"{where}: {_located(err, cfg)}") from err


def _dotlist(overrides: Sequence[str]) -> Any:
    """The overrides as one config; a value YAML cannot read (``demo.ops=[-,*]``: ``*`` starts
    an alias) is a ConfigError naming that override, not a parser traceback."""
    for item in overrides:
        try:
            OmegaConf.from_dotlist([item])
        except Exception as err:  # noqa: BLE001 - yaml's and OmegaConf's error types vary
            raise ConfigError(
                f"command line: cannot read override {item!r}: {' '.join(str(err).split())} "
                "(quote YAML specials, e.g. demo.ops='[\"-\",\"*\"]')") from err
    return OmegaConf.from_dotlist(list(overrides))


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML/JSON-serialisable dict of a config dataclass (tuples become lists)."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return convert(cfg)
