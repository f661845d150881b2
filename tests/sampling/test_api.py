"""The text-level API (chat rendering, continuing a partial assistant turn) and input checks.

The rendered ids are held to the ChatML template written out by hand and tokenised one
character per id; the continuation is held to HF's greedy continuation of those ids.
"""

from __future__ import annotations

import pytest

from jaxint import sampling
from jaxint.sampling import api
from tests.sampling import conftest, helpers

# Partial assistant turns to continue (prompts stay under 48 tokens: the engine tests' cache).
# The first renders to 13 tokens (prompt bucket 16), the others to 20-48 (bucket 64), so one
# refill round prefills two buckets.
CONVERSATIONS = [
    [{"role": "assistant", "content": "ab"}],
    [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "Sure: 2+"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hel"},
    ],
    [{"role": "user", "content": "Count: 1 2 3"}, {"role": "assistant", "content": "4 5"}],
]


def _hand_ids(tok, text_parts: list[str]) -> list[int]:
    """Ids of ChatML text: the markers are single special tokens, every other character is
    its own id (the char tokenizer's definition)."""
    specials = {"<|im_start|>": 1, "<|im_end|>": 2}
    ids = []
    for part in text_parts:
        ids += [specials[part]] if part in specials else tok.convert_tokens_to_ids(list(part))
    return ids


def _template_parts(conv, *, partial: bool) -> list[str]:
    """The ChatML template, written out: closed turns, then the (partial) assistant turn."""
    closed = conv[:-1] if partial else conv
    parts = []
    for m in closed:
        parts += ["<|im_start|>", f"{m['role']}\n{m['content']}", "<|im_end|>", "\n"]
    parts += ["<|im_start|>", "assistant\n" + (conv[-1]["content"] if partial else "")]
    return parts


def test_render_chat_continuation_ends_inside_assistant_turn(char_tok):
    """`continue_final_message=True` renders the conversation up to the partial assistant
    text with no end-of-turn token after it; without it, a fresh assistant header follows
    the closed turns. Both equal the template text tokenised by hand."""
    for conv in CONVERSATIONS:
        ids = sampling.render_chat(char_tok, conv, continue_final_message=True)
        assert ids == _hand_ids(char_tok, _template_parts(conv, partial=True))
        assert char_tok.decode(ids).endswith("<|im_start|>assistant\n" + conv[-1]["content"])
        assert ids[-1] != char_tok.convert_tokens_to_ids("<|im_end|>")
        if len(conv) == 1:
            continue  # nothing before the assistant turn to render "fresh"
        fresh = sampling.render_chat(char_tok, conv[:-1], continue_final_message=False)
        assert fresh == _hand_ids(char_tok, _template_parts(conv[:-1], partial=False))
    assert api.end_of_turn_ids(char_tok) == list(conftest.CHAT_STOP_IDS)


def test_generate_chat_continues_partial_message(sharp_qwen3, qwen3_paths, char_tok):
    """`generate_chat(..., continue_final_message=True)` continues each partial assistant
    turn exactly as HF's greedy decoding of the rendered ids does, ending at the
    end-of-turn / EOS ids it adds to the stop set (here already part of it)."""
    prompts = [_hand_ids(char_tok, _template_parts(c, partial=True)) for c in CONVERSATIONS]
    assert len(prompts[0]) <= 16 < min(map(len, prompts[1:])) and max(map(len, prompts)) <= 48
    paths, margin = helpers.hf_greedy(sharp_qwen3.hf, prompts, conftest.ENGINE_NEW_TOKENS)
    assert margin > helpers.MIN_GREEDY_MARGIN, "reference has a near-tie"
    cfg = sampling.SamplingConfig(
        max_new_tokens=conftest.ENGINE_NEW_TOKENS,
        temperature=0.0,
        max_batch_slots=3,
        chunk_steps=4,
        stop_token_ids=qwen3_paths.stop_ids,
    )
    out = sampling.generate_chat(
        sharp_qwen3.model,
        char_tok,
        CONVERSATIONS,
        cfg,
        seed=0,
        continue_final_message=True,
        progress=False,
    )
    for row, path in zip(out, paths, strict=True):
        want = helpers.cut_at_stop_ids(path, qwen3_paths.stop_ids)
        assert row[0].tokens.tolist() == want
        assert row[0].text == char_tok.decode(want, skip_special_tokens=True)


