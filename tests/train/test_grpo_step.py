"""GRPO's jitted update on a hand-built mini-batch: its gradient against an independent
reference computed from full logits (clipped ratios, k3 KL, entropy bonus, a masked-out
sequence), and a sharded update with gradient accumulation on 8 fake devices.

The optimizer is SGD with lr 1000, so (params before - params after) / 1000 is exactly the
gradient the update used.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxint.parallel import config as parallel_config
from jaxint.parallel import mesh as mesh_lib
from jaxint.train import config as train_config
from jaxint.train import grpo_step, loop_utils
from jaxint.train import state as state_lib
from tests.train import tiny

B, T = 8, 32
LR = 1000.0
CFG = train_config.GRPOConfig(
    prompts_per_step=2, samples_per_prompt=4, mini_batch_prompts=2,
    aggregation="seq_mean_token_mean", eps_low=0.2, eps_high=0.28,
    kl_coef=0.05, kl_estimator="k3", entropy_coef=0.01,
    logprob_chunk=12,  # 31 log-prob positions: three chunks, the last one padded
)
# reward - group mean of rewards [[1, 0, 0, 1], [0, 0, 1, 0]]
ADVANTAGES = np.array([0.5, -0.5, -0.5, 0.5, -0.25, -0.25, 0.75, -0.25], np.float32)


def _batch_without_logps() -> dict[str, np.ndarray]:
    """Prompt + completion rows, right-padded; row 7 is a masked-out (truncated) sample."""
    rng = np.random.RandomState(0)
    batch = {"tokens": np.zeros((B, T), np.int32),
             "positions": np.tile(np.arange(T, dtype=np.int32), (B, 1)),
             "segment_ids": np.zeros((B, T), np.int32),
             "loss_mask": np.zeros((B, T), np.float32), "advantages": ADVANTAGES}
    for b in range(B):
        prompt, completion = rng.randint(4, 11), rng.randint(3, 15)
        n = prompt + completion
        batch["tokens"][b, :n] = rng.randint(1, tiny.SMALL.vocab_size, n)
        batch["segment_ids"][b, :n] = 1
        batch["loss_mask"][b, prompt:n] = 0.0 if b == 7 else 1.0
    return batch


def _reference_loss(graphdef, params, batch):
    """The GRPO objective written out from full logits: per token -min(r A, clip(r) A)
    + 0.05 k3 - 0.01 entropy, averaged per sequence, then over sequences with trained
    tokens. Returns (loss, (logp, entropy)) with logp [B, T-1] of tokens 1..T-1."""
    logits = nnx.merge(graphdef, params)(batch["tokens"], batch["segment_ids"])
    logp_all = jax.nn.log_softmax(logits[:, :-1], axis=-1)
    logp = jnp.take_along_axis(logp_all, batch["tokens"][:, 1:, None], axis=-1)[..., 0]
    entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1)
    mask = batch["loss_mask"][:, 1:]
    ratio = jnp.exp(logp - batch["old_logp"])
    adv = batch["advantages"]
    adv = adv[:, None] if adv.ndim == 1 else adv  # per sequence or per token
    pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 0.8, 1.28) * adv)
    log_r = batch["ref_logp"] - logp
    per_token = pg + 0.05 * (jnp.exp(log_r) - log_r - 1.0) - 0.01 * entropy
    lengths = jnp.sum(mask, axis=1)
    per_seq = jnp.sum(per_token * mask, axis=1) / jnp.maximum(lengths, 1.0)
    return jnp.sum(per_seq) / jnp.sum(lengths > 0), (logp, entropy)


@pytest.fixture(scope="module")
def small():
    return tiny.init_params(tiny.SMALL, seed=2)


@pytest.fixture(scope="module")
def reference(small):
    """(batch with old/ref log-probs, reference loss, reference gradient)."""
    graphdef, params = small
    f = jax.jit(jax.value_and_grad(lambda p, b: _reference_loss(graphdef, p, b), has_aux=True))
    batch = _batch_without_logps()
    zeros = np.zeros((B, T - 1), np.float32)
    (_, (logp, _)), _ = f(params, {**batch, "old_logp": zeros, "ref_logp": zeros})
    rng = np.random.RandomState(1)
    # Old log-probs off by up to +-0.35: ratios in [0.70, 1.42], so some are clipped.
    batch["old_logp"] = np.asarray(logp) + rng.uniform(-0.35, 0.35, logp.shape).astype(np.float32)
    batch["ref_logp"] = np.asarray(logp) + rng.uniform(-0.5, 0.5, logp.shape).astype(np.float32)
    (loss, _), grads = f(params, batch)
    ratio = np.exp(np.asarray(logp) - batch["old_logp"])[batch["loss_mask"][:, 1:] > 0]
    assert (ratio > 1.28).any() and (ratio < 0.8).any()
    return batch, float(loss), jax.tree.map(np.asarray, grads)


def _update(small, batch, *, micro: int | None = None, mesh=None):
    """Params after one SGD(lr=1000) update and the update's metrics."""
    graphdef, params = small
    cfg = train_config.GRPOConfig(**{**CFG.__dict__, "micro_batch_size": micro})
    tx = optax.sgd(LR)
    params = jax.tree.map(jnp.array, params)
    if mesh is not None:
        params = jax.device_put(params, state_lib.shardings(params, mesh))
    with loop_utils.mesh_context(mesh):
        state = state_lib.create(params, tx, mesh)
        update = loop_utils.jit_train_step(grpo_step.make_update_fn(graphdef, tx, cfg), state,
                                           mesh)
        placed = loop_utils.place_global(loop_utils.reshape_accumulation(batch, cfg.accumulation),
                                         mesh, batch_dim=1)
        state, metrics = update(state, placed)
    return jax.tree.map(np.asarray, state.params), jax.device_get(metrics)


