"""`data.chat_template_kwargs`: options reach every `apply_chat_template` call.

The tokenizer's template reads `enable_thinking` the way Qwen3's does: the generation prompt
gains an empty think block when it is false, and an assistant turn always carries one.
"""

from __future__ import annotations

import pytest

from jaxint import config as run_config
from jaxint import loop
from jaxint.data import chat, tokenizers
from jaxint.sampling import api as sampling_api

QWEN3_LIKE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' %}<think>\n\n</think>\n\n{% endif %}"
    "{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)
USER = [{"role": "user", "content": "2+3?"}]
NO_THINK = "<|im_start|>assistant\n<think>\n\n</think>\n\n"


@pytest.fixture
def tok(tmp_path):
    return tokenizers.build_char_tokenizer(tmp_path / "tok", chat_template=QWEN3_LIKE)


def _text(tokenizer, ids) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False)


def test_the_flag_reaches_every_rendering(tok):
    assert not _text(tok, chat.render_prompt(tok, USER)).endswith(NO_THINK)
    chat.with_template_kwargs(tok, {"enable_thinking": False})
    assert _text(tok, chat.render_prompt(tok, USER)).endswith(NO_THINK)
    # the samplers' own call (tokenize=True) sees it too
    ids = sampling_api.render_chat(tok, USER, continue_final_message=False)
    assert _text(tok, ids).endswith(NO_THINK)
    # the training example's prompt is the same prompt the sampler saw
    ex = chat.render_example(tok, USER, [("response", "5", True)], add_eos=True)
    assert ex.tokens[: ex.num_prompt_tokens].tolist() == chat.render_prompt(tok, USER)
    # an explicit keyword at a call site still wins; rebinding replaces the options
    text = tok.apply_chat_template(USER, tokenize=False, add_generation_prompt=True,
                                   enable_thinking=True)
    assert not text.endswith(NO_THINK)
    chat.with_template_kwargs(tok, {})
    assert not _text(tok, chat.render_prompt(tok, USER)).endswith(NO_THINK)
    assert tok.jaxint_chat_template_kwargs == {}


@pytest.mark.parametrize("name, expected", [
    ("Qwen3-4B", {"enable_thinking": False}),
    ("/ckpt/Qwen/Qwen3-0.6B/", {"enable_thinking": False}),
    ("qwen3-1.7b-base", {"enable_thinking": False}),
    ("Qwen3-4B-Instruct-2507", {}),  # the paper's model: its own template, unaffected
    ("Qwen3-4B-Thinking-2507", {}),
    ("SmolLM2-135M-Instruct", {}),
    (None, {}),
])
def test_defaults_by_model_name(name, expected):
    assert chat.default_template_kwargs(name) == expected


def test_config_value_overrides_the_default():
    assert chat.resolve_template_kwargs(None, "Qwen3-4B") == {"enable_thinking": False}
    assert chat.resolve_template_kwargs({}, "Qwen3-4B") == {}
    assert chat.resolve_template_kwargs({"enable_thinking": True}, "x") == {
        "enable_thinking": True}
    cfg = run_config.load(None, ["data.chat_template_kwargs={enable_thinking: false}"])
    assert cfg.data.chat_template_kwargs == {"enable_thinking": False}
    with pytest.raises(ValueError, match="chat_template_kwargs"):
        run_config.load(None, ["data.chat_template_kwargs=[1,2]"])


def test_pipeline_tokenizer_of_a_base_qwen3_has_thinking_off(tmp_path):
    model_dir = tmp_path / "Qwen3-4B"
    tokenizers.build_char_tokenizer(model_dir, chat_template=QWEN3_LIKE)
    cfg = run_config.load(None, [f"out_dir={tmp_path / 'runs'}", f"model.path={model_dir}",
                                 "model.preset=null", "mesh.fsdp=1", "mesh.data=-1"])
    tok = loop.Pipeline(cfg, progress=False).tokenizer()
    assert tok.jaxint_chat_template_kwargs == {"enable_thinking": False}
    assert _text(tok, chat.render_prompt(tok, USER)).endswith(NO_THINK)
