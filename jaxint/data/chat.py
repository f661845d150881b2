"""Chat templating with the model's own tokenizer, and training examples with loss masks.

The chat template that ships with a model directory (``AutoTokenizer.from_pretrained(dir)``,
never ``trust_remote_code``) is the only source of truth for the prompt format, and this module
is its only renderer. Three renderings are needed by the pipeline:

- :func:`render_prompt`: the conversation plus the generation prompt, for sampling rollouts.
- :func:`render_continuation`: the conversation plus a *partial* assistant message that the
  model should continue (the InT filter stage): no end-of-turn token may follow it.
- :func:`render_conversation`: either of the two above for a whole conversation (the
  samplers' chat entry point, ``jaxint.sampling.generate_chat``).
- :func:`render_example`: an SFT example, token ids plus a loss mask over named pieces of the
  assistant response (e.g. ``prefix`` and ``intervention``), with or without end-of-turn;
  :func:`render_sft` renders a ``records.SFTExample`` with it.

How the assistant turn is framed is learnt from the template itself: the conversation is
rendered with a sentinel assistant message and cut at the sentinel. Text before it opens the
assistant turn; text after it closes the turn (the end-of-turn). This keeps a partial message
verbatim even with templates that trim message content, and works for ChatML, Llama 3 and
similar templates without special cases. The cut is checked against the template's own
generation prompt, which must be a prefix of the text before the sentinel.

Chat-template options (``data.chat_template_kwargs``, e.g. ``enable_thinking``) are bound into
the tokenizer once (:func:`with_template_kwargs`), so every ``apply_chat_template`` call, here
and in the samplers, renders the same prompt format; base Qwen3 checkpoints get
``enable_thinking=False`` by default (:func:`default_template_kwargs`).

Loss-mask convention (the trainer relies on it): ``loss_mask[t] = 1`` iff token ``t`` is a
response token whose prediction from tokens ``< t`` is trained; prompt tokens are 0.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxint.data import records

Messages = Sequence[Mapping[str, str]]
PROMPT = "prompt"
END_OF_TURN = "end_of_turn"
# Plain ASCII so no template escapes or trims it; improbable in real text.
_SENTINEL = "JAXINT_ASSISTANT_SENTINEL_5b0d3e"


# Template defaults by model name (a checkpoint directory's or preset's last path part).
# Base Qwen3 checkpoints (Qwen3-0.6B ... Qwen3-32B, hybrid thinking) open every assistant
# turn with a <think> block unless told otherwise; InT's prompts and SFT targets assume a
# plain answer. The 2507 Instruct/Thinking models have separate templates and are unaffected.
_TEMPLATE_DEFAULTS: tuple[tuple[re.Pattern[str], dict[str, Any]], ...] = (
    (re.compile(r"^qwen3-\d+(\.\d+)?b(-base)?$", re.IGNORECASE), {"enable_thinking": False}),
)


def default_template_kwargs(model_name: str | None) -> dict[str, Any]:
    """The chat-template options a model needs by default ({} for most models).

    Args:
        model_name: a checkpoint path or preset name, e.g. ``/ckpt/Qwen3-4B`` or ``Qwen3-4B``.
    """
    if not model_name:
        return {}
    name = str(model_name).rstrip("/").rsplit("/", 1)[-1]
    for pattern, kwargs in _TEMPLATE_DEFAULTS:
        if pattern.match(name):
            return dict(kwargs)
    return {}


def resolve_template_kwargs(configured: Mapping[str, Any] | None,
                            model_name: str | None) -> dict[str, Any]:
    """``data.chat_template_kwargs`` when set (``{}`` included), else the model's default."""
    return dict(configured) if configured is not None else default_template_kwargs(model_name)


def with_template_kwargs(tokenizer: Any, kwargs: Mapping[str, Any]) -> Any:
    """Binds ``kwargs`` into ``tokenizer.apply_chat_template`` (this instance only).

    Every renderer receives the tokenizer object, so binding the options to it reaches all
    ``apply_chat_template`` calls without threading them through each stage; an explicit
    keyword at a call site still wins. Calling it again replaces the options. Returns the
    same tokenizer; ``tokenizer.jaxint_chat_template_kwargs`` reports what is bound.
    """
    original = getattr(tokenizer, "_jaxint_apply_chat_template", tokenizer.apply_chat_template)
    bound = dict(kwargs)

    def apply_chat_template(conversation: Any, *args: Any, **kw: Any) -> Any:
        return original(conversation, *args, **{**bound, **kw})

    tokenizer._jaxint_apply_chat_template = original
    tokenizer.apply_chat_template = apply_chat_template if bound else original
    tokenizer.jaxint_chat_template_kwargs = bound
    return tokenizer


