"""The KV-cached path equals the full-sequence forward: prefill a zero cache, then decode one
token at a time with a different write index per row (engine slots at different lengths)."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxint.models import kv_cache
from tests.fixtures import jaxint_models

ATOL = 1e-5
PROMPT = (5, 8)  # prompt length of each row
DECODE = 4  # tokens decoded one at a time after the prompt
S = 16  # cache length


@functools.partial(nnx.jit, static_argnames="kv_len", donate_argnums=(3, 4))
def _cached(model, ids, positions, cache_k, cache_v, write_index, kv_len=None):
    hidden, cache_k, cache_v = model.hidden_states_cached(
        ids, positions, cache_k, cache_v, write_index, kv_len=kv_len
    )
    return model.logits(hidden), cache_k, cache_v


@pytest.fixture(scope="module")
def model():
    return jaxint_models.perturbed_init(jaxint_models.SMALL, seed=7)


@pytest.fixture(scope="module")
def sequences():
    """Row b holds PROMPT[b] + DECODE real tokens, right-padded with random ids to T = 12."""
    rng = np.random.RandomState(5)
    lengths = [p + DECODE for p in PROMPT]
    T = max(lengths)
    ids = rng.randint(0, jaxint_models.SMALL.vocab_size, (len(PROMPT), T)).astype(np.int32)
    mask = (np.arange(T)[None] < np.asarray(lengths)[:, None]).astype(np.int32)
    return ids, mask


@pytest.fixture(scope="module")
def full(model, sequences):
    """Logits of the plain full-sequence forward: the reference for every cached step."""
    ids, mask = sequences
    return np.asarray(jaxint_models.forward(model, jnp.asarray(ids), jnp.asarray(mask)))


@pytest.mark.parametrize(("scan_layers", "per_layer"), [(False, False), (True, False),
                                                       (False, True)],
                         ids=["unrolled-stacked", "scanned-stacked", "unrolled-per-layer"])
def test_prefill_then_decode_equals_full_forward(model, sequences, full, scan_layers, per_layer):
    """Both cache forms (`kv_cache`): one stacked array, or one array per layer."""
    model = jaxint_models.with_options(model, scan_layers=scan_layers)
    ids, _ = sequences
    cfg = model.config
    B, P = len(PROMPT), max(PROMPT)
    cache_k, cache_v = (kv_cache.zeros(cfg.num_layers, B, S, cfg.num_kv_heads, cfg.head_dim,
                                       jnp.float32, per_layer=per_layer) for _ in range(2))

    # Prefill the longest prompt length for every row; row 0's tokens past its prompt are
    # written too, but are overwritten by its decode steps before any query can see them.
    positions = jnp.broadcast_to(jnp.arange(P, dtype=jnp.int32), (B, P))
    logits, cache_k, cache_v = _cached(model, jnp.asarray(ids[:, :P]), positions, cache_k,
                                       cache_v, jnp.zeros((B,), jnp.int32))
    for b, p in enumerate(PROMPT):
        np.testing.assert_allclose(np.asarray(logits)[b, :p], full[b, :p], atol=ATOL, rtol=0)

    for step in range(DECODE):
        write_index = jnp.asarray(PROMPT, jnp.int32) + step
        token = jnp.asarray(ids[np.arange(B), np.asarray(write_index)])[:, None]
        logits, cache_k, cache_v = _cached(model, token, write_index[:, None], cache_k, cache_v,
                                           write_index, kv_len=max(PROMPT) + DECODE)
        expected = full[np.arange(B), np.asarray(write_index)]
        np.testing.assert_allclose(np.asarray(logits)[:, 0], expected, atol=ATOL, rtol=0,
                                   err_msg=f"decode step {step}")
    # Nothing was written past each row's last token.
    last = np.asarray(PROMPT) + DECODE
    stacked = np.stack(cache_k) if per_layer else np.asarray(cache_k)  # [L, B, K, S, H]
    assert all(np.all(stacked[:, b, :, max(last[b], P):] == 0) for b in range(B))
    assert not np.all(stacked[:, :, :, : max(PROMPT)] == 0)
