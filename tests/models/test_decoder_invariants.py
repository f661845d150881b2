"""Properties the decoder must have whatever its weights: jit, causality, padding, packing,
scanned layers, remat and the chunked attention implementation.

One batch serves most tests (one compile): row 0 is a sequence s, row 1 is s[:8] behind four
padding tokens, row 2 is s[:8] followed by four padding tokens, row 3 another sequence t.
Padding ids are random tokens, so a leak would change the logits.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxint.models import attention
from tests.fixtures import jaxint_models

T = 12
ATOL = 1e-5


def _loss(model, ids, mask, targets, weights):
    logits = model(ids, mask)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], -1)[..., 0]
    return -jnp.sum(logp * weights) / jnp.sum(weights), logits


# One compile per model variant gives logits, loss and gradients.
_evaluate = nnx.jit(nnx.value_and_grad(_loss, has_aux=True))


class Result:
    """Loss, logits [B, T, V] and parameter gradients of one variant on one batch."""

    def __init__(self, model, ids, mask, targets, weights=None):
        weights = mask.astype(jnp.float32) if weights is None else weights
        (loss, logits), grads = _evaluate(model, ids, mask, targets, weights)
        self.loss, self.logits, self.grads = float(loss), np.asarray(logits), grads


@pytest.fixture(scope="module")
def model():
    return jaxint_models.perturbed_init(jaxint_models.SMALL, seed=7)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.RandomState(0)
    vocab = jaxint_models.SMALL.vocab_size
    s, t = rng.choice(vocab, T, replace=False), rng.randint(0, vocab, T)
    garbage = rng.randint(0, vocab, (2, 4))
    ids = np.stack([s, np.r_[garbage[0], s[:8]], np.r_[s[:8], garbage[1]], t]).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, :4] = 0
    mask[2, 8:] = 0
    targets = rng.randint(0, vocab, ids.shape).astype(np.int32)
    return jnp.asarray(ids), jnp.asarray(mask), jnp.asarray(targets)


@pytest.fixture(scope="module")
def reference(model, batch):
    return Result(model, *batch)


def _assert_same(a: Result, b: Result, atol: float = ATOL) -> None:
    np.testing.assert_allclose(a.logits, b.logits, atol=atol, rtol=0)
    np.testing.assert_allclose(a.loss, b.loss, atol=atol, rtol=0)
    flat_a = dict(nnx.to_flat_state(a.grads))
    flat_b = dict(nnx.to_flat_state(b.grads))
    assert flat_a.keys() == flat_b.keys()
    for path, var in flat_a.items():
        np.testing.assert_allclose(np.asarray(var.get_value()),
                                   np.asarray(flat_b[path].get_value()),
                                   atol=atol, rtol=1e-4, err_msg="/".join(map(str, path)))


def test_jit_equals_eager(model, batch, reference):
    ids, mask, _ = batch
    eager = np.asarray(model(ids, mask))
    assert eager.shape == (4, T, jaxint_models.SMALL.vocab_size) and eager.dtype == np.float32
    np.testing.assert_allclose(eager, reference.logits, atol=ATOL, rtol=0)


def test_future_tokens_do_not_change_past_logits(model, batch, reference):
    ids, mask, targets = batch
    for t in (3, 7, T - 1):
        changed = ids.at[0, t:].set((ids[0, t:] + 1) % jaxint_models.SMALL.vocab_size)
        out = Result(model, changed, mask, targets).logits
        np.testing.assert_allclose(out[0, :t], reference.logits[0, :t], atol=1e-6, rtol=0)
        assert np.abs(out[0, t] - reference.logits[0, t]).max() > 1e-3  # visible at t


def test_gradient_causality(model, batch):
    """d loss(position t) / d embedding(token at t') is exactly zero for every t' > t.

    Row 0 holds distinct tokens, so an embedding row belongs to a single position; the loss
    weighs only (row 0, position t), and the LM head is untied, so the embedding table's
    gradient comes from the inputs alone.
    """
    ids, mask, targets = batch
    tokens = np.asarray(ids[0])
    for t in (2, 6):
        weights = jnp.zeros(ids.shape).at[0, t].set(1.0)
        grad = Result(model, ids, mask, targets, weights).grads["embed"].get_value()
        rows = np.abs(np.asarray(grad)).sum(-1)
        assert (rows[tokens[: t + 1]] > 0).all()
        np.testing.assert_array_equal(rows[tokens[t + 1:]], 0.0)


def test_left_and_right_padding_are_invisible(reference):
    logits = reference.logits
    np.testing.assert_allclose(logits[1, 4:], logits[0, :8], atol=ATOL, rtol=0)
    np.testing.assert_allclose(logits[2, :8], logits[0, :8], atol=ATOL, rtol=0)


def test_packed_segments_equal_separate_runs(model, batch, reference):
    ids, _, _ = batch
    packed = jnp.concatenate([ids[0, :5], ids[3, :7]])[None]
    segments = jnp.asarray([[1] * 5 + [2] * 7])
    positions = jnp.asarray([list(range(5)) + list(range(7))])
    out = np.asarray(nnx.jit(lambda m, i, s, p: m(i, segment_ids=s, positions=p))(
        model, packed, segments, positions))
    np.testing.assert_allclose(out[0, :5], reference.logits[0, :5], atol=ATOL, rtol=0)
    np.testing.assert_allclose(out[0, 5:], reference.logits[3, :7], atol=ATOL, rtol=0)


def test_scan_layers_equals_unrolled(model, batch, reference):
    _assert_same(Result(jaxint_models.with_options(model, scan_layers=True), *batch), reference)


@pytest.mark.parametrize("remat", ["full", "dots", "dots_no_batch"])
def test_remat_keeps_values_and_gradients(model, batch, reference, remat):
    variant = jaxint_models.with_options(model, remat=remat, scan_layers=remat != "full")
    _assert_same(Result(variant, *batch), reference)


def test_chunked_attention_equals_xla(model, batch, reference):
    """T = 12 is not a multiple of the chunk (5): the padded last block is exercised."""
    assert reference.logits.shape[1] % 5
    variant = jaxint_models.with_options(model, attention_impl="chunked", attention_chunk=5)
    _assert_same(Result(variant, *batch), reference)
    # The reference ran with attention_impl="auto", which is XLA's attention here.
    assert attention.resolve_impl("auto", jnp.float32, T, model.config.attention_chunk) == "xla"
