"""Token selection (`jaxint.sampling.select`) against the definitions, computed in numpy.

The reference applies, in float64: temperature, then keep the top-k logits (k=0: all), then
keep the smallest set of most likely tokens whose probability mass reaches top_p (the most
likely token always kept), then renormalise. The sampler must never pick outside that set,
and over many draws its empirical frequencies must match the renormalised distribution.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxint.sampling import select
from tests.sampling import helpers

V = 50  # vocabulary of the fixed logits vector
DRAWS = 20_000
# Per-token frequency tolerance in binomial standard deviations. With <= 50 tokens per case,
# a correct sampler exceeds 5 sigma on some token with probability < 50 * 6e-7 = 3e-5; the
# seed is fixed, so the test is deterministic anyway. A wrong renormalisation (e.g. keeping
# one token too many at p=0.8) shifts frequencies by tens of sigma.
SIGMAS = 5.0
# The numpy cut-offs must not sit on a rounding boundary (float32 vs float64), or the
# reference itself would be ambiguous: cumulative masses stay this far from top_p.
BOUNDARY = 1e-4

# Each statistical case is one compile (~1-4 s on 2 cores), so only the combinations the
# issue names are drawn from; the cheaper set-equality test also covers top-k alone and a
# top_p so small that only the most likely token survives.
CASES = {
    "qwen_T0.7_k20_p0.8": dict(temperature=0.7, top_k=20, top_p=0.8),
    "k0_p0.6": dict(temperature=1.3, top_k=0, top_p=0.6),
    "temperature_only_T0.5": dict(temperature=0.5, top_k=0, top_p=1.0),
}
SET_CASES = {
    **CASES,
    "k5_only": dict(temperature=1.0, top_k=5, top_p=1.0),
    # Flat enough that top-k binds before top-p: applying them in the other order (nucleus
    # over the full vocabulary, then top-k) would keep all 5 tokens instead of 3.
    "k5_then_p0.6_T3": dict(temperature=3.0, top_k=5, top_p=0.6),
    "p_tiny_keeps_argmax": dict(temperature=1.0, top_k=0, top_p=1e-3),
}
# Allowed tokens expected fewer than this many times are pooled into one bin before the
# frequency check (the usual chi-square rule): a binomial std is meaningless at p ~ 1e-8.
MIN_EXPECTED = 5


def _logits(seed: int = 0) -> np.ndarray:
    """A fixed logits vector [V] with no ties and a spread like a real model's head."""
    return (np.random.RandomState(seed).randn(V) * 2.0).astype(np.float32)


def reference(logits: np.ndarray, temperature: float, top_k: int, top_p: float) -> np.ndarray:
    """The renormalised sampling distribution [V], asserting the case is unambiguous."""
    z = np.sort(logits.astype(np.float64) / temperature)[::-1][: top_k or None]
    probs = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    if top_p < 1.0:
        assert np.abs(np.cumsum(probs) - top_p).min() > BOUNDARY, "ill-posed case"
    return helpers.sampling_distribution(logits, temperature, top_k, top_p)


# Jitted once per static setting (eager dispatch compiles op by op, slower on 2 cores).
_select = jax.jit(select.select, static_argnames=("temperature", "top_k", "top_p"))
_candidates = jax.jit(select.candidates, static_argnames=("temperature", "top_k", "top_p"))


def _draw(logits: np.ndarray, n: int, seed: int, **kw) -> tuple[np.ndarray, np.ndarray]:
    """n draws from the same logits row, one independent key per draw (vmapped)."""
    keys = jax.random.split(jax.random.key(seed), n)
    batch = jnp.broadcast_to(jnp.asarray(logits), (n, V))
    tokens, logprobs = _select(batch, keys, **kw)
    return np.asarray(tokens), np.asarray(logprobs)


def _pooled(counts: np.ndarray, probs: np.ndarray, allowed: np.ndarray):
    """(observed frequency, probability) per bin: frequent allowed tokens alone, the rare
    allowed ones pooled."""
    big = allowed & (probs * DRAWS >= MIN_EXPECTED)
    rare = allowed & ~big
    freq = np.append(counts[big], counts[rare].sum()) / DRAWS
    return freq, np.append(probs[big], probs[rare].sum()), np.append(np.flatnonzero(big), -1)


