"""launch/colab_tpu.ipynb executes top to bottom on a CPU (with a tiny demo).

The notebook reads JAXINT_DEMO_OVERRIDES and JAXINT_NOTEBOOK_RUNS, so this test shrinks the
demo to a couple of minutes and keeps its runs in a temporary directory. The kernel is the
venv's python3 (jupyter_client swaps the kernelspec's `python` for this interpreter) and
inherits this process's environment, minus the 8 fake devices of tests/conftest.py: a Colab CPU
runtime has one device, and the demo's batch sizes are chosen for that.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

pytestmark = pytest.mark.slow

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "launch" / "colab_tpu.ipynb"
# A few steps of everything: the point is that every cell runs, not what the demo learns.
# The base model is then too weak for the filter to keep any intervention, and SFT refuses to
# run on nothing, so the filter is off.
TINY_DEMO = " ".join([
    "demo.train_problems=8", "demo.heldout_problems=4", "demo.pretrain_problems=32",
    "demo.pretrain_steps=2", "demo.pretrain_batch=8",
    "generate.samples_per_problem=2", "generate.sampling.max_new_tokens=32",
    "filter.enabled=false",
    "sft.epochs=1", "sft.batch_size=8", "sft.max_steps=2",
    "rl.steps=1", "rl.prompts_per_step=4", "rl.samples_per_prompt=2", "rl.mini_batch_prompts=4",
    "rl.sampling.max_new_tokens=32",
    "eval.n=1", "eval.ks=[1]", "eval.sampling.max_new_tokens=32",
])
CELL_TIMEOUT_S = 900


def _outputs(nb) -> str:
    """Every cell's printed text, for assertions and failure messages."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for k, v in out.get("data", {}).items() if k == "text/markdown")
    return "\n".join(parts)


def test_notebook_executes_on_cpu(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    runs = tmp_path / "runs"
    monkeypatch.setenv("JAXINT_DEMO_OVERRIDES", TINY_DEMO)
    monkeypatch.setenv("JAXINT_NOTEBOOK_RUNS", str(runs))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    cache = pathlib.Path(os.environ.get("JAXINT_TEST_CACHE",
                                        pathlib.Path.home() / ".cache" / "jaxint-tests"))
    monkeypatch.setenv("JAXINT_COMPILE_CACHE", str(cache / "xla-notebook"))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"notebook cell failed:\n{str(err)[-6000:]}")

    text = _outputs(nb)
    assert "jaxint is already importable: skipping the install" in text
    assert "backend cpu" in text
    summary = json.loads((runs / "colab_demo" / "summary.json").read_text())
    arms = {"base", "rl_only", "rl_only_matched", "int_rl"}
    assert set(summary["accuracy"]) == arms
    assert set(summary["accuracy_by_kind"]) == {"trap", "plain"}
    assert set(summary["accuracy_by_kind"]["trap"]) == arms
    assert set(summary["paired_se"]) == {"int_rl_vs_rl_only", "int_rl_vs_rl_only_matched"}
    assert set(summary["zero_adv"]) == arms - {"base"}
    assert "| InT + RL |" in text  # the summary table was displayed
    assert "skipping the Qwen3-0.6B smoke run" in text
    assert (runs / "qwen3_0p6b_smoke.yaml").is_file()
    # The report cell either showed the report or said why not.
    assert (runs / "colab_demo" / "report.html").is_file() or "skipping the report" in text