class ChatTemplateError(ValueError):
    """The tokenizer's chat template does not behave as the renderers need."""


@dataclasses.dataclass(frozen=True, eq=False)
class Example:
    """One tokenised training example.

    Attributes:
        tokens: [T] int32 token ids of prompt + response (+ end-of-turn when requested).
        loss_mask: [T] float32, 1.0 on trained response tokens, 0.0 on prompt tokens.
        segment_index: [T] int32 index into ``segment_names`` of the piece each token is in.
        segment_names: ``("prompt", *response segment names[, "end_of_turn"])``.
        text: The full rendered text that was tokenised.
    """

    tokens: np.ndarray
    loss_mask: np.ndarray
    segment_index: np.ndarray
    segment_names: tuple[str, ...]
    text: str

    def segment_tokens(self, name: str) -> np.ndarray:
        """[t] int32 token ids assigned to the named segment."""
        return self.tokens[self.segment_index == self.segment_names.index(name)]

    @property
    def num_prompt_tokens(self) -> int:
        """Number of leading prompt tokens (loss 0)."""
        return int(np.sum(self.segment_index == 0))


def render_prompt(
    tokenizer: Any, messages: Messages, *, add_generation_prompt: bool = True
) -> list[int]:
    """Token ids of a conversation, ending with the generation prompt by default.

    Args:
        tokenizer: A Hugging Face tokenizer with a chat template.
        messages: ``[{"role": ..., "content": ...}, ...]``; for InT one user message.
        add_generation_prompt: Append the template's opening of an assistant turn.
    """
    text = _render_text(tokenizer, messages, add_generation_prompt=add_generation_prompt)
    return _encode(tokenizer, text)


def render_conversation(
    tokenizer: Any, conversation: Messages, *, continue_final_message: bool = False
) -> list[int]:
    """Token ids of a conversation ready for the assistant to speak (:func:`render_prompt`),
    or, with ``continue_final_message``, to go on with the conversation's last message, a
    partial assistant turn kept verbatim (:func:`render_continuation`).

    Raises:
        ValueError: ``continue_final_message`` and the last message is not the assistant's.
    """
    if not continue_final_message:
        return render_prompt(tokenizer, conversation)
    if not conversation or conversation[-1].get("role") != "assistant":
        raise ValueError("continue_final_message needs a final assistant message to continue")
    return render_continuation(tokenizer, conversation[:-1], conversation[-1]["content"])


def render_continuation(tokenizer: Any, messages: Messages, partial_assistant: str) -> list[int]:
    """Token ids of a conversation followed by an unfinished assistant message.

    The prompt ends inside the assistant turn: ``partial_assistant`` is kept verbatim
    (including trailing whitespace) and no end-of-turn token follows, so sampling continues it.
    The ids equal those of :func:`render_example` with ``add_eos=False`` on the same text.
    """
    opening, _ = assistant_frame(tokenizer, messages)
    return _encode(tokenizer, opening + partial_assistant)


def render_example(
    tokenizer: Any,
    messages_prompt: Messages,
    segments: Sequence[tuple[str, str, bool]],
    *,
    add_eos: bool,
) -> Example:
    """Renders prompt + assistant response into token ids with a per-segment loss mask.

    The whole text (prompt, then each segment's text, then the end-of-turn if ``add_eos``) is
    tokenised once, so the ids equal the tokenisation of the full string. Each token is then
    assigned to the segment that contains its *first character* (by the tokenizer's offsets);
    a token that straddles a boundary therefore belongs to the earlier segment, so a token
    holding any prompt character is never trained.

    Args:
        tokenizer: A fast Hugging Face tokenizer (offsets are needed) with a chat template.
        messages_prompt: The conversation before the assistant turn.
        segments: ``(name, text, has_loss)`` pieces of the assistant response, in order.
            For InT: ``[("prefix", steps_before_k, True), ("intervention", text, True)]`` with
            ``add_eos=False``; ordinary SFT: ``[("response", text, True)]`` with ``add_eos=True``.
        add_eos: Append the template's end-of-turn token(s), with loss (the model learns to
            stop). False for "prefix + intervention": the model must not learn to stop there.

    Returns:
        The :class:`Example`; its segment names are ``prompt``, the given names, and
        ``end_of_turn`` when ``add_eos``.
    """
    names = [name for name, _, _ in segments]
    reserved = {PROMPT, END_OF_TURN} & set(names)
    if reserved or len(set(names)) != len(names):
        raise ValueError(
            f"segment names must be unique and not {PROMPT!r}/{END_OF_TURN!r}: {names}"
        )
    opening, closing = assistant_frame(tokenizer, messages_prompt)
    pieces = [(PROMPT, opening, False), *segments]
    if add_eos:
        pieces.append((END_OF_TURN, end_of_turn_text(tokenizer, closing), True))
    text = "".join(piece_text for _, piece_text, _ in pieces)
    ids, starts = _encode_with_starts(tokenizer, text)
    piece_ends = np.cumsum([len(piece_text) for _, piece_text, _ in pieces])
    index = np.searchsorted(piece_ends, starts, side="right").clip(0, len(pieces) - 1)
    index = np.maximum.accumulate(index) if index.size else index  # guard odd offsets
    has_loss = np.array([loss for _, _, loss in pieces], dtype=np.float32)
    return Example(
        tokens=np.asarray(ids, dtype=np.int32),
        loss_mask=has_loss[index],
        segment_index=index.astype(np.int32),
        segment_names=tuple(name for name, _, _ in pieces),
        text=text,
    )


