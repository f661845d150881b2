"""The host side's direction of imports: stage drivers never reach back up to the runner or
the run config, the runner does not import the demo built on it, and the method packages know
nothing of run directories. And the runner hands a demo config to the runner it is given."""

from __future__ import annotations

import ast
import pathlib

import pytest

import jaxint
from jaxint import config as run_config
from jaxint import loop

ROOT = pathlib.Path(jaxint.__file__).parent


def _imports(path: pathlib.Path) -> set[str]:
    """Every jaxint module `path` imports (at any depth of the file), dotted."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.update(f"{node.module}.{a.name}" for a in node.names)
            out.add(node.module)
    return {m for m in out if m.startswith("jaxint")}


@pytest.mark.parametrize("path", sorted((ROOT / "stages").glob("*.py")), ids=lambda p: p.name)
def test_stages_never_import_the_runner_or_the_run_config(path):
    upward = {"jaxint.loop", "jaxint.config", "jaxint.demo", "jaxint.cli"}
    assert not _imports(path) & upward


def test_the_runner_does_not_import_the_demo():
    assert not {m for m in _imports(ROOT / "loop.py") if m.startswith("jaxint.demo")}


@pytest.mark.parametrize("path", sorted((ROOT / "intervene").glob("*.py")), ids=lambda p: p.name)
def test_the_intervene_method_knows_no_run_directory(path):
    assert not _imports(path) & {"jaxint.rundir", "jaxint.stages", "jaxint.loop"}


def test_a_demo_config_runs_the_runner_it_is_given(tmp_path):
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=d", "demo.seed=3"])
    assert cfg.demo is not None
    with pytest.raises(ValueError, match="demo: section runs through jaxint.demo.run"):
        loop.run(cfg, progress=False)
    seen = []
    out = loop.run(cfg, progress=False,
                   runner=lambda c, progress: seen.append((c, progress)) or {"ok": 1})
    assert out == {"ok": 1} and seen == [(cfg, False)]


def _config_aliases() -> dict[str, set[tuple[str, str]]]:
    """{module: {(alias, file)}} for every import of a jaxint `config` module in jaxint/ and
    tests/ (twelve modules are called config.py: one package's settings each)."""
    out: dict[str, set[tuple[str, str]]] = {}
    for root in (ROOT, ROOT.parent / "tests"):
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for a in node.names:
                        module = f"{node.module}.{a.name}"
                        if module.startswith("jaxint") and a.name == "config":
                            out.setdefault(module, set()).add((a.asname or a.name, path.name))
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name.startswith("jaxint") and a.name.endswith(".config"):
                            out.setdefault(a.name, set()).add((a.asname or a.name, path.name))
    return out


def test_every_config_module_has_one_alias_of_its_own():
    """`config_lib` (or a bare `config`) never means one module here and another there."""
    aliases = {module: {alias for alias, _ in uses} for module, uses in _config_aliases().items()}
    assert all(len(names) == 1 for names in aliases.values()), aliases
    names = [next(iter(n)) for n in aliases.values()]
    assert len(set(names)) == len(names) and not {"config", "config_lib"} & set(names), aliases
