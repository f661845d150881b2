"""One process of the multi-host check: an SFT step and a GRPO update on a global 8-device mesh.

Run it once per process. With JAXINT_COORDINATOR / JAXINT_NUM_PROCESSES / JAXINT_PROCESS_ID
set, it joins a multi-process job through `jaxint.parallel.distributed.maybe_initialize` (the
same path `jaxint run` takes); without them it is a single process that must see 8 devices
(XLA_FLAGS=--xla_force_host_platform_device_count=8). Both must produce the same numbers:

    python tests/multihost/worker.py --out result.json [--save-ckpt DIR | --restore-ckpt DIR]

Every input is fixed (seeded numpy, hand-made GRPO mini-batch), so the only difference between
the runs is how the data reaches the devices: in the SFT step each process passes only its
local rows (`place_batch`, as the per-process data pipelines do); in the GRPO step every process
holds the whole mini-batch (`place_global`, as RL rollouts are).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from absl import flags
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from jaxint import models
from jaxint.models import config as model_config
from jaxint.parallel import config as parallel_config
from jaxint.parallel import distributed
from jaxint.parallel import mesh as mesh_lib
from jaxint.train import checkpoint as ckpt_lib
from jaxint.train import config as train_config
from jaxint.train import grpo_step, loop_utils, optim, sft_step
from jaxint.train import state as state_lib

# Exact float32 matmuls, so the only differences between the runs are reduction orders (well
# below the 1e-5 the test allows).
jax.config.update("jax_default_matmul_precision", "highest")

# Every dimension divisible by the fsdp axis (4), so parameters are really split.
MODEL = model_config.ModelConfig(
    vocab_size=64, hidden_size=32, intermediate_size=48, num_layers=2, num_heads=4,
    num_kv_heads=2, head_dim=8, qk_norm=True, tie_embeddings=False, rope_theta=10_000.0,
    model_type="qwen3", dtype="float32", param_dtype="float32", attention_impl="xla",
)
MESH = parallel_config.MeshConfig(data=2, fsdp=4, tensor=1)
A, B, T = 2, 8, 12  # accumulation steps, global rows per micro-batch, sequence length
BARRIER_TIMEOUT_MS = 200_000


def sft_batch() -> dict[str, np.ndarray]:
    """A fixed global [A, B, T] batch with packing (two segments in a row) and padding."""
    rng = np.random.RandomState(1)
    tokens = rng.randint(1, MODEL.vocab_size, (A, B, T)).astype(np.int32)
    segment_ids = np.ones((A, B, T), np.int32)
    positions = np.broadcast_to(np.arange(T, dtype=np.int32), (A, B, T)).copy()
    for a in range(A):
        for b in range(B):
            pad = (a + b) % 4  # trailing padding of 0..3 tokens
            if pad:
                segment_ids[a, b, T - pad:] = 0
                tokens[a, b, T - pad:] = 0
            if b % 3 == 0:  # a second packed example from position 6 on
                segment_ids[a, b, 6:T - pad] = 2
                positions[a, b, 6:] = np.arange(T - 6)
    loss_mask = (segment_ids > 0).astype(np.float32)
    loss_mask[:, :, :3] = 0.0  # prompt tokens are not trained
    return {"tokens": tokens, "positions": positions, "segment_ids": segment_ids,
            "loss_mask": loss_mask}


def grpo_batch() -> dict[str, np.ndarray]:
    """A hand-made GRPO mini-batch [A, B, ...]: prompts of 4 tokens, completions after them."""
    rng = np.random.RandomState(2)
    tokens = rng.randint(1, MODEL.vocab_size, (A, B, T)).astype(np.int32)
    loss_mask = np.zeros((A, B, T), np.float32)
    loss_mask[:, :, 4:] = 1.0
    loss_mask[:, 1::2, T - 2:] = 0.0  # shorter completions on odd rows
    # Old log-probs near those of a random model over 64 tokens, spread so that some ratios
    # fall outside the clip range.
    old_logp = (-np.log(MODEL.vocab_size) + rng.uniform(-0.5, 0.5, (A, B, T - 1)))
    advantages = np.array([[1.0, -1.0, 0.5, -0.5, 0.0, 0.25, -0.25, 0.0]] * A, np.float32)
    return {
        "tokens": tokens,
        "positions": np.broadcast_to(np.arange(T, dtype=np.int32), (A, B, T)).copy(),
        "segment_ids": np.ones((A, B, T), np.int32),
        "loss_mask": loss_mask,
        "old_logp": old_logp.astype(np.float32),
        "advantages": advantages,
    }


def local_rows(batch: dict[str, np.ndarray], axis: int) -> dict[str, np.ndarray]:
    """This process's contiguous share of the rows, as a per-process data pipeline yields."""
    n, i = jax.process_count(), jax.process_index()
    size = batch["tokens"].shape[axis] // n
    return {k: np.take(v, np.arange(i * size, (i + 1) * size), axis=axis)
            for k, v in batch.items()}


def barrier(name: str) -> None:
    """Waits for every process at the coordinator (no device collective involved).

    On CPU, cross-process collectives go through gloo, whose rendezvous gives up after 30 s.
    On a loaded machine one process can finish compiling a step much later than the other, so
    every step is compiled first, then the processes meet here, then it runs.
    """
    ocp.multihost.get_barrier_sync_fn()(key=name, timeout_ms=BARRIER_TIMEOUT_MS)


