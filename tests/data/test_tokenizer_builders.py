"""The offline character-level and byte-level BPE tokenizers for tiny models."""

import pathlib

import transformers

from jaxint.data import tokenizers


def test_char_tokenizer_ids_and_specials(char_tokenizer):
    # Ids by construction: 4 specials, then "\n", "\t", then printable ASCII from " " (32).
    assert char_tokenizer.convert_tokens_to_ids(
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|unk|>", "\n", "\t", " ", "0", "a"]
    ) == [0, 1, 2, 3, 4, 5, 6, 6 + 16, 6 + 65]
    assert (char_tokenizer.eos_token, char_tokenizer.eos_token_id) == ("<|im_end|>", 2)
    assert (char_tokenizer.pad_token, char_tokenizer.pad_token_id) == ("<|endoftext|>", 0)


def test_char_tokenizer_one_token_per_character(char_tokenizer):
    text = "17 + 25 = 42\n\n\\boxed{42}"
    ids = char_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids == [6 + ord(c) - 32 if c != "\n" else 4 for c in text]
    assert char_tokenizer.decode(ids) == text
    # Specials stay whole; characters outside the alphabet become <|unk|>, one each.
    ids = char_tokenizer("<|im_start|>a€é", add_special_tokens=False)["input_ids"]
    assert ids == [1, 6 + ord("a") - 32, 3, 3]


def test_char_tokenizer_reloads_and_is_deterministic(tmp_path):
    built = tokenizers.build_char_tokenizer(tmp_path / "a", "0123456789+-= \n")
    tokenizers.build_char_tokenizer(tmp_path / "b", "0123456789+-= \n")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # The path a real model directory takes (this imports torch when it is installed: slow).
    loaded = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "a"))
    assert type(loaded) is type(built)
    # "0123456789+-= \n" after the 4 specials: "1" is 5, "2" is 6, "+" is 14, "3" is 7.
    for tok in (loaded, built):
        assert tok("12+3", add_special_tokens=False)["input_ids"] == [5, 6, 14, 7]
        assert len(tok) == 4 + 15
    assert loaded.chat_template == tokenizers.CHATML


def test_chatml_template(char_tokenizer):
    messages = [{"role": "user", "content": "hi"}]
    text = char_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_bpe_tokenizer_merges_and_round_trips(bpe_tokenizer, bpe_corpus, tmp_path):
    text = "The answer is 42.\n\nSo"
    ids = bpe_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) < len(text)  # frequent words became single tokens
    assert "Ġanswer" in bpe_tokenizer.convert_ids_to_tokens(ids)
    assert bpe_tokenizer.decode(ids) == text
    tokenizers.build_bpe_tokenizer(tmp_path / "a", bpe_corpus, 320)
    tokenizers.build_bpe_tokenizer(tmp_path / "b", bpe_corpus, 320)
    same = [(tmp_path / d / "tokenizer.json").read_bytes() for d in "ab"]
    assert same[0] == same[1]
    assert pathlib.Path(tmp_path / "a" / "tokenizer_config.json").exists()
