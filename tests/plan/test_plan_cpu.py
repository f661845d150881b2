"""`jaxint plan` on 8 fake CPU devices: figures, growth with sizes, verdicts, shardings."""

from __future__ import annotations

import json
import pathlib

import jax
import pytest
from jax.sharding import PartitionSpec

from jaxint.plan import abstract, cli, report, topologies
from tests.plan.conftest import TINY, tiny_config

CPU8 = topologies.get("cpu-8")


def _rows(*overrides: str, functions: str):
    cfg = tiny_config(f"plan.functions=[{functions}]", *overrides)
    return {r.result.name: r for r in cli.plan(cfg, CPU8)}


@pytest.fixture(scope="module")
def base():
    return _rows(functions="sft_step,grpo_score,gen_decode")


def test_figures_are_positive_and_fit(base):
    for name, row in base.items():
        r = row.result
        assert r.arguments > 0 and r.total > 0 and r.flops > 0, name
        assert row.fits and row.verdict == "fits"
        assert row.bound_s > 0 and row.limit in ("compute", "memory")
    # The train step donates its state: the new state takes no extra memory.
    assert base["sft_step"].result.aliased > 0


def test_train_step_flops_match_the_model(base):
    """Matmul FLOPs of an SFT step >= 6 x params x tokens (remat adds a forward, attention
    adds its own): the jaxpr count sees every micro-batch and layer, not one loop body."""
    cfg = tiny_config()
    tokens = cfg.sft.batch_size * cfg.sft.seq_len
    from jaxint.models import spec

    params = spec.model_config(cfg.model).num_params()
    per_device = base["sft_step"].result.flops
    assert per_device * CPU8.num_devices >= 6 * params * tokens
    assert per_device * CPU8.num_devices < 12 * params * tokens
    # XLA's own count sees a loop body once: far below.
    assert base["sft_step"].result.xla_flops < per_device


def test_memory_grows_with_batch_and_sequence(base):
    score = base["grpo_score"].result
    wider = _rows("rl.micro_batch_size=16", functions="grpo_score")["grpo_score"].result
    longer = _rows("rl.sampling.max_new_tokens=192", functions="grpo_score")["grpo_score"].result
    assert wider.shape.startswith("16 x 128") and longer.shape.endswith("x 256")
    for bigger in (wider, longer):
        assert bigger.arguments > score.arguments
        assert bigger.temporaries > score.temporaries
        assert bigger.total > score.total
        assert bigger.flops > score.flops


def test_decode_arguments_are_weights_and_kv_cache(base):
    """The decode chunk's arguments are the compute-dtype weights and the decode state (one
    unused slot counter may be pruned): nothing is silently replicated."""
    decode = base["gen_decode"].result
    cfg = tiny_config()
    from jaxint.models import spec
    from jaxint.parallel import mesh as mesh_lib

    model_cfg = spec.model_config(cfg.model)
    mesh = mesh_lib.make_mesh(cfg.mesh, devices=topologies.devices(CPU8))
    _, params = abstract.model(model_cfg)
    weights = abstract.device_bytes(abstract.params(params, mesh, "bfloat16"))
    state = abstract.decoder_state(model_cfg, 16, 128, 8, "bfloat16", mesh)
    kv = abstract.device_bytes((state.cache_k, state.cache_v))
    assert kv == 2 * 4 * (16 // 4) * 128 * (2 // 2) * 32 * 2  # L, slots/fsdp, S, K/tensor, H
    assert weights + kv <= decode.arguments <= weights + abstract.device_bytes(state)
    # param_dtype float32 != dtype: the loaded float32 model stays resident beside its copy.
    assert decode.resident == abstract.device_bytes(abstract.params(params, mesh))


def test_verdict_flips_below_the_total(base):
    result = base["sft_step"].result
    total_gib = result.total / report.GIB
    (fits,) = report.judge([result], CPU8, hbm_gib=total_gib * 1.01)
    (over,) = report.judge([result], CPU8, hbm_gib=total_gib * 0.5)
    assert fits.fits and fits.verdict == "fits"
    assert not over.fits and over.verdict.startswith("over by ")
    assert f"{total_gib * 0.5:.2f} GiB" in over.verdict
    assert "(dominant: " in over.verdict


def test_compiled_shardings_follow_the_mesh(base):
    """fsdp=4, tensor=2: the embedding [V, D] is split (tensor, fsdp), the MLP [L, D, F]
    (-, fsdp, tensor), batches over fsdp on their batch axis."""
    state_in, batch_in = base["sft_step"].result.input_shardings[0]
    params = {"/".join(map(str, k)): v for k, v in jax.tree_util.tree_flatten_with_path(
        state_in.params)[0]}
    specs = {k: s.spec for k, s in params.items()}
    embed = next(s for k, s in specs.items() if "embed" in k)
    assert embed == PartitionSpec("tensor", "fsdp")
    mlp = [s for k, s in specs.items() if "up" in k or "gate" in k]
    assert mlp and all(s == PartitionSpec(None, "fsdp", "tensor") for s in mlp)
    assert batch_in["tokens"].spec == PartitionSpec(None, "fsdp", None)
    assert all(s.mesh.shape == {"data": 1, "fsdp": 4, "tensor": 2} for s in params.values())


def test_cli_prints_table_and_json(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text("name: x\ndata: {path: anything}\n")  # sections plan does not read
    out = tmp_path / "plan.json"
    code = cli.main([str(config), *TINY, "-t", "cpu-8",
                     "--functions", "gen_decode", "--json", str(out), "--hbm-gib", "0.001"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| gen_decode |" in printed and "over by" in printed and "cpu-8" in printed
    (row,) = json.loads(out.read_text())
    assert row["function"] == "gen_decode" and not row["fits"] and row["total"] > 0


def test_unknown_topology_is_a_clear_error(capsys):
    assert cli.main(["x.yaml", "-t", "v9z-8"]) == 2
    assert "unknown topology" in capsys.readouterr().err


def test_cli_in_a_process_whose_jax_has_one_device(tmp_path):
    """Where jax already started with one CPU device, `main` re-runs itself in a fresh process
    that asks XLA for 8 (what `jaxint plan` does when the CLI imported jax first)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_COMPILATION_CACHE_DIR"] = jax.config.jax_compilation_cache_dir or str(tmp_path)
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"
    code = ("import sys, jax; assert len(jax.devices()) == 1; from jaxint.plan import cli; "
            "sys.exit(cli.main(sys.argv[1:]))")
    config = tmp_path / "c.yaml"
    config.write_text("model: {preset: qwen3-tiny}\n")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(config), *TINY, "--functions", "gen_decode"],
        env=env, capture_output=True, text=True, timeout=600,
        cwd=pathlib.Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| gen_decode |" in proc.stdout and "8 x CPU" in proc.stdout
