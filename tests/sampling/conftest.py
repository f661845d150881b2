"""Fixtures of the sampler tests: sharpened tiny HF models (one per family, built once per
session) loaded into jaxint, and a character tokenizer whose vocabulary matches them.

Why sharpened: the tiny random fixtures of `tests/fixtures/tiny_hf.py` have near-uniform
next-token distributions (top-2 logit gaps down to ~5e-4 over 32 greedy steps), so a greedy
comparison could hinge on float rounding. Every non-norm weight is multiplied by
`SHARPEN` = 3 (attention, MLP, embeddings, head), which makes logits ~3-9x larger and the
paths diverse (no single repeated token). The HF parity tests still assert the resulting
top-2 margin along every reference path (`helpers.MIN_GREEDY_MARGIN`) rather than trust it.
"""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

SHARPEN = 3.0
VOCAB = 131  # tiny_hf's vocabulary (qwen3 and llama families)
# The char tokenizer has 4 specials + 97 ASCII characters; 30 Greek letters fill it to 131 so
# every id a tiny model can emit decodes to exactly one character.
EXTRA_CHARS = "".join(chr(0x3B1 + i) for i in range(30))


@dataclasses.dataclass
class Sharp:
    """A sharpened tiny model: the HF reference and the same weights in jaxint."""

    family: str
    path: pathlib.Path
    hf: object  # transformers.PreTrainedModel
    model: object  # jaxint.models.Decoder


def _build(family: str, root: pathlib.Path) -> Sharp:
    import torch

    from jaxint import models
    from tests.fixtures import tiny_hf as tiny_hf_lib

    hf = tiny_hf_lib.build(family)
    with torch.no_grad():
        for name, param in hf.named_parameters():
            if "norm" not in name:
                param.mul_(SHARPEN)
    hf.save_pretrained(root)
    return Sharp(family, root, hf, models.load_hf(root, dtype="float32"))


@pytest.fixture(scope="session")
def sharp_qwen3(tmp_path_factory) -> Sharp:
    """Tiny Qwen3 (q/k norm, untied head, GQA), sharpened."""
    return _build("qwen3", tmp_path_factory.mktemp("sharp_qwen3"))


@pytest.fixture(scope="session")
def sharp_llama(tmp_path_factory) -> Sharp:
    """Tiny Llama (llama3 rope scaling, tied embeddings), sharpened."""
    return _build("llama", tmp_path_factory.mktemp("sharp_llama"))


@pytest.fixture(scope="session")
def char_tok(tmp_path_factory):
    """A ChatML character tokenizer with exactly `VOCAB` ids (0 pad, 1 <|im_start|>,
    2 <|im_end|> = eos, 3 unk, then one id per character)."""
    from jaxint.data import tokenizers

    tok = tokenizers.build_char_tokenizer(
        tmp_path_factory.mktemp("char_tok"), tokenizers.ASCII_ALPHABET + EXTRA_CHARS
    )
    assert len(tok) == VOCAB
    return tok


# Eleven requests of mixed prompt lengths (one prompt bucket) for the engine and stop tests.
ENGINE_LENGTHS = (7, 1, 12, 4, 15, 9, 2, 13, 5, 10, 3)
ENGINE_NEW_TOKENS = 16
CHAT_STOP_IDS = (0, 2)  # `end_of_turn_ids(char_tok)`: <|endoftext|>, <|im_end|>


@dataclasses.dataclass
class Paths:
    """HF greedy paths of the engine prompts on the sharpened Qwen3, without early stop."""

    prompts: list[list[int]]
    tokens: list[list[int]]
    stop_ids: tuple[int, ...]  # chosen so the outputs end at many different lengths
    # Compiles are the suite's cost: the engine, stop and chat tests all use this greedy
    # selection (these stop ids), 3 slots, 4-step chunks and a 64-token cache.


@pytest.fixture(scope="session")
def qwen3_paths(sharp_qwen3) -> Paths:
    from tests.sampling import helpers

    prompts = helpers.random_prompts(ENGINE_LENGTHS, VOCAB, seed=5)
    tokens, margin = helpers.hf_greedy(sharp_qwen3.hf, prompts, ENGINE_NEW_TOKENS)
    assert margin > helpers.MIN_GREEDY_MARGIN, "reference has a near-tie"
    # The char tokenizer's pad (0) and <|im_end|> (2) are always stop ids, so that
    # `generate_chat` (which adds them) compiles the same selection as the engine tests.
    return Paths(prompts, tokens, helpers.pick_stop_ids(tokens, always=CHAT_STOP_IDS))
