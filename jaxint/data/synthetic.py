"""A synthetic multi-step arithmetic task with an exact step checker.

Problems are short word problems ("Start with 17. Add 25, then multiply by 3, then subtract
12. What number do you get?"). The reference solution writes one computation per step in a
fixed format, steps separated by blank lines, and ends with the boxed answer::

    17 + 25 = 42

    42 * 3 = 126

    126 - 12 = 114

    \\boxed{114}

All values stay integers in ``[0, max_value)`` and divisions are exact, so a tiny
character-level model can learn the task on a CPU. Because the right step at every position is
known, :func:`check_attempt` finds the first wrong step of an attempt and writes the correct
replacement: an oracle intervener, and the ground truth for measuring how well a model locates
errors. :func:`corrupt` plants an error at a known step.

**Trap kinds** (the demo's analogue of the InT paper's hard pool): a trap kind is a phrasing
(``"lower it by {b}"``) that *means* one operation (``-``) while the pretraining corpus always
computes it as another (``+``). Problems drawn in the ``"true"`` reading (the default: gold
answers, reference solutions, the verifier and the oracle) apply the meaning; problems drawn in
the ``"corpus"`` reading apply the corpus's consistent mistake, so a model pretrained on them
gets every trap step wrong in the same way, and outcome RL from it almost never samples a
correct trap step to reward. ``meta`` records each step's kind (``kinds``), the trap kind and
its 1-based step (``trap``, ``trap_step``; ``None`` for a plain problem) and the ``reading``.

Attempts are untrusted model output: steps are matched with bounded regular expressions on
length-capped text, never evaluated.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from typing import Any

from jaxint.data import records

SOURCE = "synthetic"
ALL_OPS = ("+", "-", "*", "/")
_MAX_STEP_CHARS = 200  # longer "steps" are malformed; keeps regex work bounded
_NUM = r"(\d{1,9})"
_SP = r"[ \t]{0,8}"
# re.ASCII: \d must not accept other scripts' digits, which int() would silently convert.
_ARITH_RE = re.compile(rf"{_NUM}{_SP}([-+*/x×÷−]){_SP}{_NUM}{_SP}={_SP}{_NUM}", re.ASCII)
_BOX_RE = re.compile(rf"\\boxed\{{{_SP}{_NUM}{_SP}\}}", re.ASCII)
_OP_ALIASES = {"x": "*", "×": "*", "÷": "/", "−": "-"}
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")

_OPENINGS = ("Start with {n}.", "Begin with the number {n}.", "Take the number {n}.")
_OP_PHRASES = {
    "+": ("add {b}", "increase it by {b}", "add {b} to it"),
    "-": ("subtract {b}", "take away {b}", "decrease it by {b}"),
    "*": ("multiply by {b}", "multiply it by {b}"),
    "/": ("divide by {b}", "divide it by {b}"),
}
_QUESTIONS = ("What number do you get?", "What is the result?", "What number do you end with?")
PLAIN = "plain"
TRAP_MIN_GAP = 2  # a trap step's two readings give values at least this far apart
READINGS = ("true", "corpus")


@dataclasses.dataclass(frozen=True)
class TrapKind:
    """A phrasing whose operation the pretraining corpus writes wrongly, always the same way.

    Attributes:
        name: The kind's name, as stored in ``meta["kinds"]`` and ``meta["trap"]``.
        phrases: Its problem-text phrasings (``{b}`` is the operand); none is a plain phrase.
        true_op: What the phrase means: gold answers, the verifier and the oracle use it.
        corpus_op: How the pretraining corpus computes it.
    """

    name: str
    phrases: tuple[str, ...]
    true_op: str
    corpus_op: str

    def op(self, reading: str) -> str:
        return self.true_op if reading == "true" else self.corpus_op


TRAP_KINDS = {
    "lower": TrapKind("lower", ("lower it by {b}",), true_op="-", corpus_op="+"),
    "grow": TrapKind("grow", ("grow it by {b}",), true_op="+", corpus_op="-"),
    # "cut it by b" means take b away; the corpus reads it as "cut it by a factor of b". Its
    # corpus operation is one no plain phrase of the demo's task writes (ops + - *), so the
    # misreading lives in the phrase alone and correcting it has no plain phrase to drag along.
    "cut": TrapKind("cut", ("cut it by {b}",), true_op="-", corpus_op="/"),
}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The verdict on an attempt.

    Attributes:
        correct: Every step is right and the attempt ends with the right boxed answer.
        first_error: 1-based index of the first wrong step (a missing step counts at the
            position where it should be), or ``None`` when correct.
        error_kind: ``malformed``, ``wrong_start``, ``wrong_operation``, ``skipped_operation``,
            ``wrong_operand``, ``wrong_arithmetic``, ``early_answer``, ``extra_operation``,
            ``wrong_answer``, ``missing_step``, ``extra_step``; ``None`` when correct.
        reason: A human-readable explanation ("" when correct).
        replacement: The correct step for position ``first_error`` given the (correct) steps
            before it; ``None`` when correct or when the right fix is to end the attempt there
            (``extra_step`` after the boxed answer).
        num_steps: Steps in the attempt.
        expected_num_steps: Steps in the reference solution (operations + the boxed answer).
    """

    correct: bool
    first_error: int | None
    error_kind: str | None
    reason: str
    replacement: str | None
    num_steps: int
    expected_num_steps: int


