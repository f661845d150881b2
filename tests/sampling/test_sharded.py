"""Sharded generation on the 8 fake CPU devices (tests/conftest.py) equals unsharded.

The parameters are created in place on each mesh with `random_init(cfg, mesh=mesh)`; the
engine splits the slots over data/fsdp and the KV cache's heads over tensor. Meshes
(data, fsdp, tensor): 8x1x1 (pure data), 1x2x4 and 2x1x4 (tensor with fsdp / data).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxint import models, sampling
from jaxint.parallel import config as parallel_config
from jaxint.parallel import mesh as mesh_lib
from tests.sampling import helpers

# Every sharded dimension divisible by the mesh axes: heads 8 and kv heads 4 and MLP 96 by
# tensor=4, embed 64 by fsdp=2, vocab 128 by tensor=4.
CFG = models.ModelConfig(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=96,
    num_layers=2,
    num_heads=8,
    num_kv_heads=4,
    head_dim=8,
    qk_norm=True,
    tie_embeddings=False,
    rope_theta=10_000.0,
)
# random_init's 0.02 std gives near-uniform logits (top-2 gaps ~1e-3); x6 on every non-norm
# weight gives logit std ~1. The margin along the reference paths is asserted below.
SHARPEN = 6.0
MESHES = {"data8": (8, 1, 1), "fsdp2_tensor4": (1, 2, 4), "data2_tensor4": (2, 1, 4)}
PROMPT_LENGTHS = (6, 1, 11, 3, 14, 8)
GREEDY = sampling.SamplingConfig(
    max_new_tokens=8, temperature=0.0, max_batch_slots=8, chunk_steps=4
)


def _sharpen(state: nnx.State) -> nnx.State:
    """Non-norm weights x SHARPEN, computed on the host and put back with each parameter's
    own sharding (a transfer, not a compile per mesh)."""
    return jax.tree_util.tree_map_with_path(
        lambda path, x: (
            x
            if "norm" in jax.tree_util.keystr(path)
            else jax.device_put(np.asarray(x) * SHARPEN, x.sharding)
        ),
        state,
    )


@nnx.jit
def _logits(model, ids):
    return model(ids, jnp.ones_like(ids))


@pytest.fixture(scope="module")
def initialised():
    """mesh name -> (mesh, `random_init` state on it), built on first use. Compiling the
    sharded initialiser is the costliest step of this module (~6 s per mesh on 2 cores),
    so the unsharded reference reuses the data-parallel one instead of a fourth."""
    cache = {}

    def get(name: str):
        if name not in cache:
            data, fsdp, tensor = MESHES[name]
            mesh = mesh_lib.make_mesh(
                parallel_config.MeshConfig(data=data, fsdp=fsdp, tensor=tensor))
            cache[name] = (mesh, nnx.split(models.random_init(CFG, seed=0, mesh=mesh)))
        return cache[name]

    return get


@pytest.fixture(scope="module")
def unsharded(initialised):
    """(model, prompts, greedy results) on one device, with the paths' top-2 margin checked
    by a full forward pass. The weights are the data-parallel `random_init` gathered onto
    device 0 (the jitted initialiser's values do not depend on the mesh: checked per mesh
    below; eager init would round differently in the last bit)."""
    _, (graphdef, state) = initialised("data8")
    model = nnx.merge(graphdef, _sharpen(jax.device_put(state, jax.devices()[0])))
    assert len(model.lm_head[...].sharding.device_set) == 1
    prompts = helpers.random_prompts(PROMPT_LENGTHS, CFG.vocab_size, seed=3)
    out = sampling.generate(model, prompts, GREEDY, seed=0, progress=False)
    width = max(PROMPT_LENGTHS) + GREEDY.max_new_tokens
    margin = np.inf
    for p, row in zip(prompts, out, strict=True):
        full = np.zeros((1, width), np.int32)
        seq = p + row[0].tokens.tolist()
        full[0, : len(seq)] = seq
        logits = np.sort(np.asarray(_logits(model, jnp.asarray(full)))[0], axis=-1)
        gen = slice(len(p) - 1, len(seq) - 1)
        margin = min(margin, float((logits[gen, -1] - logits[gen, -2]).min()))
    assert margin > helpers.MIN_GREEDY_MARGIN, "reference has a near-tie"
    return model, prompts, out


@pytest.mark.parametrize("mesh_name", list(MESHES))
def test_sharded_greedy_equals_unsharded(initialised, unsharded, mesh_name):
    """Guards the sharded cache, slot split and sharded attention/MLP/logits: greedy tokens
    on the mesh equal the single-device ones (and logprobs agree to float rounding)."""
    assert jax.device_count() == 8, "tests/conftest.py should fake 8 CPU devices"
    tensor = MESHES[mesh_name][2]
    mesh, (graphdef, state) = initialised(mesh_name)
    model = nnx.merge(graphdef, _sharpen(state))
    ref_model, prompts, ref = unsharded
    head = model.lm_head[...]
    assert len(head.sharding.device_set) == 8
    if tensor > 1:  # the head is really split, not replicated
        assert head.addressable_shards[0].data.shape[1] == CFG.vocab_size // tensor
    np.testing.assert_array_equal(np.asarray(head), np.asarray(ref_model.lm_head[...]))
    out = sampling.generate(model, prompts, GREEDY, seed=0, mesh=mesh, progress=False)
    assert helpers.tokens_of(out) == helpers.tokens_of(ref)
    for a, b in zip(out, ref, strict=True):
        np.testing.assert_allclose(a[0].logprobs, b[0].logprobs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mesh_name", list(MESHES))
def test_sharded_paged_equals_unsharded(initialised, unsharded, mesh_name):
    """The paged cache on a mesh: pages split over data/fsdp with the slots (each shard's
    slots hold pages of their own block only) and combined kv heads over tensor; greedy
    tokens equal the single-device dense run's, every page is returned."""
    import dataclasses

    mesh, (graphdef, state) = initialised(mesh_name)
    model = nnx.merge(graphdef, _sharpen(state))
    _, prompts, ref = unsharded
    cfg = dataclasses.replace(GREEDY, kv_cache="paged", page_size=4)
    graphdef, params = sampling.sampling_params(model)
    engine = sampling.Engine(graphdef, model.config, cfg, mesh=mesh)
    out = engine.run(params, prompts, seed=0, progress=False)
    assert helpers.tokens_of(out) == helpers.tokens_of(ref)
    for a, b in zip(out, ref, strict=True):
        np.testing.assert_allclose(a[0].logprobs, b[0].logprobs, atol=1e-5, rtol=0)
    assert engine.page_pool.shards == MESHES[mesh_name][0] * MESHES[mesh_name][1]
    assert engine.page_pool.in_use() == 0