@pytest.mark.parametrize("case", list(CASES))
def test_select_stays_in_allowed_set_and_matches_distribution(case):
    """Guards the top-k / top-p / temperature composition: every one of 20k draws lies in
    the independently computed allowed set, each token's frequency is within 5 binomial
    std of its renormalised probability, and the logprob returned is the *untempered*
    log-softmax of the chosen token."""
    kw = CASES[case]
    logits = _logits()
    ref = reference(logits, **kw)
    tokens, logprobs = _draw(logits, DRAWS, seed=1, **kw)
    allowed = ref > 0
    outside = tokens[~allowed[tokens]]
    assert outside.size == 0, f"{case}: picked disallowed tokens {np.unique(outside)}"
    freq, prob, names = _pooled(np.bincount(tokens, minlength=V), ref, allowed)
    std = np.sqrt(prob * (1 - prob) / DRAWS)
    dev = np.abs(freq - prob)
    w = int(np.argmax(dev / np.maximum(std, 1e-12)))
    assert np.all(dev <= SIGMAS * std), (
        f"{case}: bin {names[w]} (-1: pooled rare tokens) freq {freq[w]:.4f} vs "
        f"p {prob[w]:.4f}, tolerance {SIGMAS * std[w]:.4f}"
    )
    z = logits.astype(np.float64)
    log_softmax = z - z.max() - np.log(np.exp(z - z.max()).sum())
    np.testing.assert_allclose(logprobs, log_softmax[tokens], atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", list(SET_CASES))
def test_candidates_are_exactly_the_allowed_set(case):
    """`candidates` (the pre-sampling filter) keeps exactly the reference's allowed set, with
    tempered logits, most likely first (no statistics needed: a set equality)."""
    kw = SET_CASES[case]
    logits = _logits(seed=2)
    ref = reference(logits, **kw)
    values, ids = _candidates(jnp.asarray(logits)[None], **kw)
    values, ids = np.asarray(values[0]), np.asarray(ids[0])
    kept = ids[np.isfinite(values)]
    assert set(kept.tolist()) == set(np.flatnonzero(ref).tolist())
    np.testing.assert_allclose(
        values[np.isfinite(values)], logits[kept] / kw["temperature"], rtol=1e-6
    )
    assert np.all(np.diff(values[np.isfinite(values)]) <= 0)


def test_greedy_is_argmax_with_untempered_logprob():
    """temperature=0 picks the argmax of every row (keys ignored) and returns its
    log-softmax; rows of a batch are independent."""
    rows = np.stack([_logits(s) for s in range(6)])
    keys = jax.random.split(jax.random.key(0), len(rows))
    tokens, logprobs = _select(jnp.asarray(rows), keys, temperature=0.0, top_k=20, top_p=0.8)
    np.testing.assert_array_equal(np.asarray(tokens), rows.argmax(-1))
    z = rows.astype(np.float64)
    ls = z - z.max(-1, keepdims=True)
    ls -= np.log(np.exp(ls).sum(-1, keepdims=True))
    np.testing.assert_allclose(np.asarray(logprobs), ls[np.arange(6), rows.argmax(-1)], atol=1e-5)


def test_row_draw_depends_only_on_its_key():
    """A row's sampled token depends on its own key and logits, not on its batch-mates or
    its position in the batch (what makes samples independent of slot assignment)."""
    rows = np.stack([_logits(s) for s in range(64)])
    keys = jax.random.split(jax.random.key(3), 64)
    kw = CASES["qwen_T0.7_k20_p0.8"]
    full = np.asarray(_select(jnp.asarray(rows), keys, **kw)[0])
    perm = np.random.RandomState(0).permutation(64)
    shuffled = np.asarray(_select(jnp.asarray(rows[perm]), keys[perm], **kw)[0])
    np.testing.assert_array_equal(shuffled, full[perm])
    assert len(set(full.tolist())) > 8  # genuinely random draws, not a constant


def test_first_argmax_is_numpys_argmax_including_ties():
    """The two-reduction argmax picks the first of tied maxima (numpy's rule, which greedy
    parity with transformers relies on), on random rows, rows of ties and -inf entries."""
    rng = np.random.RandomState(0)
    logits = rng.randn(6, 97).astype(np.float32)
    logits[1, [3, 50, 96]] = 9.0  # a three-way tie
    logits[2] = 1.5  # all tied
    logits[3, :40] = -np.inf
    logits[4, 96] = 7.0  # the last index
    got = np.asarray(jax.jit(select.first_argmax)(jnp.asarray(logits)))
    np.testing.assert_array_equal(got, np.argmax(logits, axis=-1))
    assert got[1] == 3 and got[2] == 0 and got[4] == 96


@pytest.mark.parametrize("V,k", [(4096, 20), (5003, 20), (151_936, 20), (1000, 1), (640, 50)])
@pytest.mark.parametrize("values", ["normal", "ties", "masked"])
def test_blocked_top_k_is_lax_top_k_exactly(V, k, values):
    """The two-stage top-k returns `jax.lax.top_k`'s values and ids exactly, ties (to the
    lower index) and -inf entries included; the ids are checked against a stable numpy sort."""
    rng = np.random.default_rng(V + k)
    if values == "normal":
        x = rng.normal(size=(3, V)).astype(np.float32)
    elif values == "ties":  # few distinct values: ties across and within blocks
        x = rng.integers(0, 4, size=(3, V)).astype(np.float32)
    else:  # most of the row masked, fewer finite entries than some blocks
        x = np.full((3, V), -np.inf, np.float32)
        live = rng.choice(V, size=(3, k + 2))
        np.put_along_axis(x, live, rng.normal(size=live.shape).astype(np.float32), axis=1)
    values_ref, ids_ref = jax.lax.top_k(jnp.asarray(x), k)
    got_values, got_ids = jax.jit(select.top_k_blocked, static_argnums=1)(jnp.asarray(x), k)
    np.testing.assert_array_equal(np.asarray(got_values), np.asarray(values_ref))
    np.testing.assert_array_equal(np.asarray(got_ids), np.asarray(ids_ref))
    stable = np.argsort(-x, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(np.asarray(got_ids), stable)
