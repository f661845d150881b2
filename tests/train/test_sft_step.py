"""The SFT loss and train step on hand-built batches: masking, packing, accumulation,
sharding over 8 fake devices, and overfitting a tiny batch.

Batches follow the trainer's layout: tokens / positions / segment_ids / loss_mask [B, T]
(`loss_mask[t] = 1`: token t is trained, predicted from tokens < t), and [A, micro, T] for
the train step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxint.parallel import config as parallel_config
from jaxint.parallel import mesh as mesh_lib
from jaxint.train import config as train_config
from jaxint.train import loop_utils, optim, sft_step
from jaxint.train import state as state_lib
from tests.train import tiny

T = 16  # hand-built masking / packing batches
T_STEP = 32  # train-step batches


def _row(examples: list[tuple[list[int], int]], width: int) -> dict[str, np.ndarray]:
    """One packed row from (tokens, number of prompt tokens) pairs; the rest is padding."""
    row = {"tokens": np.zeros(width, np.int32), "positions": np.zeros(width, np.int32),
           "segment_ids": np.zeros(width, np.int32), "loss_mask": np.zeros(width, np.float32)}
    at = 0
    for seg, (tokens, prompt) in enumerate(examples, start=1):
        n = len(tokens)
        row["tokens"][at:at + n] = tokens
        row["positions"][at:at + n] = np.arange(n)
        row["segment_ids"][at:at + n] = seg
        row["loss_mask"][at + prompt:at + n] = 1.0
        at += n
    assert at <= width
    return row


def _stack(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


# Two examples: (tokens, prompt length). Token values are arbitrary ids < vocab.
E1 = ([5, 17, 33, 2, 90, 64, 11], 3)  # 3 prompt tokens, 4 trained
E2 = ([7, 7, 120, 45, 3, 88, 19, 54, 101], 5)  # 5 prompt tokens, 4 trained


@pytest.fixture(scope="module")
def small():
    """(graphdef, host params) of the one-layer test decoder."""
    return tiny.init_params(tiny.SMALL, seed=0)


@pytest.fixture(scope="module")
def nll_and_grad(small):
    """jit(params, batch) -> ((nll sum, trained tokens), d nll / d params)."""
    graphdef, _ = small

    def f(params, batch):
        return sft_step.masked_nll_sum(nnx.merge(graphdef, params), batch)

    return jax.jit(jax.value_and_grad(f, has_aux=True))


def _run(nll_and_grad, params, batch):
    (nll, n), grads = nll_and_grad(params, {k: jnp.asarray(v) for k, v in batch.items()})
    return float(nll), float(n), tiny.flat(grads)


def _assert_grads_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_masked_tokens_get_exactly_zero_gradient(small, nll_and_grad):
    """Tokens with loss_mask 0 that no trained token attends to (a masked end-of-turn,
    padding, a whole untrained packed example) can be changed arbitrarily without changing
    the loss or a single gradient bit: their targets contribute exactly nothing."""
    _, params = small
    untrained = (list(range(60, 66)), 6)  # an example whose every token has loss 0
    base = _stack([_row([E1, E2], T), _row([E2, untrained], T)])
    base["loss_mask"][0, 6] = 0.0  # E1's last token (say an EOS) is not trained
    ref = _run(nll_and_grad, params, base)
    assert ref[1] == 3 + 4 + 4  # trained tokens: E1 minus its last, E2 twice

    perturbed = {k: v.copy() for k, v in base.items()}
    perturbed["tokens"][0, 6] = 99  # the untrained last token of E1
    perturbed["tokens"][1, 9:] = 127 - perturbed["tokens"][1, 9:]  # untrained example + pad
    got = _run(nll_and_grad, params, perturbed)
    assert got[:2] == ref[:2]
    _assert_grads_equal(got[2], ref[2])

    # Not vacuous: changing a trained token does change the gradient.
    trained = {k: v.copy() for k, v in base.items()}
    trained["tokens"][0, 5] = 99
    changed = _run(nll_and_grad, params, trained)[2]
    assert any(not np.array_equal(changed[k], ref[2][k]) for k in ref[2])


def test_loss_counts_only_trained_targets(small, nll_and_grad):
    """The NLL sum equals -sum log p(token t | tokens < t) over the trained t only, taken
    from the model's full logits of each example (right-padded, one per row): prompt
    targets are excluded and entry t of the log-probs scores token t + 1."""
    graphdef, params = small
    batch = _stack([_row([E1], T), _row([E2], T)])
    expected = 0.0
    logps = tiny.token_logprobs(graphdef, params, [E1[0], E2[0]])
    for (_, prompt), logp in zip((E1, E2), logps, strict=True):
        expected -= logp[prompt - 1 :].sum()  # logp[t - 1] scores token t
    nll, n, _ = _run(nll_and_grad, params, batch)
    assert n == 8
    np.testing.assert_allclose(nll, expected, rtol=1e-5)


def test_packed_batch_equals_unpacked_examples(small, nll_and_grad):
    """E1 and E2 packed into one row (segment ids, restarted positions) give the same
    token-mean loss and gradients as the two examples in separate padded rows."""
    _, params = small
    empty = _row([], T)
    packed = _run(nll_and_grad, params, _stack([_row([E1, E2], T), empty]))
    unpacked = _run(nll_and_grad, params, _stack([_row([E1], T), _row([E2], T)]))
    assert packed[1] == unpacked[1] == 8
    np.testing.assert_allclose(packed[0] / packed[1], unpacked[0] / unpacked[1], rtol=1e-6)
    for key, g in unpacked[2].items():
        np.testing.assert_allclose(packed[2][key], g, rtol=1e-5, atol=1e-7, err_msg=key)


# ----------------------------------------------------------------------------- train step

OPT = train_config.OptimizerConfig(lr=1e-2, warmup_ratio=0.0, min_lr_ratio=1.0, weight_decay=0.01)
OVERFIT_STEPS = 150


def _step_batch(seed: int = 0, rows: int = 8) -> dict[str, np.ndarray]:
    """Packed rows of random examples with prompts and padding tails."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(rows):
        examples, room = [], T_STEP - rng.randint(0, 5)
        while room >= 6:
            n = rng.randint(6, min(room, 20) + 1)
            examples.append((rng.randint(1, tiny.SMALL.vocab_size, n).tolist(), rng.randint(1, 4)))
            room -= n
        out.append(_row(examples, T_STEP))
    return _stack(out)