SAMPLED = sampling.SamplingConfig(max_new_tokens=8, temperature=0.8, top_k=40, n=3,
                                  max_batch_slots=8, chunk_steps=4)


@pytest.mark.parametrize("mesh_name", ["data2_tensor4", "fsdp2_tensor4"])
def test_sharded_paged_forked_and_preempted_equal_dense(initialised, unsharded, mesh_name):
    """Sampled, 3 forked samples per prompt, on a mesh with 2 slot shards of 4 slots (pages
    split with them, kv heads over tensor=4): paged == dense on the same mesh. The first
    prompt's 3 samples start in shard 0's slots 0-2 and share its one full 4-token page
    (4 references: the class's + 3). Then a pool of 7 pages per shard (the largest sample,
    14 + 8 tokens, needs 6) preempts and still changes nothing; every page comes back."""
    import dataclasses

    mesh, (graphdef, state) = initialised(mesh_name)
    model = nnx.merge(graphdef, _sharpen(state))
    _, prompts, _ = unsharded
    graphdef, params = sampling.sampling_params(model)

    def run(cfg):
        engine = sampling.Engine(graphdef, model.config, cfg, mesh=mesh)
        return engine.run(params, prompts, seed=5, progress=False), engine

    dense, _ = run(SAMPLED)
    for pool_tokens in (None, 2 * 7 * 4):
        cfg = dataclasses.replace(SAMPLED, kv_cache="paged", page_size=4,
                                  kv_pool_tokens=pool_tokens)
        out, engine = run(cfg)
        assert helpers.tokens_of(out) == helpers.tokens_of(dense)
        for ra, rb in zip(out, dense, strict=True):
            for a, b in zip(ra, rb, strict=True):
                np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5, rtol=0)
        assert engine.page_pool.shards == 2 and engine.page_pool.in_use() == 0
        assert engine.stats["forked"] > 0
        if pool_tokens is None:
            assert engine.stats["page_refs_max"] == 4 and engine.stats["preempted"] == 0
        else:
            assert engine.page_pool.per_shard == 7 and engine.stats["preempted"] > 0


def test_new_samples_go_to_the_shard_with_pages(initialised, unsharded, monkeypatch):
    """A tight pool split over 2 slot shards (48 tokens each; 24 prompts of 1-29 tokens, 2
    samples each, 16 new tokens): free slots are taken from the shard with the most free
    pages. Taken in slot order, the head of the queue waited for pages in the first free
    slot's shard while the other shard had a free slot and pages: 116 decode chunks and 108
    waits there against 66 and 61 (measured). Same tokens as dense either way."""
    import dataclasses

    from jaxint.sampling import engine as engine_lib

    mesh, (graphdef, state) = initialised("data2_tensor4")
    model = nnx.merge(graphdef, _sharpen(state))
    lengths = np.random.RandomState(0).randint(1, 30, size=24).tolist()
    prompts = helpers.random_prompts(lengths, CFG.vocab_size, seed=3)
    graphdef, params = sampling.sampling_params(model)
    cfg = dataclasses.replace(SAMPLED, n=2, max_new_tokens=16)

    def run(cfg):
        engine = sampling.Engine(graphdef, model.config, cfg, mesh=mesh)
        return engine.run(params, prompts, seed=5, progress=False), engine.stats

    dense, _ = run(cfg)
    paged = dataclasses.replace(cfg, kv_cache="paged", page_size=4, kv_pool_tokens=96)
    out, by_pages = run(paged)
    assert helpers.tokens_of(out) == helpers.tokens_of(dense)
    monkeypatch.setattr(engine_lib._Run, "_order_free", lambda self, free, cls: None)
    out, in_order = run(paged)
    assert helpers.tokens_of(out) == helpers.tokens_of(dense)
    assert by_pages["chunks"] < 0.7 * in_order["chunks"], (by_pages, in_order)
    assert by_pages["admission_waits"] < in_order["admission_waits"]
