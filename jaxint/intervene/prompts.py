"""The two-turn intervention conversation, cut to a token budget from the middle of the attempt.

Turn 1 shows the problem and reference solution (not the gold answer) and asks the
intervener for its own reference-guided solution (sampled once per problem). Turn 2 gives the
instructions (verification log, first critical error, an intervention that sketches the next
steps, a self-check that names the gold answer, ``<intervention>{...}</intervention>``) and
then, last, the numbered failed attempt under its own heading.

The shipped wording follows the authors' release (``propose_interventions.py``: SOLVE_PROMPT,
SELF_CORRECT_PROMPT). Deliberate differences: (1) an over-long attempt loses *middle*
substeps (below), where the release cuts the tokenised conversation at 30,000 tokens from the
head, which drops the end of the attempt and the reply's start; (2) the final block is asked
for as strict JSON with an example (``{"content": "...", "location": K}``) instead of the
release's ``INSERT_STEP_CONTENT`` placeholders, which the lenient parser reads either way;
(3) substeps are labelled ``Substep K:`` without the release's bold markers.

The wording lives in plain-text templates (``templates/turn1.txt``, ``turn2.txt``) that users
can replace by pointing ``template_dir`` at their own copies. They use ``string.Template``
placeholders (``$problem``) because ``str.format`` would choke on the braces of LaTeX; a
literal dollar sign in a template is written ``$$``. Substituted values (which are full of
``$`` and ``{}``) are never re-scanned.

Placeholders: ``$problem``, ``$reference``, ``$answer`` (the gold answer), ``$attempt`` (the
numbered substeps) and ``$num_steps``. turn1 must use ``$problem`` and ``$reference``; turn2
must use ``$attempt``.

Budget: only the attempt is ever shortened. Its middle substeps are replaced by a marker
(``[... substeps 7-40 omitted ...]``) keeping the first and last ones with their original
numbers; if even the first and last substeps alone are too long, their own middles are cut.
Instructions, problem, reference and the turn-1 solution are never touched: when they alone
exceed the budget the prompt is refused (``None``) and the caller records ``prompt_too_long``.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import pathlib
import string
from collections.abc import Callable, Sequence
from typing import Any

from jaxint.data import chat, records
from jaxint.intervene import steps as steps_lib

PLACEHOLDERS = ("problem", "reference", "answer", "attempt", "num_steps")
_REQUIRED = {"turn1": ("problem", "reference"), "turn2": ("attempt",)}
MIN_CLIP_CHARS = 200  # below this a clipped substep says nothing useful


@dataclasses.dataclass(frozen=True)
class Templates:
    """The two user-turn templates."""

    turn1: string.Template
    turn2: string.Template


@dataclasses.dataclass(frozen=True)
class Turn2Prompt:
    """A ready turn-2 conversation.

    Attributes:
        messages: user (turn 1), assistant (turn-1 solution), user (turn 2).
        num_tokens: Length of the chat-templated prompt with the generation prompt.
        omitted: ``(first, last)`` substep numbers replaced by the marker, or ``None``.
        clip_chars: Per-substep character cap applied to the kept substeps, or ``None``.
    """

    messages: list[dict[str, str]]
    num_tokens: int
    omitted: tuple[int, int] | None = None
    clip_chars: int | None = None


def load_templates(template_dir: str | pathlib.Path | None = None) -> Templates:
    """Reads ``turn1.txt`` and ``turn2.txt`` from ``template_dir`` (default: the shipped ones).

    Raises:
        ValueError: a template uses an unknown placeholder, a bare ``$``, or lacks a
            required placeholder (the message names the file).
    """
    if template_dir is None:
        root = importlib.resources.files("jaxint.intervene") / "templates"
        texts = {name: (root / f"{name}.txt").read_text() for name in _REQUIRED}
    else:
        root_path = pathlib.Path(template_dir)
        texts = {name: (root_path / f"{name}.txt").read_text() for name in _REQUIRED}
    for name, text in texts.items():
        _check_template(name, text)
    return Templates(string.Template(texts["turn1"]), string.Template(texts["turn2"]))


def _check_template(name: str, text: str) -> None:
    found = set()
    for match in string.Template.pattern.finditer(text):
        if match.group("invalid") is not None:
            raise ValueError(f"template {name}.txt: bare '$' (write '$$' for a dollar sign)")
        ident = match.group("named") or match.group("braced")
        if ident is not None:
            found.add(ident)
    unknown = found - set(PLACEHOLDERS)
    missing = set(_REQUIRED[name]) - found
    if unknown or missing:
        raise ValueError(
            f"template {name}.txt: unknown placeholders {sorted(unknown)}, missing "
            f"{sorted(missing)}; allowed: {PLACEHOLDERS} (write '$$' for a dollar sign)"
        )


def turn1_messages(templates: Templates, problem: records.Problem) -> list[dict[str, str]]:
    """The turn-1 conversation: one user message with the problem and reference solution."""
    if not problem.solution:
        raise ValueError(f"problem {problem.id!r} has no reference solution; InT needs one")
    text = templates.turn1.substitute(_values(problem, attempt="", num_steps=0))
    return [{"role": "user", "content": text}]


def _values(problem: records.Problem, *, attempt: str, num_steps: int) -> dict[str, str]:
    return {
        "problem": problem.problem,
        "reference": problem.solution or "",
        "answer": problem.answer,
        "attempt": attempt,
        "num_steps": str(num_steps),
    }


def prompt_tokens(tokenizer: Any, messages: Sequence[dict[str, str]]) -> int:
    """Length of a conversation, chat-templated with the generation prompt."""
    return len(chat.render_prompt(tokenizer, messages))


def build_turn2(
    templates: Templates,
    tokenizer: Any,
    problem: records.Problem,
    solution: str,
    steps: Sequence[str],
    *,
    max_prompt_tokens: int,
) -> Turn2Prompt | None:
    """The turn-2 conversation within ``max_prompt_tokens``, or ``None`` if it cannot fit.

    Args:
        templates: The loaded templates.
        tokenizer: The intervener's tokenizer (its chat template measures the length).
        problem: The problem (with its reference solution).
        solution: The intervener's turn-1 answer.
        steps: The failed attempt's steps, numbered from 1.
        max_prompt_tokens: Budget for the whole chat-templated prompt.
    """
    head = turn1_messages(templates, problem)
    head.append({"role": "assistant", "content": solution})

    def conversation(attempt: str) -> list[dict[str, str]]:
        user = templates.turn2.substitute(_values(problem, attempt=attempt, num_steps=len(steps)))
        return [*head, {"role": "user", "content": user}]

    def length(attempt: str) -> int:
        return prompt_tokens(tokenizer, conversation(attempt))

    fitted = fit_attempt(length, steps, max_prompt_tokens)
    if fitted is None:
        return None
    attempt, omitted, clip = fitted
    messages = conversation(attempt)
    return Turn2Prompt(messages, prompt_tokens(tokenizer, messages), omitted, clip)


def fit_attempt(
    length: Callable[[str], int], steps: Sequence[str], budget: int
) -> tuple[str, tuple[int, int] | None, int | None] | None:
    """The numbered attempt, shortened from its middle until ``length(attempt) <= budget``.

    Args:
        length: Token length of the whole prompt built around a rendered attempt.
        steps: The attempt's steps.
        budget: Token budget.

    Returns:
        ``(attempt text, omitted substep range or None, per-step char cap or None)``, or
        ``None`` when even the most shortened attempt does not fit.
    """
    full = steps_lib.render_numbered(steps)
    if length(full) <= budget:
        return full, None, None
    n = len(steps)
    if n == 0:
        return None
    if n >= 3:
        fits = lambda m: length(_middle_cut(steps, m)[0]) <= budget
        best = _largest(fits, 2, n - 1)
        if best is not None:
            text, omitted = _middle_cut(steps, best)
            return text, omitted, None
    kept_view = 2 if n >= 3 else n
    longest = max(len(s) for s in steps)
    fits = lambda c: length(_middle_cut(steps, kept_view, clip=c)[0]) <= budget
    cap = _largest(fits, MIN_CLIP_CHARS, max(longest, MIN_CLIP_CHARS))
    if cap is None:
        return None
    text, omitted = _middle_cut(steps, kept_view, clip=cap)
    return text, omitted, cap


def _largest(fits: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest ``x`` in ``[low, high]`` with ``fits(x)`` (assumed monotone), else None."""
    if not fits(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _middle_cut(
    steps: Sequence[str], keep: int, *, clip: int | None = None
) -> tuple[str, tuple[int, int] | None]:
    """Keeps the first ``ceil(keep/2)`` and last ``floor(keep/2)`` steps, numbered as before."""
    n = len(steps)
    keep = min(keep, n)
    n_head = (keep + 1) // 2
    n_tail = keep - n_head
    shown = [_clip(s, clip) for s in steps]
    head = steps_lib.render_numbered(shown[:n_head])
    if n_head + n_tail == n:
        return steps_lib.render_numbered(shown), None
    first, last = n_head + 1, n - n_tail
    span = f"substep {first}" if first == last else f"substeps {first}-{last}"
    parts = [head, f"[... {span} omitted ...]"]
    if n_tail:
        parts.append(steps_lib.render_numbered(shown[n - n_tail :], first=n - n_tail + 1))
    return steps_lib.SEPARATOR.join(parts), (first, last)


def _clip(step: str, clip: int | None) -> str:
    """``step`` with its middle cut so that about ``clip`` characters remain."""
    if clip is None or len(step) <= clip:
        return step
    half = clip // 2
    omitted = len(step) - 2 * half
    return f"{step[:half]} [... {omitted} characters omitted ...] {step[len(step) - half:]}"