@pytest.fixture(scope="module")
def tx():
    return optim.make(OPT, OVERFIT_STEPS)


@pytest.fixture(scope="module")
def step_fn(small, tx):
    """The single-device jitted train step (state donated), compiled once for [1, 8, T]."""
    graphdef, _ = small
    return loop_utils.jit_train_step(sft_step.make_train_step(graphdef, tx), None, None)


def _fresh_state(params, tx, mesh=None):
    params = jax.tree.map(jnp.array, params)
    if mesh is not None:
        params = jax.device_put(params, state_lib.shardings(params, mesh))
    with loop_utils.mesh_context(mesh):
        return state_lib.create(params, tx, mesh)


@pytest.fixture(scope="module")
def reference_step(small, tx, step_fn):
    """(params after one single-device step on the [1, 8, T] batch, its metrics)."""
    _, params = small
    state, metrics = step_fn(_fresh_state(params, tx), _accumulate(_step_batch(), 1))
    return jax.tree.map(np.asarray, state.params), jax.device_get(metrics)


def _accumulate(batch: dict[str, np.ndarray], a: int) -> dict[str, np.ndarray]:
    return loop_utils.reshape_accumulation(batch, a)


def test_step_metrics_count_trained_tokens(reference_step):
    """`tokens` is the batch's trained-token count; `loss` its token-mean NLL (finite)."""
    _, metrics = reference_step
    assert metrics["tokens"] == _step_batch()["loss_mask"][:, 1:].sum()
    assert np.isfinite(metrics["loss"]) and 3.0 < metrics["loss"] < 6.0  # ~ log(128)


def test_gradient_accumulation_equals_one_big_batch(small, tx, reference_step):
    """Two micro-batches of 4 rows (different trained-token counts) make the same update
    as one batch of 8: gradients are summed and normalised by the whole batch's tokens."""
    graphdef, params = small
    batch = _step_batch()
    counts = batch["loss_mask"][:, 1:].reshape(2, 4, -1).sum(axis=(1, 2))
    assert counts[0] != counts[1]
    step = jax.jit(sft_step.make_train_step(graphdef, tx), donate_argnums=0)
    state, metrics = step(_fresh_state(params, tx), _accumulate(batch, 2))
    ref_params, ref_metrics = reference_step
    np.testing.assert_allclose(metrics["loss"], ref_metrics["loss"], rtol=1e-6)
    np.testing.assert_allclose(metrics["grad_norm"], ref_metrics["grad_norm"], rtol=1e-5)
    assert metrics["tokens"] == ref_metrics["tokens"]
    tiny.assert_trees_close(state.params, ref_params, atol=1e-5)


@pytest.mark.parametrize("sizes", [(2, 4, 1), (1, 2, 4)], ids=["data2-fsdp4", "fsdp2-tensor4"])
def test_sharded_step_equals_single_device(small, tx, reference_step, sizes):
    """One AdamW step on a (data, fsdp, tensor) mesh of 8 fake devices gives the
    single-device parameters (1e-5) and loss; the state keeps its sharding."""
    graphdef, params = small
    mesh = mesh_lib.make_mesh(parallel_config.MeshConfig(*sizes))
    state = _fresh_state(params, tx, mesh)
    layouts = jax.tree.map(lambda x: x.sharding, state)
    embed = state.params["embed"].get_value()
    assert len(embed.sharding.device_set) == 8 and not embed.sharding.is_fully_replicated
    step = loop_utils.jit_train_step(sft_step.make_train_step(graphdef, tx), state, mesh)
    with loop_utils.mesh_context(mesh):
        batch = loop_utils.place_batch(_accumulate(_step_batch(), 1), mesh, batch_dim=1)
        state, metrics = step(state, batch)
    assert jax.tree.map(lambda x: x.sharding, state) == layouts
    ref_params, ref_metrics = reference_step
    np.testing.assert_allclose(float(metrics["loss"]), ref_metrics["loss"], rtol=1e-6)
    tiny.assert_trees_close(state.params, ref_params, atol=1e-5)


def test_overfits_a_tiny_batch(small, tx, step_fn):
    """150 AdamW steps (lr 1e-2) on one fixed batch of 8 packed rows drive the token-mean
    loss from ~log(128) = 4.85 to below 0.05."""
    _, params = small
    state = _fresh_state(params, tx)
    batch = jax.device_put(_accumulate(_step_batch(), 1))
    losses = []
    for _ in range(OVERFIT_STEPS):
        state, metrics = step_fn(state, batch)
        losses.append(metrics["loss"])
    losses = np.asarray(jax.device_get(losses))
    assert losses[0] > 4.0
    assert losses[-1] < 0.05, losses[::10]
