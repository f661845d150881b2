"""Tokenizers shared by the data tests, built offline once per session."""

import pytest

from jaxint.data import tokenizers

BPE_CORPUS = [
    "Let x be the answer. Then the answer is 7, so the answer is \\boxed{7}.\n\n",
    "The sum of 12 and 30 is 42. The answer is 42.\n\n",
    "We compute the answer step by step; the answer follows.\n\n",
] * 20


@pytest.fixture(scope="session")
def bpe_corpus():
    return list(BPE_CORPUS)


@pytest.fixture(scope="session")
def char_tokenizer(tmp_path_factory):
    return tokenizers.build_char_tokenizer(tmp_path_factory.mktemp("char_tok"))


@pytest.fixture(scope="session")
def bpe_tokenizer(tmp_path_factory):
    return tokenizers.build_bpe_tokenizer(tmp_path_factory.mktemp("bpe_tok"), BPE_CORPUS, 320)
