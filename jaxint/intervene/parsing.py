"""Parsing an intervener's reply into a proposal: the last ``<intervention>`` block, leniently.

The reply is untrusted model output, so everything here is bounded: only the last
``MAX_SCAN_CHARS`` characters are scanned, a block longer than ``MAX_BLOCK_CHARS`` is refused,
every scan is a single linear pass or a regular expression without nested quantifiers, and
nothing is ever evaluated.

Payload parsing, in order (the first that yields a JSON object wins):

1. ``json`` decoding of the first object (control characters allowed inside strings, text
   after the object ignored) after making LaTeX backslashes literal: ``\\frac`` is a valid
   JSON escape (form feed + "rac"), so a plain ``json.loads`` would *succeed* and corrupt the
   content. A backslash before ``b f r t`` followed by a letter, before ``n`` followed by a
   LaTeX command name (``\\neq``, ``\\nabla``...), or before any character JSON does not
   allow is doubled; ``\\n`` before ordinary words stays a newline and ``\\\\`` stays a
   backslash. JSON without such LaTeX-like sequences is unchanged by this step.
2. A repairing rewrite (:mod:`jaxint.intervene.jsonish`): single or smart quotes, bare keys,
   trailing commas, unescaped inner double quotes.
3. Field extraction: the text between the ``"content":`` key and the ``"location"`` key (or
   the closing brace), for contents whose quotes defeat a tokenizer.

The block may lack its closing tag at the very end of the reply (the model stopped right after
the JSON) only if the payload is a complete ``{...}`` object; a reply cut off mid-payload is
``unparseable``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from jaxint.intervene import echo, jsonish, prompts
from jaxint.intervene import leak as leak_lib

MAX_SCAN_CHARS = 200_000
MAX_BLOCK_CHARS = 20_000
REASONS = ("no_block", "unparseable", "template_echo", "location_out_of_range", "empty_content",
           "answer_leaked")

_OPEN_RE = re.compile(r"<\s*intervention\s*>", re.IGNORECASE)
_CLOSE_RE = re.compile(r"<\s*/\s*intervention\s*>", re.IGNORECASE)
_LOCATION_RE = re.compile(r"(?:sub[ _-]?step|step)?[ \t]*#?[ \t]*(\d{1,9})(?:\.0{0,9})?", re.I)
_LABEL_RE = re.compile(r"(?:sub[ _-]?step|step)[ \t]*\d{1,9}[ \t]*[:.)\-][ \t]*", re.I)


@dataclasses.dataclass(frozen=True)
class Proposal:
    """A parsed intervention proposal.

    Attributes:
        content: The intervention text (stripped) when the payload parsed; a usable
            intervention only when ``rejected is None``.
        location: The 1-based substep it replaces, when the payload gave an integer.
        rejected: ``None`` when accepted, else one of :data:`REASONS`.
        detail: A short human-readable explanation of a rejection.
    """

    content: str | None = None
    location: int | None = None
    rejected: str | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.rejected is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse(
    text: str, *, num_steps: int, gold_answer: str | None,
    templates: prompts.Templates | None = None, leak_rule: str = "normalized",
) -> Proposal:
    """Parses the last ``<intervention>{"content": ..., "location": K}</intervention>`` block.

    Args:
        text: The intervener's whole reply.
        num_steps: Substeps in the attempt; a valid location is in ``1..num_steps``.
        gold_answer: The problem's gold answer, for the leak check (``None`` skips it).
        templates: The templates the prompt was built from, for the echo check (default: the
            shipped ones).
        leak_rule: ``normalized`` or ``paper`` (see ``intervene.leak.leaked``).

    Returns:
        An accepted :class:`Proposal`, or one whose ``rejected`` is the first failing check
        of: no_block, unparseable (no content), empty_content, template_echo (the content only
        repeats the prompt's fixed text, e.g. its placeholder), unparseable (location),
        location_out_of_range, answer_leaked.
    """
    payload, problem = extract_block(text)
    if payload is None:
        return Proposal(rejected="no_block" if problem == "no block" else "unparseable",
                        detail=problem)
    obj = parse_payload(payload)
    if obj is None:
        return Proposal(rejected="unparseable", detail="payload is not a JSON-like object")
    return _judge(obj, num_steps, gold_answer, templates, leak_rule)


def _judge(
    obj: dict[str, Any], num_steps: int, gold_answer: str | None,
    templates: prompts.Templates | None, leak_rule: str = "normalized",
) -> Proposal:
    fields = {str(k).strip().lower(): v for k, v in obj.items()}
    if "content" not in fields:
        return Proposal(rejected="unparseable", detail="no 'content' field")
    content = fields["content"]
    if content is None:
        content = ""
    if not isinstance(content, str):
        return Proposal(rejected="unparseable", detail=f"content is {type(content).__name__}")
    content = clean_content(content)
    location = to_location(fields.get("location"))
    if not content:
        return Proposal(content="", location=location, rejected="empty_content",
                        detail="the intervener found no critical error")
    if echo.is_echo(content, templates):
        return Proposal(content=content, location=location, rejected="template_echo",
                        detail="the content repeats the prompt template's own text")
    if location is None:
        return Proposal(content=content, rejected="unparseable",
                        detail=f"location {fields.get('location')!r} is not an integer")
    if not 1 <= location <= num_steps:
        return Proposal(content=content, location=location, rejected="location_out_of_range",
                        detail=f"location {location} not in 1..{num_steps}")
    leaked = leak_lib.leaked(content, gold_answer, leak_rule) if gold_answer else None
    if leaked:
        return Proposal(content=content, location=location, rejected="answer_leaked",
                        detail=leaked)
    return Proposal(content=content, location=location)


def extract_block(text: str) -> tuple[str | None, str]:
    """The payload of the last intervention block, or ``(None, why)``.

    ``why`` is ``"no block"``, ``"block too large"`` or ``"unterminated block"``.
    """
    tail = text[-MAX_SCAN_CHARS:]
    last = None
    for last in _OPEN_RE.finditer(tail):  # noqa: B007 - we want the last match
        pass
    if last is None:
        return None, "no block"
    after = tail[last.end():]
    close = _CLOSE_RE.search(after, 0, MAX_BLOCK_CHARS + 64)
    payload = after[: close.start()] if close else after
    if len(payload) > MAX_BLOCK_CHARS:
        return None, "block too large"
    if close is None and not payload.strip().endswith("}"):
        return None, "unterminated block"
    return payload, ""


def parse_payload(payload: str) -> dict[str, Any] | None:
    """The JSON-like object in a block's payload, repaired if needed; ``None`` if hopeless."""
    body = _strip_fences(payload.strip())
    start = body.find("{")
    if start < 0:
        return None
    body = body[start:]
    obj = _raw_decode(jsonish.fix_escapes(body))  # the first object; trailing notes ignored
    if isinstance(obj, dict):
        return obj
    end = body.rfind("}")
    obj = _loads(jsonish.repair(body[: end + 1] if end > 0 else body))
    if isinstance(obj, dict):
        return obj
    return jsonish.extract_fields(body)


def _strip_fences(body: str) -> str:
    """Drops a Markdown code fence around the payload (```json ... ```)."""
    if body.startswith("```"):
        newline = body.find("\n")
        body = body[newline + 1 :] if newline >= 0 else body[3:]
    if body.endswith("```"):
        body = body[:-3]
    return body.strip()


_DECODER = json.JSONDecoder(strict=False)  # strict=False: raw newlines inside strings


def _loads(text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):  # JSONDecodeError, huge ints, deep nesting
        return None


def _raw_decode(text: str) -> Any:
    try:
        return _DECODER.raw_decode(text)[0]
    except (ValueError, RecursionError):
        return None


def to_location(value: Any) -> int | None:
    """``3``, ``3.0``, ``"3"``, ``" 3 "``, ``"Substep 3"`` -> 3; anything else -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and len(value) <= 64:
        match = _LOCATION_RE.fullmatch(value.strip())
        return int(match.group(1)) if match else None
    return None


def clean_content(content: str) -> str:
    """The content stripped, without a leading "Substep K:" label the model may have copied."""
    content = content.strip()
    match = _LABEL_RE.match(content)
    return content[match.end():].strip() if match else content