@pytest.fixture(scope="module")
def greedy_cfg():
    return sampling.SamplingConfig(max_new_tokens=4, temperature=0.0)


@pytest.mark.parametrize(
    "prompts, message",
    [
        ([[5, 6], []], "prompt 1 is empty"),
        ([[5, conftest.VOCAB]], rf"prompt 0 has token ids outside \[0, {conftest.VOCAB}\)"),
        ([[-1, 5]], r"prompt 0 has token ids outside"),
    ],
)
def test_generate_rejects_bad_prompts(sharp_qwen3, greedy_cfg, prompts, message):
    """Empty prompts and ids outside the vocabulary fail before any device work, naming
    the prompt (an out-of-range id would otherwise be clamped silently by the gather)."""
    with pytest.raises(ValueError, match=message):
        sampling.generate(sharp_qwen3.model, prompts, greedy_cfg, seed=0, progress=False)


def test_stop_strings_need_a_tokenizer(sharp_qwen3):
    """Stop strings cannot be matched on ids alone: a clear error, not a silent no-op."""
    cfg = sampling.SamplingConfig(max_new_tokens=4, stop_strings=("\n\n",))
    with pytest.raises(ValueError, match="stop_strings needs a tokenizer"):
        sampling.generate(sharp_qwen3.model, [[5, 6]], cfg, seed=0, progress=False)


def test_prompt_longer_than_max_prompt_tokens_rejected(sharp_qwen3):
    """`max_prompt_tokens` is enforced per prompt, naming the prompt and both lengths."""
    cfg = sampling.SamplingConfig(max_new_tokens=4, max_prompt_tokens=3)
    with pytest.raises(ValueError, match="prompt 1 has 4 tokens > max_prompt_tokens=3"):
        sampling.generate(sharp_qwen3.model, [[5], [5, 6, 7, 8]], cfg, seed=0, progress=False)


def test_prompt_whose_cache_would_not_fit_is_refused_by_name(sharp_qwen3):
    """A prompt whose KV cache (prompt + its budget, bucketed) exceeds the configured cache
    length is refused before anything is allocated (it used to size every slot's cache)."""
    cfg = sampling.SamplingConfig(max_new_tokens=30, max_cache_tokens=64)
    with pytest.raises(ValueError, match=r"prompt 1 has 40 tokens: with 30 new tokens its KV "
                                         r"cache needs 128 positions > the configured cache "
                                         r"length 64"):
        sampling.generate(sharp_qwen3.model, [[5], [5] * 40], cfg, seed=0, progress=False)


def test_cache_length_from_max_prompt_tokens_bounds_per_prompt_budgets(sharp_qwen3):
    """Without `max_cache_tokens` the configured cache is max_prompt_tokens + max_new_tokens:
    a per-prompt budget past it is refused, naming the prompt and the limit."""
    cfg = sampling.SamplingConfig(max_new_tokens=4, max_prompt_tokens=16)
    with pytest.raises(ValueError, match=r"prompt 1 has 2 tokens: with 100 new tokens .* "
                                         r"needs 128 positions > the configured cache length 64"):
        sampling.generate(sharp_qwen3.model, [[5], [5, 6]], cfg, seed=0, progress=False,
                          max_new_tokens=[4, 100])


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_new_tokens", 0),
        ("temperature", -0.1),
        ("top_k", -1),
        ("top_p", 0.0),
        ("top_p", 1.5),
        ("n", 0),
        ("max_batch_slots", 0),
        ("chunk_steps", 0),
        ("max_prompt_tokens", 0),
        ("max_cache_tokens", 0),
        ("temperature", float("nan")),
        ("cache_dtype", "int8"),
    ],
)
def test_config_errors_name_the_field(field, value):
    """Invalid settings fail at construction with the field name, the rule and the value
    received."""
    with pytest.raises(ValueError, match=rf"sampling\.{field} must be .*, got {value!r}"):
        sampling.SamplingConfig(**{field: value})


def test_no_prompts_no_work(sharp_qwen3, greedy_cfg):
    """An empty request list returns an empty result list (nothing allocated)."""
    assert sampling.generate(sharp_qwen3.model, [], greedy_cfg, seed=0, progress=False) == []