@dataclasses.dataclass(frozen=True)
class Corruption:
    """A solution with one planted error: ``text``, its 1-based ``step`` and its ``kind``."""

    text: str
    step: int
    kind: str


# ----------------------------------------------------------------------------- generation


def make_problems(
    n: int, *, seed: int, trap_fraction: float = 0.0, trap_kind: str = "lower", **knobs: Any,
) -> list[records.Problem]:
    """``n`` problems; problem ``i`` depends only on ``(seed, i)`` and the knobs.

    Args:
        n: Number of problems.
        seed: Seed; the same seed and knobs always give the same problems.
        trap_fraction: Share of problems with exactly one step of ``trap_kind``; exactly
            ``round(n * trap_fraction)`` of them, spread evenly over the indices.
        trap_kind: A name in :data:`TRAP_KINDS`.
        **knobs: The task's knobs, as :func:`make_problem` takes them (``num_steps``,
            ``max_digits``, ``max_factor``, ``ops``, ``max_value``, ``max_start``,
            ``reading``).
    """
    if not 0.0 <= trap_fraction <= 1.0:
        raise ValueError(f"trap_fraction must lie in [0, 1], got {trap_fraction}")
    return [make_problem(i, seed=seed, trap=trap_kind if is_trap_index(i, trap_fraction) else None,
                         **knobs)
            for i in range(n)]


def is_trap_index(index: int, fraction: float) -> bool:
    """Whether problem ``index`` of a stream holds a trap step: exactly ``round(n * fraction)``
    of the first ``n`` indices do, evenly spread (for fraction 0.5: the odd indices)."""
    return round((index + 1) * fraction) > round(index * fraction)


def make_problem(
    index: int,
    *,
    seed: int,
    num_steps: int | tuple[int, int] = 3,
    max_digits: int = 2,
    max_factor: int = 9,
    ops: Sequence[str] = ("+", "-", "*"),
    max_value: int = 1000,
    max_start: int | None = None,
    trap: str | None = None,
    reading: str = "true",
) -> records.Problem:
    """Problem number ``index`` of the stream ``seed`` (see :func:`make_problems`).

    Args:
        index, seed: Which problem of which stream; they alone fix its draw.
        num_steps: Operations per problem, or an inclusive ``(low, high)`` range.
        max_digits: Start values and +/- operands have at most this many digits.
        max_factor: Largest multiplier/divisor (at least 2).
        ops: Allowed operations, a subset of ``+ - * /`` (``/`` only where exact).
        max_value: Every intermediate value lies in ``[0, max_value)``.
        max_start: Largest start value (default: the largest ``max_digits``-digit number).
        trap: A trap kind (:data:`TRAP_KINDS`): the problem then has exactly one step of
            that kind, never its last operation (so fixing it never states the answer); it
            needs at least 2 operations.
        reading: ``"true"`` (gold semantics) or ``"corpus"`` (the corpus's consistent
            mistake on trap steps; for pretraining text).
    """
    _check_knobs(num_steps, max_digits, max_factor, ops, max_value)
    _check_trap(trap, reading, num_steps)
    # String seeds are hashed with SHA-512 by `random`, stable across Python versions.
    rng = random.Random(f"jaxint.synthetic:{seed}:{index}")
    low, high = (num_steps, num_steps) if isinstance(num_steps, int) else num_steps
    steps = rng.randint(max(low, 2) if trap else low, high)
    top = min(10**max_digits - 1 if max_start is None else max_start, max_value - 1)
    trap_kind = None if trap is None else TRAP_KINDS[trap]
    for _ in range(100):  # a dead end (no op keeps the value in range) restarts the draw
        start = rng.randint(1, top)
        trap_step = None if trap_kind is None else rng.randint(1, steps - 1)
        draw = _Draw(max_digits, max_factor, tuple(ops), max_value, trap_kind, trap_step, reading)
        chain = draw.chain(rng, start, steps)
        if chain is not None:
            return _to_problem(f"{SOURCE}-{seed}-{index}", rng, start, chain, draw)
    raise ValueError(f"no problem satisfies ops={tuple(ops)}, max_value={max_value}")


