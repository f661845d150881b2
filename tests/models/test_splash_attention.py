"""`attention_impl=splash` (JAX's Pallas TPU flash kernel) against XLA's attention on CPU.

The kernel runs in Pallas interpret mode here: the same kernel body, grid, tiling, block
skipping and custom backward as on a TPU, executed by XLA:CPU. Each case compares outputs of
real queries (a padding query's output is never read) and the gradients of a loss over them
with respect to q, k and v, in float32. Shapes are chosen so that the sequence is padded to
the 128-lane multiple and cut into several tiles (T = 300 -> 384 = 3 x 128).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxint.models import attention
from jaxint.parallel import config as parallel_config
from jaxint.parallel import mesh as mesh_lib
from tests.fixtures import jaxint_models

TOL = 2e-5


def _inputs(B: int, T: int, N: int, K: int, H: int, seed: int = 0):
    keys = jax.random.split(jax.random.key(seed), 4)
    q = jax.random.normal(keys[0], (B, T, N, H), jnp.float32)
    k = jax.random.normal(keys[1], (B, T, K, H), jnp.float32)
    v = jax.random.normal(keys[2], (B, T, K, H), jnp.float32)
    w = jax.random.normal(keys[3], (B, T, N, H), jnp.float32)  # loss weights
    return q, k, v, w


def _mask(kind: str, B: int, T: int) -> attention.MaskInfo:
    """causal; padding (row 0 left-padded by 37, row 1 right-padded from 250); packed
    (three segments, id 0 = padding at the end)."""
    q_index = jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32), (B, T))
    if kind == "causal":
        return attention.MaskInfo(q_index=q_index)
    pos = np.arange(T)
    if kind == "padding":
        valid = np.stack([pos >= 37, pos < 250] + [pos < T] * (B - 2))
        return attention.MaskInfo(q_index=q_index, kv_valid=jnp.asarray(valid))
    seg = np.where(pos < 90, 1, np.where(pos < 200, 2, np.where(pos < 280, 3, 0)))
    seg = jnp.asarray(np.stack([seg, np.roll(seg, 7)][:B]).astype(np.int32))
    return attention.MaskInfo(q_index=q_index, kv_valid=seg > 0, q_segment=seg, kv_segment=seg)


def _real_queries(mask: attention.MaskInfo, shape) -> jax.Array:
    return jnp.ones(shape, bool) if mask.kv_valid is None else mask.kv_valid


def _run(impl: str, q, k, v, w, mask):
    """Outputs and d(sum(w * out over real queries)) / d(q, k, v) under `impl`."""
    real = _real_queries(mask, q.shape[:2])[:, :, None, None]

    def loss(q, k, v):
        out = attention.attend(q, k, v, mask, impl=impl, chunk=64)
        return jnp.sum(jnp.where(real, out * w, 0.0)), out

    (_, out), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(q, k, v)
    return np.asarray(jnp.where(real, out, 0.0)), [np.asarray(g) for g in grads]


def _assert_parity(got, want) -> None:
    np.testing.assert_allclose(got[0], want[0], atol=TOL, rtol=0, err_msg="output")
    for name, g, r in zip("qkv", got[1], want[1], strict=True):
        np.testing.assert_allclose(g, r, atol=TOL, rtol=0, err_msg=f"d/d{name}")


@pytest.mark.parametrize("kind", ["causal", "padding", "packed"])
@pytest.mark.parametrize("heads", [(4, 2), (4, 4), (4, 1)], ids=["gqa", "mha", "mqa"])
def test_splash_equals_xla(kind, heads):
    B, T, H = 2, 300, 32
    N, K = heads
    q, k, v, w = _inputs(B, T, N, K, H, seed=len(kind) + N + K)
    mask = _mask(kind, B, T)
    _assert_parity(_run("splash", q, k, v, w, mask), _run("xla", q, k, v, w, mask))


def test_parity_check_can_fail():
    """The comparison is sharp enough to see a wrong kv head for one query-head group."""
    B, T, N, K, H = 1, 128, 4, 2, 16
    q, k, v, w = _inputs(B, T, N, K, H)
    mask = _mask("causal", B, T)
    swapped = _run("xla", q, k[:, :, ::-1], v[:, :, ::-1], w, mask)
    with pytest.raises(AssertionError):
        _assert_parity(_run("splash", q, k, v, w, mask), swapped)


def test_bfloat16_stays_close():
    """bf16 inputs: q is scaled before the kernel (in bf16) where XLA scales the float32
    logits, so the two differ by bf16 rounding only."""
    B, T, N, K, H = 2, 256, 4, 2, 64
    q, k, v, _ = (x.astype(jnp.bfloat16) for x in _inputs(B, T, N, K, H))
    mask = _mask("padding", B, T)
    real = np.asarray(_real_queries(mask, (B, T)))[:, :, None, None]
    got = jax.jit(lambda *a: attention.attend(*a, mask, impl="splash"))(q, k, v)
    want = jax.jit(lambda *a: attention.attend(*a, mask, impl="xla"))(q, k, v)
    assert got.dtype == jnp.bfloat16
    diff = np.abs(np.asarray(got, np.float32) - np.asarray(want, np.float32)) * real
    assert diff.max() < 3e-2, diff.max()


@pytest.mark.parametrize("heads", [(4, 2), (4, 1)], ids=["kv_heads_split", "kv_heads_repeated"])
def test_splash_under_a_mesh(heads):
    """fsdp=4 x tensor=2 on the fake CPU devices: the kernel runs per device in `shard_map`
    (rows over fsdp, heads over tensor; one kv head cannot be split, so it is repeated)."""
    B, T, H = 4, 160, 16
    N, K = heads
    q, k, v, w = _inputs(B, T, N, K, H, seed=3)
    mask = _mask("packed", B // 2, T)
    mask = jax.tree.map(lambda x: jnp.concatenate([x, x]), mask)
    mesh = mesh_lib.make_mesh(parallel_config.MeshConfig(data=1, fsdp=4, tensor=2))
    with jax.set_mesh(mesh):
        got = _run("splash", q, k, v, w, mask)
    _assert_parity(got, _run("xla", q, k, v, w, mask))


def test_offset_queries_fall_back():
    """Queries at an offset in a longer cache (a cached prefill) are not what the kernel's
    static causal mask describes: splash hands them to the chunked path."""
    B, T, S, N, K, H = 1, 8, 24, 4, 2, 16
    q, k, v, _ = _inputs(B, S, N, K, H)
    q = q[:, :T]
    mask = attention.MaskInfo(q_index=jnp.arange(T, dtype=jnp.int32)[None] + 10)
    got = attention.attend(q, k, v, mask, impl="splash")
    want = attention.attend(q, k, v, mask, impl="xla")
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=TOL, rtol=0)


def _model_loss(model, ids, mask, targets):
    logits = model(ids, mask)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], -1)[..., 0]
    return -jnp.sum(logp * mask) / jnp.sum(mask), logits


def test_decoder_with_splash_equals_xla():
    """The training path end to end: a 2-layer decoder (GQA, q/k norm, odd head dim 12) with
    left and right padding, logits and parameter gradients."""
    model = jaxint_models.perturbed_init(jaxint_models.SMALL, seed=5)
    rng = np.random.RandomState(1)
    ids = jnp.asarray(rng.randint(0, jaxint_models.SMALL.vocab_size, (3, 20)), jnp.int32)
    mask = np.ones((3, 20), np.int32)
    mask[1, :6] = 0
    mask[2, 15:] = 0
    mask, targets = jnp.asarray(mask), jnp.roll(ids, -1, axis=1)
    step = nnx.jit(nnx.value_and_grad(_model_loss, has_aux=True))
    results = {}
    for impl in ("xla", "splash"):
        variant = jaxint_models.with_options(model, attention_impl=impl)
        (loss, logits), grads = step(variant, ids, mask, targets)
        results[impl] = (float(loss), np.asarray(logits) * np.asarray(mask)[..., None],
                         dict(nnx.to_flat_state(grads)))
    (loss_a, logits_a, grads_a), (loss_b, logits_b, grads_b) = results["splash"], results["xla"]
    np.testing.assert_allclose(logits_a, logits_b, atol=1e-4, rtol=0)
    np.testing.assert_allclose(loss_a, loss_b, atol=1e-5, rtol=0)
    for path, var in grads_a.items():
        np.testing.assert_allclose(np.asarray(var.get_value()),
                                   np.asarray(grads_b[path].get_value()),
                                   atol=1e-5, rtol=1e-4, err_msg="/".join(map(str, path)))


def test_auto_on_cpu_is_unchanged():
    assert attention.resolve_impl("auto", jnp.bfloat16, 16384, 256) == "chunked"
    assert attention.resolve_impl("auto", jnp.float32, 12, 256) == "xla"