def synced(name: str, fn, *args):
    """`fn(*args)` for a jitted `fn`, compiled ahead of a barrier (see `barrier`)."""
    compiled = fn.lower(*args).compile()
    barrier(name)
    return compiled(*args)


def checksums(name: str, tree, mesh) -> list[float]:
    """Per-leaf sum and sum of squares (replicated, so every process can read them)."""
    replicated = NamedSharding(mesh, PartitionSpec())
    leaves = jax.tree.leaves(tree)

    def stats(xs):
        return jnp.stack([f(x) for x in xs for f in (jnp.sum, lambda y: jnp.sum(y * y))])

    fn = jax.jit(stats, out_shardings=replicated)
    return [float(v) for v in np.asarray(synced(f"checksums {name}", fn, leaves))]


def build(mesh) -> tuple[nnx.GraphDef, state_lib.TrainState, object]:
    model = models.random_init(MODEL, seed=0, mesh=mesh)
    graphdef, params = nnx.split(model)
    tx = optim.make(train_config.OptimizerConfig(lr=1e-2, warmup_ratio=0.0), total_steps=2)
    with loop_utils.mesh_context(mesh):
        state = state_lib.create(params, tx, mesh)
    return graphdef, state, tx


def holds_its_rows(placed: dict[str, jax.Array], expected: dict[str, np.ndarray]) -> bool:
    """Whether every local device got its slice of the *global* batch: process 0's rows
    first, then process 1's (checked shard by shard, with no collective)."""
    return all(np.array_equal(np.asarray(s.data), expected[k][s.index])
               for k, arr in placed.items() for s in arr.addressable_shards)


def train(mesh, save_dir: str | None) -> dict:
    graphdef, state, tx = build(mesh)
    out: dict = {"process_count": jax.process_count(), "device_count": jax.device_count(),
                 "init": checksums("init", state.params, mesh)}
    sft = loop_utils.jit_train_step(sft_step.make_train_step(graphdef, tx), state, mesh)
    grpo_cfg = train_config.GRPOConfig(steps=1, prompts_per_step=1, samples_per_prompt=B,
                                       mini_batch_prompts=1, micro_batch_size=B, logprob_chunk=8)
    update = loop_utils.jit_train_step(grpo_step.make_update_fn(graphdef, tx, grpo_cfg), state,
                                       mesh)
    with loop_utils.mesh_context(mesh):
        full = sft_batch()
        placed = loop_utils.place_batch(local_rows(full, axis=1), mesh, batch_dim=1)
        out["sft_batch_assembled"] = holds_its_rows(placed, full)
        state, m = synced("sft", sft, state, placed)
        out["sft"] = {k: float(np.asarray(v)) for k, v in m.items()}
        out["after_sft"] = checksums("sft", state.params, mesh)
        placed = loop_utils.place_global(grpo_batch(), mesh, batch_dim=1)
        state, m = synced("grpo", update, state, placed)
        out["grpo"] = {k: float(np.asarray(v)) for k, v in m.items()}
        out["after_grpo"] = checksums("grpo", state.params, mesh)
        out["opt_state"] = checksums("opt", state.opt_state, mesh)
    if save_dir:
        barrier("save")
        ckpt = ckpt_lib.Checkpointer(save_dir, train_config.CheckpointConfig(
            every=1, keep=1, async_save=False))
        ckpt.save(2, state, {"step": 2, "processes": jax.process_count()}, force=True)
        ckpt.close()
    return out


def restore(mesh, ckpt_dir: str) -> dict:
    """Restores a checkpoint (written by any number of processes) onto this run's mesh."""
    _, state, _ = build(mesh)
    ckpt = ckpt_lib.Checkpointer(ckpt_dir, train_config.CheckpointConfig(every=1, keep=1))
    with loop_utils.mesh_context(mesh):
        state, extra = ckpt.restore(state)
    ckpt.close()
    return {"extra": extra, "step": int(np.asarray(state.step)),
            "after_grpo": checksums("restored", state.params, mesh),
            "opt_state": checksums("restored opt", state.opt_state, mesh)}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True, help="JSON results (written by process 0)")
    p.add_argument("--save-ckpt", help="save the final state here (orbax)")
    p.add_argument("--restore-ckpt", help="only restore this checkpoint and report its checksums")
    args = p.parse_args()
    # Orbax's own barriers default to a device collective (gloo on CPU, see `barrier`); the
    # coordinator's barrier has no 30 s rendezvous limit.
    flags.FLAGS.mark_as_parsed()
    flags.FLAGS.experimental_orbax_use_distributed_barrier = True
    joined = distributed.maybe_initialize()
    if jax.device_count() != 8:
        print(f"worker: need 8 global devices, got {jax.device_count()}", file=sys.stderr)
        return 2
    mesh = mesh_lib.make_mesh(MESH)
    result = restore(mesh, args.restore_ckpt) if args.restore_ckpt else train(mesh, args.save_ckpt)
    result["joined_distributed"] = joined
    if jax.process_index() == 0:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1))
    # Every process leaves together: process 0 must not tear down the coordinator while the
    # other still needs it.
    barrier("done")
    print(f"worker {jax.process_index()}/{jax.process_count()} pid {os.getpid()}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