def _check_trap(trap: str | None, reading: str, num_steps: int | tuple[int, int]) -> None:
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}, got {reading!r}")
    if trap is None:
        return
    if trap not in TRAP_KINDS:
        raise ValueError(f"unknown trap kind {trap!r} (kinds: {', '.join(TRAP_KINDS)})")
    high = num_steps if isinstance(num_steps, int) else num_steps[1]
    if high < 2:
        raise ValueError("a trap step is never the last operation: trap problems need "
                         f"num_steps >= 2, got {num_steps!r}")


def _check_knobs(
    num_steps: int | tuple[int, int],
    max_digits: int,
    max_factor: int,
    ops: Sequence[str],
    max_value: int,
) -> None:
    low, high = (num_steps, num_steps) if isinstance(num_steps, int) else num_steps
    if not 1 <= low <= high:
        raise ValueError(f"num_steps must be >= 1 (or a range low <= high), got {num_steps!r}")
    if max_digits < 1 or max_factor < 2 or max_value < 10:
        raise ValueError(
            f"need max_digits >= 1, max_factor >= 2, max_value >= 10; got "
            f"{max_digits}, {max_factor}, {max_value}"
        )
    if not ops or not set(ops) <= set(ALL_OPS):
        raise ValueError(f"ops must be a non-empty subset of {ALL_OPS}, got {tuple(ops)!r}")


@dataclasses.dataclass(frozen=True)
class _Draw:
    """How one problem's chain is drawn: the task knobs plus its trap step, if any."""

    max_digits: int
    max_factor: int
    ops: tuple[str, ...]
    max_value: int
    trap: TrapKind | None
    trap_step: int | None
    reading: str

    def chain(self, rng: random.Random, start: int, steps: int) -> list[tuple[str, int]] | None:
        """``(op, operand)`` per step, ops as this reading computes them; None: a dead end."""
        value, chain = start, []
        for index in range(1, steps + 1):
            if index == self.trap_step:
                op, operands = self._trap_operands(value)
            else:
                op, operands = self._plain_operands(rng, value)
            if not operands:
                return None
            operand = rng.choice(operands)
            chain.append((op, operand))
            value = apply(value, op, operand)
        return chain

    def _plain_operands(self, rng: random.Random, value: int) -> tuple[str, list[int] | range]:
        choices = {op: self._range(op, value) for op in self.ops}
        choices = {op: r for op, r in choices.items() if r}
        if not choices:
            return "+", []
        op = rng.choice(sorted(choices))
        return op, choices[op]

    def _trap_operands(self, value: int) -> tuple[str, list[int]]:
        """Operands valid under both readings, so a trap step looks the same in the corpus
        and in gold problems; the op is the one this reading computes."""
        assert self.trap is not None
        true = set(self._range(self.trap.true_op, value))
        corpus = set(self._range(self.trap.corpus_op, value))
        # A pair both readings compute alike (4 - 2 = 4 / 2) would hide the trap, and one
        # whose readings differ by 1 (3 - 3 = 0, 3 / 3 = 1) lets a later off-by-one slip
        # ("1 + 4 = 4") land a misread step on the gold answer: outcome RL then rewards the
        # slips (measured: plain accuracy after RL only fell 6-7 points on two seeds).
        both = [b for b in sorted(true & corpus)
                if abs(apply(value, self.trap.true_op, b)
                       - apply(value, self.trap.corpus_op, b)) >= TRAP_MIN_GAP]
        return self.trap.op(self.reading), both

    def _range(self, op: str, value: int) -> list[int] | range:
        return _operand_range(op, value, self.max_digits, self.max_factor, self.max_value)

    def kind(self, index: int) -> str:
        return self.trap.name if self.trap is not None and index == self.trap_step else PLAIN


