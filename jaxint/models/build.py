"""Constructing decoders: random init (optionally straight onto a mesh) and abstract shapes."""

from __future__ import annotations

import jax
from flax import nnx
from jax.sharding import Mesh

from jaxint.models import config as model_config
from jaxint.models import decoder
from jaxint.parallel import sharding


def abstract(cfg: model_config.ModelConfig) -> decoder.Decoder:
    """A decoder whose parameters are `jax.ShapeDtypeStruct`s: no memory allocated."""
    return nnx.eval_shape(lambda: decoder.Decoder(cfg, rngs=nnx.Rngs(0)))


def random_init(
    cfg: model_config.ModelConfig, *, seed: int = 0, mesh: Mesh | None = None
) -> decoder.Decoder:
    """A randomly initialised decoder; with a mesh, each parameter is created in place,
    already sharded (the full model never exists on one device)."""
    if mesh is None:
        return decoder.Decoder(cfg, rngs=nnx.Rngs(seed))
    graphdef, abstract_state = nnx.split(abstract(cfg))
    out_shardings = sharding.state_shardings(abstract_state, mesh)

    @jax.jit
    def init() -> nnx.State:
        return nnx.state(decoder.Decoder(cfg, rngs=nnx.Rngs(seed)))

    state = jax.jit(init, out_shardings=out_shardings)()
    return nnx.merge(graphdef, state)
