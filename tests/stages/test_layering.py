"""The host side's direction of imports: stage drivers never reach back up to the runner or
the run config, the runner does not import the demo built on it, and the method packages know
nothing of run directories. And the runner hands a demo config to the runner it is given."""

from __future__ import annotations

import ast
import pathlib

import pytest

import jaxint
from jaxint import config, loop

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
    cfg = config.load(None, [f"out_dir={tmp_path}", "name=d", "demo.seed=3"])
    assert cfg.demo is not None
    with pytest.raises(ValueError, match="demo: section runs through jaxint.demo.run"):
        loop.run(cfg, progress=False)
    seen = []
    out = loop.run(cfg, progress=False,
                   runner=lambda c, progress: seen.append((c, progress)) or {"ok": 1})
    assert out == {"ok": 1} and seen == [(cfg, False)]