@pytest.fixture(scope="module")
def single(small, reference):
    return _update(small, reference[0])


def _implied_gradient(small, new_params) -> dict[str, np.ndarray]:
    before, after = tiny.flat(small[1]), tiny.flat(new_params)
    return {k: (before[k].astype(np.float64) - after[k]) / LR for k in before}


def _assert_gradients_close(got: dict, want: dict, rtol: float) -> None:
    """Elementwise within rtol, or within rtol of the tensor's largest entry (entries that
    cancel to ~0 carry the float32 rounding of the large terms they sum)."""
    assert got.keys() == want.keys()
    for key, w in want.items():
        np.testing.assert_allclose(got[key], w, rtol=rtol, atol=rtol * np.abs(w).max(),
                                   err_msg=key)


def test_update_gradient_matches_the_reference(small, reference, single):
    """The update's loss and gradient equal the independent objective's: chunked
    log-probs, clipping on both sides, k3 KL, entropy bonus, the masked sequence left out
    of the sequence mean."""
    _, loss, grads = reference
    new_params, metrics = single
    np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-5)
    _assert_gradients_close(_implied_gradient(small, new_params), tiny.flat(grads), 1e-4)
    assert 0.0 < metrics["clip_frac"] < 1.0 and metrics["kl"] > 0.0


def test_sharded_accumulated_update_equals_single_device(small, reference, single):
    """On a data=2, fsdp=2, tensor=2 mesh, with the 8 sequences in 2 micro-batches of 4,
    the update equals the single-device, single-batch one: shardings and accumulation
    (whole-mini-batch token and sequence normalisers) change nothing. One test for both
    because each compile of the update costs ~10 s of CPU."""
    mesh = mesh_lib.make_mesh(parallel_config.MeshConfig(data=2, fsdp=2, tensor=2))
    new_params, metrics = _update(small, reference[0], micro=4, mesh=mesh)
    np.testing.assert_allclose(metrics["loss"], single[1]["loss"], rtol=1e-6)
    _assert_gradients_close(_implied_gradient(small, new_params),
                            _implied_gradient(small, single[0]), 1e-5)


def test_per_token_advantages_through_accumulation_match_the_reference(small, reference):
    """Advantages [B, T-1] (a different one on every token), the 8 sequences in 2
    micro-batches of 4 (leaves [2, 4, T-1]): the update's gradient is the reference
    objective's with the same per-token advantages."""
    graphdef, params = small
    batch = dict(reference[0])
    wave = 1.0 + 0.5 * np.sin(np.arange(T - 1))[None, :]
    batch["advantages"] = (ADVANTAGES[:, None] * wave).astype(np.float32)
    f = jax.jit(jax.value_and_grad(lambda p, b: _reference_loss(graphdef, p, b), has_aux=True))
    (loss, _), grads = f(params, batch)
    new_params, metrics = _update(small, batch, micro=4)
    np.testing.assert_allclose(metrics["loss"], float(loss), rtol=1e-5)
    _assert_gradients_close(_implied_gradient(small, new_params),
                            tiny.flat(jax.tree.map(np.asarray, grads)), 1e-4)
