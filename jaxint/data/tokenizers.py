"""Offline tokenizers for tiny test models and the CPU demo.

Both builders write a Hugging Face tokenizer directory (``tokenizer.json``,
``tokenizer_config.json``, chat template) that ``transformers.AutoTokenizer.from_pretrained``
loads like a real model's, so the code under test takes the same path as with Qwen or Llama.
They need no network and give the same files for the same inputs.

- :func:`build_char_tokenizer`: one token per character. A tiny model can then learn digit
  arithmetic, which a BPE that merges digits into arbitrary chunks makes much harder.
- :func:`build_bpe_tokenizer`: a small byte-level BPE trained on a given corpus, for tests that
  need realistic multi-character tokens (segment boundaries, offsets).
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable

import tokenizers
import transformers
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
UNK = "<|unk|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END, UNK)  # ids 0..3 in both builders

# Qwen-style ChatML without Qwen2.5's default system prompt (the paper uses none).
CHATML = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Printable ASCII plus newline and tab: enough for the synthetic task and most math text.
ASCII_ALPHABET = "\n\t" + "".join(chr(c) for c in range(32, 127))


def build_char_tokenizer(
    out_dir: str | pathlib.Path,
    alphabet: str = ASCII_ALPHABET,
    *,
    chat_template: str = CHATML,
) -> transformers.PreTrainedTokenizerFast:
    """Builds and saves a character-level tokenizer.

    Ids: 0 ``<|endoftext|>`` (pad), 1 ``<|im_start|>``, 2 ``<|im_end|>`` (eos), 3 ``<|unk|>``
    (any character outside the alphabet), then the alphabet's distinct characters in order.

    Args:
        out_dir: Directory to write (created if needed).
        alphabet: The characters that get their own token; duplicates are ignored.
        chat_template: Jinja chat template stored with the tokenizer.

    Returns:
        The tokenizer reloaded from ``out_dir`` (``AutoTokenizer.from_pretrained(out_dir)``
        gives the same).
    """
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for char in alphabet:
        vocab.setdefault(char, len(vocab))
    # A BPE model with no merges and no pre-tokenizer maps each character to its own id.
    tok = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    tok.decoder = decoders.Fuse()
    return _save(tok, out_dir, chat_template)


def build_bpe_tokenizer(
    out_dir: str | pathlib.Path,
    corpus: Iterable[str],
    vocab_size: int,
    *,
    chat_template: str = CHATML,
) -> transformers.PreTrainedTokenizerFast:
    """Trains and saves a small byte-level BPE (GPT-2 style, no prefix space).

    Args:
        out_dir: Directory to write (created if needed).
        corpus: Training texts; a few KB is enough for tests.
        vocab_size: Target vocabulary size including the 256 byte tokens and 4 specials.
        chat_template: Jinja chat template stored with the tokenizer.

    Returns:
        The tokenizer reloaded from ``out_dir`` (``AutoTokenizer.from_pretrained(out_dir)``
        gives the same).
    """
    tok = tokenizers.Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # trim_offsets=False: offsets cover every character, which segment assignment relies on.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    return _save(tok, out_dir, chat_template)


def _save(
    tok: tokenizers.Tokenizer, out_dir: str | pathlib.Path, chat_template: str
) -> transformers.PreTrainedTokenizerFast:
    # Added as special tokens so the text "<|im_end|>" is always one token, never split.
    tok.add_special_tokens(
        [tokenizers.AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]
    )
    wrapped = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=UNK,
        chat_template=chat_template,
    )
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(out))
    # The class AutoTokenizer picks for this directory; AutoTokenizer itself imports torch
    # (about 7 s here) when torch is installed, which the demo and tests need not pay.
    return transformers.PreTrainedTokenizerFast.from_pretrained(str(out))
