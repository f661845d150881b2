"""`generate`: the sampler's public entry point, on token ids or on chat messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from flax import nnx
from jax.sharding import Mesh

from jaxint.data import chat
from jaxint.models import decoder
from jaxint.sampling import config as sampling_config
from jaxint.sampling import engine as engine_lib
from jaxint.sampling import results


def cast_params(params: nnx.State, model_config) -> nnx.State:
    """The parameters in the compute dtype: the same arrays when the dtypes agree, else one
    cast copy (e.g. float32 training weights sampled in bfloat16), the only copy of the
    weights the sampler ever makes."""
    dtype = jax.numpy.dtype(model_config.dtype)
    if jax.numpy.dtype(model_config.param_dtype) == dtype:
        return params
    return jax.tree.map(lambda x: x.astype(dtype), params)


def sampling_params(model: decoder.Decoder) -> tuple[nnx.GraphDef, nnx.State]:
    """Splits a model for the sampler (see `cast_params`)."""
    graphdef, params = nnx.split(model)
    return graphdef, cast_params(params, model.config)


def generate(
    model: decoder.Decoder, prompts: Sequence[Sequence[int]],
    config: sampling_config.SamplingConfig, *, seed: int, tokenizer: Any = None,
    mesh: Mesh | None = None, progress: bool = True, desc: str = "sampling",
    max_new_tokens: Sequence[int] | None = None,
) -> list[list[results.Sample]]:
    """Samples `config.n` continuations of each prompt.

    Args:
        model: a jaxint decoder (its parameters may be sharded on `mesh`).
        prompts: token-id lists; a prompt may end inside an assistant turn (continuation).
        config: sampling settings.
        seed: samples depend only on (seed, prompt index, sample index).
        tokenizer: needed for stop strings and `Sample.text`.
        mesh: the mesh the parameters live on; slots are split over data/fsdp.
        max_new_tokens: optional per-prompt budgets (default `config.max_new_tokens`).

    Returns:
        results[i][j]: prompt i's sample j (`.tokens`, `.logprobs`, `.finish_reason`, ...).
    """
    graphdef, params = sampling_params(model)
    engine = engine_lib.Engine(graphdef, model.config, config, mesh=mesh, tokenizer=tokenizer)
    return engine.run(params, prompts, seed=seed, progress=progress, desc=desc,
                      max_new_tokens=max_new_tokens)


def generate_chat(
    model: decoder.Decoder, tokenizer: Any, conversations: Sequence[Sequence[dict[str, str]]],
    config: sampling_config.SamplingConfig, *, seed: int, continue_final_message: bool = False,
    mesh: Mesh | None = None, progress: bool = True,
) -> list[list[results.Sample]]:
    """`generate` on chat conversations rendered with the tokenizer's chat template.

    With `continue_final_message`, the last message must be a partial assistant turn and
    generation continues it (no end-of-turn token is inserted). The tokenizer's EOS / end of
    turn tokens are added to the stop tokens.
    """
    prompts = [
        render_chat(tokenizer, conv, continue_final_message=continue_final_message)
        for conv in conversations
    ]
    stop_ids = set(config.stop_token_ids) | set(end_of_turn_ids(tokenizer))
    config = _with_stops(config, tuple(sorted(stop_ids)))
    return generate(model, prompts, config, seed=seed, tokenizer=tokenizer, mesh=mesh,
                    progress=progress)


def render_chat(
    tokenizer: Any, conversation: Sequence[dict[str, str]], *, continue_final_message: bool
) -> list[int]:
    """Token ids of a conversation, ready for the assistant to (continue to) speak: the one
    chat renderer, `jaxint.data.chat.render_conversation`."""
    return chat.render_conversation(tokenizer, conversation,
                                    continue_final_message=continue_final_message)


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """EOS plus the chat end-of-turn token when the vocabulary has one."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for tok in ("<|im_end|>", "<|eot_id|>", "<|endoftext|>"):
        tid = tokenizer.convert_tokens_to_ids(tok)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid >= 0:
            ids.append(tid)
    return sorted(set(ids))


def _with_stops(config: sampling_config.SamplingConfig, stop_ids: tuple[int, ...]):
    import dataclasses

    return dataclasses.replace(config, stop_token_ids=stop_ids)
