"""Chat rendering and loss masks, checked token by token on the character-level ChatML tokenizer.

With one token per character, the expected ids are written out by hand from the template text:
each special token is one id, every other character is one id.
"""

import numpy as np
import pytest

from jaxint.data import chat, tokenizers

USER = [{"role": "user", "content": "2+3?"}]
TRIMMING_TEMPLATE = (  # like Llama 3's: message content is trimmed
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def ids(tokenizer, *pieces):
    """Hand expectation: special tokens are one id each; any other string is one id per char."""
    vocab = tokenizer.get_vocab()
    out = []
    for piece in pieces:
        out.extend([vocab[piece]] if piece.startswith("<|") else [vocab[c] for c in piece])
    return out


def prompt_ids(tok):
    return ids(tok, "<|im_start|>", "user\n2+3?", "<|im_end|>", "\n", "<|im_start|>", "assistant\n")


def test_prompt_only(char_tokenizer):
    tok = char_tokenizer
    assert chat.render_prompt(tok, USER) == prompt_ids(tok)
    assert chat.render_prompt(tok, USER, add_generation_prompt=False) == ids(
        tok, "<|im_start|>", "user\n2+3?", "<|im_end|>", "\n"
    )


def test_continuation_has_no_end_of_turn(char_tokenizer):
    tok = char_tokenizer
    got = chat.render_continuation(tok, USER, "2 + 3 = 5\n\n")
    assert got == prompt_ids(tok) + ids(tok, "2 + 3 = 5\n\n")
    assert tok.convert_tokens_to_ids("<|im_end|>") not in got[len(prompt_ids(tok)) :]


def test_continuation_keeps_whitespace_with_a_trimming_template(tmp_path):
    tok = tokenizers.build_char_tokenizer(tmp_path, chat_template=TRIMMING_TEMPLATE)
    got = chat.render_continuation(tok, USER, "  5\n\n")
    assert got == prompt_ids(tok) + ids(tok, "  5\n\n")


def test_sft_example_with_eos(char_tokenizer):
    tok = char_tokenizer
    ex = chat.render_example(tok, USER, [("response", "5", True)], add_eos=True)
    n = len(prompt_ids(tok))
    # The end-of-turn is "<|im_end|>" alone: the template's trailing newline is not trained.
    assert ex.tokens.tolist() == prompt_ids(tok) + ids(tok, "5", "<|im_end|>")
    assert ex.tokens.dtype == np.int32 and ex.loss_mask.dtype == np.float32
    assert ex.loss_mask.tolist() == [0.0] * n + [1.0, 1.0]
    assert ex.segment_names == ("prompt", "response", "end_of_turn")
    assert ex.segment_index.tolist() == [0] * n + [1, 2]
    assert ex.num_prompt_tokens == n


def test_prefix_plus_intervention_without_eos(char_tokenizer):
    tok = char_tokenizer
    segments = [("prefix", "2+3=6\n\n", True), ("intervention", "Wait: 2+3=5.", True)]
    ex = chat.render_example(tok, USER, segments, add_eos=False)
    n = len(prompt_ids(tok))
    assert ex.tokens.tolist() == prompt_ids(tok) + ids(tok, "2+3=6\n\n", "Wait: 2+3=5.")
    assert ex.loss_mask.tolist() == [0.0] * n + [1.0] * (7 + 12)
    assert ex.segment_tokens("intervention").tolist() == ids(tok, "Wait: 2+3=5.")
    assert ex.segment_tokens("prefix").tolist() == ids(tok, "2+3=6\n\n")
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end not in ex.tokens[n:].tolist() and tok.eos_token_id not in ex.tokens[n:].tolist()
    # The filter stage continues exactly this text: same ids.
    assert chat.render_continuation(tok, USER, "2+3=6\n\nWait: 2+3=5.") == ex.tokens.tolist()


def test_segment_without_loss(char_tokenizer):
    tok = char_tokenizer
    segments = [("prefix", "ab\n\n", False), ("intervention", "cd", True)]
    ex = chat.render_example(tok, USER, segments, add_eos=False)
    n = len(prompt_ids(tok))
    assert ex.loss_mask.tolist() == [0.0] * (n + 4) + [1.0, 1.0]


def test_bpe_tokens_equal_full_string_and_boundary_token_goes_to_earlier_segment(bpe_tokenizer):
    tok = bpe_tokenizer
    # "the ans" + "wer is 7": the token " answer" straddles the boundary.
    segments = [("prefix", "So the ans", False), ("intervention", "wer is 7.", True)]
    ex = chat.render_example(tok, USER, segments, add_eos=True)
    full = ex.text
    assert full.endswith("So the answer is 7.<|im_end|>")
    assert ex.tokens.tolist() == tok(full, add_special_tokens=False)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ex.tokens.tolist())
    straddler = pieces.index("Ġanswer")
    names = [ex.segment_names[i] for i in ex.segment_index]
    assert names[straddler] == "prefix" and ex.loss_mask[straddler] == 0.0
    assert names[straddler + 1 :] == ["intervention"] * (len(pieces) - straddler - 2) + [
        "end_of_turn"
    ]
    assert pieces[-1] == "<|im_end|>" and ex.loss_mask[-1] == 1.0


def test_template_inconsistent_with_generation_prompt_is_an_error(tmp_path):
    template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' %}<|im_start|>bot\n"
        "{% else %}<|im_start|>{{ m['role'] }}\n{% endif %}{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok = tokenizers.build_char_tokenizer(tmp_path, chat_template=template)
    with pytest.raises(chat.ChatTemplateError, match="generation"):
        chat.render_continuation(tok, USER, "x")


def test_segment_names_are_checked(char_tokenizer):
    with pytest.raises(ValueError, match="unique"):
        chat.render_example(
            char_tokenizer, USER, [("a", "x", True), ("a", "y", True)], add_eos=False
        )
    with pytest.raises(ValueError, match="prompt"):
        chat.render_example(char_tokenizer, USER, [("prompt", "x", True)], add_eos=False)


def test_render_conversation_is_the_prompt_or_the_continuation(bpe_tokenizer):
    """The samplers' chat entry point renders exactly what the stages count and train on."""
    tok = bpe_tokenizer
    assert chat.render_conversation(tok, USER) == chat.render_prompt(tok, USER)
    for partial in ("Step 1: 2", "Step 1: 2 ", "Step 1:\n\n"):
        conv = [*USER, {"role": "assistant", "content": partial}]
        assert chat.render_conversation(tok, conv, continue_final_message=True) == (
            chat.render_continuation(tok, USER, partial))
    with pytest.raises(ValueError, match="final assistant message"):
        chat.render_conversation(tok, USER, continue_final_message=True)
