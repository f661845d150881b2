"""`jaxint plan` compiles the GRPO update with the advantages rl.credit gives it: one per
token ([A, m, T-1]) for the per-token methods, one per sequence otherwise (GRPO-λ's trace
acting in the update)."""

from __future__ import annotations

import pytest

from jaxint.models import spec
from jaxint.parallel import mesh as mesh_lib
from jaxint.plan import abstract, functions, topologies
from jaxint.plan import compile as compile_lib
from tests.plan.conftest import tiny_config


@pytest.mark.parametrize("credit, per_token", [("vineppo", True), ("grpo_lambda", False)])
def test_grpo_update_compiles_for_credit_methods(credit, per_token):
    cfg = tiny_config(f"rl.credit={credit}")
    target = topologies.get("cpu-8")
    model_cfg = spec.model_config(cfg.model)
    graphdef, params = abstract.model(model_cfg)
    mesh = mesh_lib.make_mesh(cfg.mesh, devices=topologies.devices(target))
    job = functions.grpo_update(functions.Context(cfg, model_cfg, mesh, graphdef, params))
    batch = job.args[1]
    want = batch["old_logp"].shape if per_token else batch["old_logp"].shape[:2]
    assert batch["advantages"].shape == want
    result = compile_lib.run(job, mesh)
    assert result.flops > 0