def _operand_range(
    op: str, value: int, max_digits: int, max_factor: int, max_value: int
) -> list[int] | range:
    """Operands that keep the value in [0, max_value) and change it (so steps are distinct)."""
    big = 10**max_digits - 1
    if op == "+":
        return range(1, min(big, max_value - 1 - value) + 1)
    if op == "-":
        return range(1, min(big, value) + 1)
    if value == 0:
        return range(0)  # 0 * b and 0 / b would repeat the value
    if op == "*":
        return range(2, min(max_factor, (max_value - 1) // value) + 1)
    return [b for b in range(2, max_factor + 1) if value % b == 0]


def apply(a: int, op: str, b: int) -> int:
    """``a op b`` for the task's operations (``/`` is exact integer division)."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a // b


def _to_problem(
    pid: str, rng: random.Random, start: int, chain: list[tuple[str, int]], draw: _Draw
) -> records.Problem:
    values = [start]
    for op, operand in chain:
        values.append(apply(values[-1], op, operand))
    phrases = [_phrase(rng, draw, i, op, b) for i, (op, b) in enumerate(chain, start=1)]
    text = " ".join(
        [
            rng.choice(_OPENINGS).format(n=start),
            phrases[0][0].upper()
            + phrases[0][1:]
            + "".join(f", then {p}" for p in phrases[1:])
            + ".",
            rng.choice(_QUESTIONS),
        ]
    )
    meta = {"start": start, "ops": [[op, b] for op, b in chain], "values": values,
            "kinds": [draw.kind(i) for i in range(1, len(chain) + 1)],
            "trap": None if draw.trap is None else draw.trap.name,
            "trap_step": draw.trap_step, "reading": draw.reading}
    return records.Problem(
        id=pid,
        problem=text,
        answer=str(values[-1]),
        solution="\n\n".join(reference_steps(start, chain)),
        source=SOURCE,
        meta=meta,
    )


def _phrase(rng: random.Random, draw: _Draw, index: int, op: str, b: int) -> str:
    if draw.kind(index) == PLAIN:
        return rng.choice(_OP_PHRASES[op]).format(b=b)
    assert draw.trap is not None
    return rng.choice(draw.trap.phrases).format(b=b)


def chain_key(problem: records.Problem) -> tuple[int, tuple[tuple[str, int], ...]]:
    """The problem's arithmetic chain: its start and (operation, operand) per step, as its
    solution computes them; two problems with the same key need the same computations."""
    start, chain = _task(problem)
    return start, tuple(chain)


def trap_pair(problem: records.Problem) -> tuple[int, int] | None:
    """``(a, b)`` of the problem's trap step (the value before it and its operand), if any."""
    step = problem.meta.get("trap_step")
    if step is None:
        return None
    return int(problem.meta["values"][step - 1]), int(problem.meta["ops"][step - 1][1])


def format_step(a: int, op: str, b: int, c: int) -> str:
    """The canonical text of one computation, e.g. ``17 + 25 = 42``."""
    return f"{a} {op} {b} = {c}"


def format_answer(value: int) -> str:
    """The canonical final step, e.g. ``\\boxed{114}``."""
    return f"\\boxed{{{value}}}"


def reference_steps(start: int, chain: Sequence[Sequence[object]]) -> list[str]:
    """The canonical solution steps: one computation per operation, then the boxed answer."""
    steps, value = [], start
    for op, operand in chain:
        new = apply(value, str(op), int(operand))
        steps.append(format_step(value, str(op), int(operand), new))
        value = new
    return [*steps, format_answer(value)]


_PROSE_VERBS = {"+": "Adding {b} gives {c}.", "-": "Taking {b} away leaves {c}.",
                "*": "Multiplying by {b} gives {c}.", "/": "Dividing by {b} gives {c}."}


def prose_solution(problem: records.Problem) -> str:
    """A reference solution in sentences (one paragraph, no step lines), ending with the
    boxed answer: correct, but in a style a model pretrained on :func:`reference_steps`
    never writes (the demo's "SFT on reference solutions" control)."""
    start, chain = _task(problem)
    sentences, value = [f"We begin with {start}."], start
    for op, b in chain:
        value = apply(value, op, b)
        sentences.append(_PROSE_VERBS[op].format(b=b, c=value))
    sentences.append(f"So the final number is {format_answer(value)}.")
    return " ".join(sentences)


# ----------------------------------------------------------------------------- checking


def split_steps(text: str) -> list[str]:
    """Steps of an attempt: pieces between blank lines, stripped, empty pieces dropped."""
    pieces = _BLANK_LINE_RE.split(text.replace("\r\n", "\n"))
    return [piece.strip() for piece in pieces if piece.strip()]


def parse_step(step: str) -> tuple[int, str, int, int] | None:
    """``(a, op, b, c)`` from a computation step like ``17 + 25 = 42``, else ``None``."""
    if len(step) > _MAX_STEP_CHARS:
        return None
    match = _ARITH_RE.fullmatch(step.strip())
    if match is None:
        return None
    a, op, b, c = match.groups()
    return int(a), _OP_ALIASES.get(op, op), int(b), int(c)


def parse_answer(step: str) -> int | None:
    """The value of a final step like ``\\boxed{114}``, else ``None``."""
    if len(step) > _MAX_STEP_CHARS:
        return None
    match = _BOX_RE.fullmatch(step.strip())
    return None if match is None else int(match.group(1))


def check_attempt(problem: records.Problem, attempt_text: str) -> CheckResult:
    """Checks an attempt's text, split into steps on blank lines (see :func:`split_steps`)."""
    return check_steps(problem, split_steps(attempt_text))


def check_steps(problem: records.Problem, steps: Sequence[str]) -> CheckResult:
    """Finds the first wrong step of an attempt given as a list of steps.

    Callers with their own step splitter pass its pieces here, so step indices agree with the
    splitter's numbering.

    Raises:
        ValueError: ``problem`` is not a synthetic problem (its ``meta`` lacks the operations).
    """
    start, chain = _task(problem)
    expected = reference_steps(start, chain)
    values = [start]
    for op, operand in chain:
        values.append(apply(values[-1], op, operand))

    def verdict(index: int, kind: str | None, reason: str, fix: str | None) -> CheckResult:
        return CheckResult(
            kind is None,
            None if kind is None else index,
            kind,
            reason,
            fix,
            len(steps),
            len(expected),
        )

    for index, step in enumerate(steps, start=1):
        if index > len(expected):
            return verdict(index, "extra_step", "step after the boxed answer", None)
        if index <= len(chain):
            error = _arith_error(step, values[index - 1], chain, index)
        else:
            error = _answer_error(step, values[-1])
        if error is not None:
            return verdict(index, error[0], error[1], expected[index - 1])
    if len(steps) < len(expected):
        index = len(steps) + 1
        return verdict(index, "missing_step", "the attempt stops early", expected[index - 1])
    return verdict(0, None, "", None)


def _task(problem: records.Problem) -> tuple[int, list[tuple[str, int]]]:
    try:
        start = int(problem.meta["start"])
        chain = [(str(op), int(b)) for op, b in problem.meta["ops"]]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"problem {problem.id!r} has no synthetic task in its meta") from None
    return start, chain


def _arith_error(
    step: str, a: int, chain: Sequence[tuple[str, int]], index: int
) -> tuple[str, str] | None:
    op, b = chain[index - 1]
    parsed = parse_step(step)
    if parsed is None:
        if parse_answer(step) is not None:
            return "early_answer", "boxed answer before all operations were done"
        return "malformed", "not a computation of the form 'a op b = c'"
    got_a, got_op, got_b, got_c = parsed
    if got_a != a:
        return "wrong_start", f"starts from {got_a}, but the current value is {a}"
    if (got_op, got_b) != (op, b) and index < len(chain) and (got_op, got_b) == chain[index]:
        return "skipped_operation", f"skips '{op} {b}'"
    if got_op != op:
        return "wrong_operation", f"uses {got_op!r} where the problem says {op!r}"
    if got_b != b:
        return "wrong_operand", f"uses {got_b} where the problem says {b}"
    if got_c != apply(a, op, b):
        return "wrong_arithmetic", f"{a} {op} {b} is {apply(a, op, b)}, not {got_c}"
    return None


def _answer_error(step: str, final: int) -> tuple[str, str] | None:
    value = parse_answer(step)
    if value is None:
        if parse_step(step) is not None:
            return "extra_operation", "a computation after the last operation"
        return "malformed", "expected the boxed final answer"
    if value != final:
        return "wrong_answer", f"boxed {value}, but the result is {final}"
    return None


# ----------------------------------------------------------------------------- corruption

_ARITH_KINDS = ("arithmetic", "operand", "operation", "skip", "extra", "malformed")
_ANSWER_KINDS = ("answer", "skip", "extra", "malformed")
_GARBAGE = (
    "Let me think about this.",
    "{a} {op} {b} is about {c}",
    "So we get {c} or so",
    "The next number is {c}.",
)


def corrupt(
    solution: str, rng: random.Random, *, step: int | None = None, kind: str | None = None
) -> Corruption:
    """Plants one error in a canonical solution at a chosen or random step.

    Steps before ``step`` are untouched, so :func:`check_attempt` must report exactly ``step``.

    Args:
        solution: A canonical solution (computations, then the boxed answer).
        rng: Source of randomness (``random.Random``).
        step: 1-based step to corrupt; random in ``1..N+1`` if ``None`` (N operations).
            ``N+2`` is allowed with ``kind="extra"`` (a step after the boxed answer).
        kind: For a computation: ``arithmetic``, ``operand``, ``operation``, ``skip``,
            ``extra`` or ``malformed``; for the boxed answer: ``answer``, ``skip``, ``extra``
            or ``malformed``. Random among those if ``None``.
    """
    steps = split_steps(solution)
    parsed = [parse_step(s) for s in steps[:-1]]
    if not steps or any(p is None for p in parsed) or parse_answer(steps[-1]) is None:
        raise ValueError("corrupt() needs a canonical solution: computations then \\boxed{N}")
    n_ops = len(parsed)
    step = rng.randint(1, n_ops + 1) if step is None else step
    allowed = _ARITH_KINDS if step <= n_ops else _ANSWER_KINDS
    if step == n_ops + 2:
        allowed = ("extra",)
    kind = rng.choice(allowed) if kind is None else kind
    if not 1 <= step <= n_ops + 2 or kind not in allowed:
        raise ValueError(f"cannot plant kind={kind!r} at step={step} of {n_ops + 1} steps")
    final = parse_answer(steps[-1])
    current = parsed[step - 1] if step <= n_ops else (final, "+", 0, final)
    new = _corrupted_steps(steps, step, kind, current, rng)
    return Corruption("\n\n".join(new), step, kind)


def _corrupted_steps(
    steps: list[str], step: int, kind: str, current: tuple[int, str, int, int], rng: random.Random
) -> list[str]:
    a, op, b, c = current
    i = step - 1
    if kind == "skip":
        return steps[:i] + steps[i + 1 :]
    if kind == "extra":
        # A computation that cannot be the expected one: its operand differs from b for "+".
        e = rng.choice([x for x in range(1, 10) if not (op == "+" and x == b)])
        return [*steps[:i], format_step(a, "+", e, a + e), *steps[i:]]
    if kind == "malformed":
        return [*steps[:i], rng.choice(_GARBAGE).format(a=a, op=op, b=b, c=c), *steps[i + 1 :]]
    if kind == "answer":
        return [*steps[:i], format_answer(_nudge(c, rng)), *steps[i + 1 :]]
    if kind == "arithmetic":
        replaced = format_step(a, op, b, _nudge(c, rng))
    elif kind == "operand":
        new_b = _nudge(b, rng, low=1)
        replaced = format_step(a, op, new_b, _result_or(a, op, new_b, c))
    else:  # operation
        new_op = rng.choice([o for o in ALL_OPS if o != op])
        replaced = format_step(a, new_op, b, _result_or(a, new_op, b, c))
    return [*steps[:i], replaced, *steps[i + 1 :]]


def _nudge(value: int, rng: random.Random, *, low: int = 0) -> int:
    """A different integer near ``value``, at least ``low``."""
    options = [value + d for d in range(-9, 10) if d != 0 and value + d >= low]
    return rng.choice(options)


def _result_or(a: int, op: str, b: int, fallback: int) -> int:
    """``a op b`` when it is a valid task result (non-negative, exact), else ``fallback``."""
    if (op == "-" and b > a) or (op == "/" and (b == 0 or a % b)):
        return fallback
    return apply(a, op, b)