def render_sft(tokenizer: Any, example: records.SFTExample) -> Example:
    """The token ids and loss mask of an SFT example: its prompt as the one user message (no
    system prompt, as in rollouts), its segments as the response (:func:`render_example`)."""
    return render_example(tokenizer, [{"role": "user", "content": example.prompt}],
                          example.segments, add_eos=example.add_eos)


def assistant_frame(tokenizer: Any, messages: Messages) -> tuple[str, str]:
    """The template text that opens and closes an assistant turn after ``messages``.

    Returns:
        ``(opening, closing)``: ``opening`` is the whole conversation text up to where the
        assistant's content starts; ``closing`` is what the template writes after the content.

    Raises:
        ChatTemplateError: the sentinel content does not appear exactly once, or the opening
            does not start with the template's own generation prompt.
    """
    sentinel_turn = {"role": "assistant", "content": _SENTINEL}
    full = _render_text(tokenizer, [*messages, sentinel_turn], add_generation_prompt=False)
    if full.count(_SENTINEL) != 1:
        raise ChatTemplateError(
            "the chat template does not render assistant content verbatim exactly once; "
            "cannot locate the assistant turn"
        )
    opening, closing = full.split(_SENTINEL)
    if not messages:  # an assistant turn alone: no conversation to hold the opening against
        return opening, closing
    generation_prompt = _render_text(tokenizer, messages, add_generation_prompt=True)
    if not opening.startswith(generation_prompt):
        raise ChatTemplateError(
            "the chat template renders an assistant turn inconsistently with its generation "
            f"prompt: {generation_prompt[-80:]!r} is not a prefix of {opening[-80:]!r}"
        )
    return opening, closing


def end_of_turn_text(tokenizer: Any, closing: str) -> str:
    """The end-of-turn part of the template's text after assistant content.

    ``closing`` up to and including the tokenizer's EOS token when it occurs there (ChatML:
    ``"<|im_end|>\\n"`` -> ``"<|im_end|>"``), else ``closing`` without trailing whitespace
    (Llama 3: ``"<|eot_id|>"``), else the EOS token itself.
    """
    eos = getattr(tokenizer, "eos_token", None) or ""
    if eos and eos in closing:
        return closing[: closing.index(eos) + len(eos)]
    trimmed = closing.rstrip()
    if trimmed:
        return trimmed
    if not eos:
        raise ChatTemplateError("the template closes assistant turns with nothing and no EOS")
    return eos


def _render_text(tokenizer: Any, messages: Messages, *, add_generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(
        [dict(m) for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt
    )
    if not isinstance(text, str):
        raise ChatTemplateError(f"apply_chat_template returned {type(text).__name__}, not text")
    return text


def _encode(tokenizer: Any, text: str) -> list[int]:
    # The template already wrote any BOS it wants; the tokenizer must not add another.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _encode_with_starts(tokenizer: Any, text: str) -> tuple[list[int], np.ndarray]:
    try:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except NotImplementedError as err:
        raise ChatTemplateError(
            f"render_example needs a fast tokenizer with offsets: {err}"
        ) from None
    starts = np.array([start for start, _ in encoded["offset_mapping"]], dtype=np.int64)
    return list(encoded["input_ids"]), starts
