"""Does an intervention give the final answer away?

An intervention must steer, not solve (PAPER.md step 6): training on a step that states the
answer teaches copying, and the filter would keep it for the wrong reason. The paper's rule
(``intervene.leak_rule: paper``) is a raw substring test; the default (``normalized``) makes
two checks:

1. **The gold answer string.** Both texts are normalised (``$`` removed; ``\\dfrac`` and
   ``\\tfrac`` read as ``\\frac``; ``\\left``/``\\right`` and the spacing commands ``\\, \\; \\!``
   dropped; thousands separators in numbers removed; whitespace collapsed and dropped next to
   any symbol that is not a letter or digit). The gold must then occur in the content at a
   *token boundary*: where the gold starts with a letter or digit, the character before the
   match must not be one; where it ends with one, the character after must not be one either
   (nor a decimal point followed by a digit). So a gold of ``2`` is not found in ``12``,
   ``2.5``, ``x2`` or ``2y``, but is in ``x = 2`` and ``(2, 3)``; a gold of ``\\frac{1}{2}``
   is found anywhere.
2. **An equivalent boxed answer.** Each ``\\boxed{...}`` in the content (braces matched; at
   most ``MAX_BOXES``) is judged by ``jaxint.verify.score`` against the gold, so ``\\boxed{0.5}``
   leaks a gold of ``\\frac{1}{2}``.
"""

from __future__ import annotations

import re

LEAK_RULES = ("normalized", "paper")
MAX_BOXES = 8
MAX_BOX_CHARS = 2_000
SCORE_TIMEOUT_S = 5.0

_DROP_RE = re.compile(r"\$|\\left\b|\\right\b|\\[,;!]|\\(?:\s)")
_FRAC_RE = re.compile(r"\\[dt]frac\b")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACE_RE = re.compile(r"\s+")
# A space next to a symbol carries no meaning for matching ("x + 1" == "x+1").
_SYMBOL_SPACE_RE = re.compile(r" ?([^0-9A-Za-z ]) ?")
_BOX = "\\boxed{"


def normalise(text: str) -> str:
    """The matching form of a text (see the module docstring)."""
    text = _DROP_RE.sub("", text)
    text = _FRAC_RE.sub(r"\\frac", text)
    text = _THOUSANDS_RE.sub("", text)
    text = _SPACE_RE.sub(" ", text).strip()
    return _SYMBOL_SPACE_RE.sub(r"\1", text)


def contains_answer(content: str, gold: str) -> bool:
    """True when the normalised gold occurs in the normalised content at a token boundary."""
    gold_n, content_n = normalise(gold), normalise(content)
    if not gold_n:
        return False
    pattern = re.escape(gold_n)
    if gold_n[0].isascii() and gold_n[0].isalnum():
        pattern = r"(?<![0-9A-Za-z])" + pattern
    if gold_n[-1].isascii() and gold_n[-1].isalnum():
        pattern += r"(?![0-9A-Za-z])(?!\.[0-9])"
    return re.search(pattern, content_n) is not None


def boxed_contents(text: str) -> list[str]:
    """The insides of the first ``MAX_BOXES`` brace-matched ``\\boxed{...}`` in ``text``."""
    out, start = [], text.find(_BOX)
    while start >= 0 and len(out) < MAX_BOXES:
        depth, i = 1, start + len(_BOX)
        limit = min(len(text), i + MAX_BOX_CHARS)
        while i < limit and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append(text[start + len(_BOX) : i - 1])
        start = text.find(_BOX, i)
    return out


def boxed_equivalent(content: str, gold: str) -> bool:
    """True when some ``\\boxed{}`` in the content is judged equal to the gold by the verifier."""
    boxes = boxed_contents(content)
    if not boxes:
        return False
    return any(_judged_equal(box, gold) for box in boxes)


def _judged_equal(box: str, gold: str) -> bool:
    from jaxint import verify  # math-verify is imported only when a box needs judging

    for _ in range(2):
        # One retry on a timeout: the first call in a process also imports math-verify and
        # sympy inside the time limit, which a loaded machine can overrun.
        verdict = verify.score(f"\\boxed{{{box}}}", gold, timeout_s=SCORE_TIMEOUT_S)
        if verdict.reason != "timeout":
            break
    return verdict.reward > 0


def leaked(content: str, gold: str, rule: str = "normalized") -> str | None:
    """Why ``content`` leaks ``gold`` ("gold answer string" / "equivalent boxed answer"),
    or ``None`` when it does not.

    ``rule="paper"`` is the authors' release (``parse_interventions.ipynb``): the raw gold
    string occurs anywhere in the raw content (so a gold of ``2`` is found in ``12``, and
    ``\\dfrac{1}{2}`` does not match a gold of ``\\frac{1}{2}``). ``"normalized"`` is the
    two checks of this module's docstring."""
    if rule == "paper":
        return "gold answer string in the content" if gold in content else None
    if rule != "normalized":
        raise ValueError(f"leak rule must be one of {LEAK_RULES}, got {rule!r}")
    if contains_answer(content, gold):
        return "gold answer string in the content"
    if boxed_equivalent(content, gold):
        return "equivalent boxed answer in the content"
    return None
