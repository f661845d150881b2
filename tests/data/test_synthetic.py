"""The synthetic arithmetic task: generator, exact checker, planted errors."""

import operator
import random
import re
import time

import pytest

from jaxint.data import records, synthetic

# The brief's example, solved by hand: 17 + 25 = 42; 42 * 3 = 126; 126 - 12 = 114.
HAND = records.Problem(
    id="hand",
    problem="Start with 17. Add 25, then multiply by 3, then subtract 12. What number do you get?",
    answer="114",
    solution="17 + 25 = 42\n\n42 * 3 = 126\n\n126 - 12 = 114\n\n\\boxed{114}",
    source="synthetic",
    meta={"start": 17, "ops": [["+", 25], ["*", 3], ["-", 12]]},
)
PYTHON_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.floordiv}
S1, S2, S3, BOX = "17 + 25 = 42", "42 * 3 = 126", "126 - 12 = 114", "\\boxed{114}"


def steps(*pieces):
    return "\n\n".join(pieces)


def test_reference_solution_matches_hand_solution():
    assert synthetic.reference_steps(17, HAND.meta["ops"]) == [S1, S2, S3, BOX]
    assert synthetic.check_attempt(HAND, HAND.solution).correct


# (attempt, first_error, error_kind, replacement)
ATTEMPTS = [
    (steps(S1, S2, S3, BOX), None, None, None),
    (steps("17+25=42", "42 × 3 = 126", "126 − 12 = 114", "\\boxed{ 114 }"), None, None, None),
    ("17 + 25 = 42\r\n\r\n42 * 3 = 126\n \n\n126 - 12 = 114\n\n\n\\boxed{114}\n", None, None, None),
    (
        steps("17 + 25 = 43", "43 * 3 = 129", "129 - 12 = 117", "\\boxed{117}"),
        1,
        "wrong_arithmetic",
        S1,
    ),
    (steps("18 + 25 = 43"), 1, "wrong_start", S1),
    (steps("17 plus 25 is 42", S2), 1, "malformed", S1),
    (steps(S1, "42 - 12 = 30", "\\boxed{30}"), 2, "skipped_operation", S2),
    (steps(S1, "42 * 4 = 168"), 2, "wrong_operand", S2),
    (steps(S1, "42 + 3 = 45"), 2, "wrong_operation", S2),
    (steps(S1, "\\boxed{42}"), 2, "early_answer", S2),
    (steps(S1, S2, S3), 4, "missing_step", BOX),
    ("", 1, "missing_step", S1),
    (steps(S1, S2, S3, "\\boxed{115}"), 4, "wrong_answer", BOX),
    (steps(S1, S2, S3, "114 + 1 = 115", "\\boxed{115}"), 4, "extra_operation", BOX),
    (steps(S1, S2, S3, "The answer is 114."), 4, "malformed", BOX),
    (steps(S1, S2, S3, BOX, "Done."), 5, "extra_step", None),
    (steps(S1, "٤٢ * 3 = 126"), 2, "malformed", S2),  # non-ASCII digits are not numbers here
]


@pytest.mark.parametrize(("attempt", "first_error", "kind", "replacement"), ATTEMPTS)
def test_checker_on_hand_written_attempts(attempt, first_error, kind, replacement):
    result = synthetic.check_attempt(HAND, attempt)
    assert (result.first_error, result.error_kind, result.replacement) == (
        first_error,
        kind,
        replacement,
    )
    assert result.correct == (first_error is None)
    assert result.expected_num_steps == 4
    assert (result.reason == "") == result.correct


def test_generator_is_deterministic_by_seed_and_index():
    a = synthetic.make_problems(30, seed=3, num_steps=(2, 5))
    assert a == synthetic.make_problems(30, seed=3, num_steps=(2, 5))
    assert a[:10] == synthetic.make_problems(10, seed=3, num_steps=(2, 5))
    b = synthetic.make_problems(30, seed=4, num_steps=(2, 5))
    assert [p.problem for p in a] != [p.problem for p in b]
    assert len({p.id for p in a}) == 30


@pytest.mark.parametrize("ops", [("+", "-", "*"), ("+", "-", "*", "/"), ("/", "*")])
def test_generated_problems_are_consistent_and_bounded(ops):
    for p in synthetic.make_problems(100, seed=11, num_steps=4, max_digits=2, ops=ops):
        value = p.meta["start"]
        assert 1 <= value <= 99 and str(value) in p.problem
        for op, operand in p.meta["ops"]:
            assert op in ops and str(operand) in p.problem
            if op == "/":
                assert value % operand == 0
            value = PYTHON_OPS[op](value, operand)  # independent recomputation
            assert 0 <= value < 1000
        assert p.answer == str(value) and p.source == "synthetic"
        assert p.solution.split("\n\n")[-1] == f"\\boxed{{{value}}}"
        assert len(p.solution.split("\n\n")) == 5
        assert re.fullmatch(
            r"(Start with|Begin with the number|Take the number) \d+\. .+\?", p.problem
        )
        assert synthetic.check_attempt(p, p.solution).correct


def test_difficulty_knobs():
    problems = synthetic.make_problems(50, seed=0, num_steps=(1, 6), max_digits=1, ops=("+",))
    assert {len(p.meta["ops"]) for p in problems} == set(range(1, 7))
    assert all(all(b <= 9 for _, b in p.meta["ops"]) for p in problems)
    with pytest.raises(ValueError, match="ops"):
        synthetic.make_problems(1, seed=0, ops=("^",))
    with pytest.raises(ValueError, match="num_steps"):
        synthetic.make_problems(1, seed=0, num_steps=0)


def test_checker_finds_planted_errors_exactly_and_replacement_fixes_prefix():
    problems = synthetic.make_problems(60, seed=5, num_steps=(1, 5), ops=synthetic.ALL_OPS)
    kinds_seen = set()
    for seed in range(600):
        rng = random.Random(seed)
        problem = problems[seed % len(problems)]
        planted = synthetic.corrupt(problem.solution, rng)
        result = synthetic.check_attempt(problem, planted.text)
        assert not result.correct and result.first_error == planted.step, (planted, result)
        kinds_seen.add(planted.kind)
        assert_replacement_fixes_prefix(problem, planted.text, result)
    assert kinds_seen == {
        "arithmetic",
        "operand",
        "operation",
        "skip",
        "extra",
        "malformed",
        "answer",
    }


def assert_replacement_fixes_prefix(problem, attempt, result):
    k = result.first_error
    prefix = synthetic.split_steps(attempt)[: k - 1]
    if result.replacement is None:  # an extra step after the answer: the prefix is complete
        assert synthetic.check_steps(problem, prefix).correct
        return
    fixed = synthetic.check_steps(problem, [*prefix, result.replacement])
    n = len(problem.meta["ops"]) + 1
    if k == n:
        assert fixed.correct
    else:
        assert (fixed.first_error, fixed.error_kind) == (k + 1, "missing_step")


@pytest.mark.parametrize(
    "kind", ["arithmetic", "operand", "operation", "skip", "extra", "malformed"]
)
def test_each_kind_at_each_computation_step(kind):
    for index, problem in enumerate(
        synthetic.make_problems(20, seed=9, num_steps=4, ops=synthetic.ALL_OPS)
    ):
        for step in range(1, 5):
            planted = synthetic.corrupt(
                problem.solution, random.Random(index), step=step, kind=kind
            )
            assert planted.text != problem.solution
            assert synthetic.check_attempt(problem, planted.text).first_error == step


@pytest.mark.parametrize(
    ("kind", "step", "expected_kind"),
    [
        ("answer", 4, "wrong_answer"),
        ("skip", 4, "missing_step"),
        ("extra", 4, "extra_operation"),
        ("malformed", 4, "malformed"),
        ("extra", 5, "extra_step"),
    ],
)
def test_final_step_corruptions(kind, step, expected_kind):
    planted = synthetic.corrupt(HAND.solution, random.Random(0), step=step, kind=kind)
    result = synthetic.check_attempt(HAND, planted.text)
    assert (result.first_error, result.error_kind) == (step, expected_kind)


def test_corrupt_rejects_bad_requests():
    with pytest.raises(ValueError, match="canonical"):
        synthetic.corrupt("no steps here", random.Random(0))
    with pytest.raises(ValueError, match="answer"):
        synthetic.corrupt(HAND.solution, random.Random(0), step=1, kind="answer")


def test_hostile_attempts_are_fast_and_rejected():
    hostile = [
        "9" * 1_000_000,
        "9" * 5000 + " + 1 = " + "9" * 5000,
        "17" + " " * 100_000 + "+ 25 = 42",
        ("(" * 10_000) + "\n\n" * 50_000,
        "__import__('os').system('touch /tmp/pwned')\n\n\\boxed{114}",
    ]
    start = time.perf_counter()
    for attempt in hostile:
        result = synthetic.check_attempt(HAND, attempt)
        assert not result.correct and result.first_error == 1
    assert time.perf_counter() - start < 2.0


def test_non_synthetic_problem_is_an_error():
    plain = records.Problem("x", "What is 1+1?", "2", None, "toy", {})
    with pytest.raises(ValueError, match="synthetic"):
        synthetic.check_attempt(plain, "1 + 1 = 2")


# ----------------------------------------------------------------------------- trap kinds
TRAP_KNOBS = dict(num_steps=(2, 4), max_digits=1, max_value=100, max_start=99)


def _trap_steps(problem):
    """(a, op, b, c) of the trap step as the problem's own solution writes it."""
    step = problem.meta["trap_step"]
    return synthetic.parse_step(synthetic.split_steps(problem.solution)[step - 1])


def test_corpus_reading_computes_every_trap_step_the_same_wrong_way():
    corpus = synthetic.make_problems(200, seed=7, trap_fraction=1.0, reading="corpus",
                                     **TRAP_KNOBS)
    for p in corpus:
        a, op, b, c = _trap_steps(p)
        assert "lower it by" in p.problem.lower() and op == "+" and c == a + b  # always +


def test_gold_reading_and_oracle_apply_the_meaning_of_the_trap_phrase():
    gold = synthetic.make_problems(200, seed=7, trap_fraction=1.0, **TRAP_KNOBS)
    for p in gold:
        a, op, b, c = _trap_steps(p)
        assert op == "-" and c == a - b  # "lower it by b" means subtract
        # The corpus's way of solving it: the trap step as addition, then the rest right
        # from the wrong value. The oracle blames exactly the trap step and writes a - b.
        steps = synthetic.split_steps(p.solution)
        k = p.meta["trap_step"]
        wrong = steps[: k - 1] + [synthetic.format_step(a, "+", b, a + b)]
        check = synthetic.check_steps(p, wrong)
        assert check.first_error == k
        # (`skipped_operation` when the next operation happens to be "+ b")
        assert check.error_kind in ("wrong_operation", "skipped_operation")
        assert check.replacement == f"{a} - {b} = {a - b}"
        assert synthetic.check_attempt(p, p.solution).correct


def test_trap_step_is_never_the_last_operation_and_fraction_is_exact():
    problems = synthetic.make_problems(101, seed=2, trap_fraction=0.5, **TRAP_KNOBS)
    traps = [p for p in problems if p.meta["trap"]]
    assert len(traps) == round(101 * 0.5)
    for p in traps:
        assert 1 <= p.meta["trap_step"] < len(p.meta["ops"])
        assert p.meta["kinds"].count("lower") == 1
        assert p.meta["kinds"][p.meta["trap_step"] - 1] == "lower"
    for p in problems:
        if not p.meta["trap"]:
            assert set(p.meta["kinds"]) == {"plain"} and "lower" not in p.problem.lower()


def test_plain_streams_are_unchanged_by_the_trap_knobs():
    # trap_fraction 0 and the default reading draw exactly the round-1 problems.
    assert [p.problem for p in synthetic.make_problems(20, seed=3)] == [
        p.problem for p in synthetic.make_problems(20, seed=3, trap_fraction=0.0)]


def test_trap_knob_errors_name_the_knob():
    with pytest.raises(ValueError, match="num_steps >= 2"):
        synthetic.make_problem(0, seed=0, num_steps=1, trap="lower")
    with pytest.raises(ValueError, match="unknown trap kind"):
        synthetic.make_problem(0, seed=0, trap="nope")
    with pytest.raises(ValueError, match="reading"):
        synthetic.make_problem(0, seed=0, reading="wrong")


def test_prose_solution_is_correct_and_unlike_the_step_format():
    p = HAND
    text = synthetic.prose_solution(p)
    assert text.endswith("\\boxed{114}.") and "42" in text and "126" in text
    assert synthetic.parse_step(synthetic.split_steps(text)[0]) is None  # no "a op b = c"


@pytest.mark.parametrize("name", sorted(synthetic.TRAP_KINDS))
def test_every_trap_kind_corpus_is_consistently_wrong_and_gold_right(name):
    kind = synthetic.TRAP_KINDS[name]
    assert kind.true_op != kind.corpus_op
    phrase = kind.phrases[0].split("{")[0].strip()
    for reading, op in (("corpus", kind.corpus_op), ("true", kind.true_op)):
        for p in synthetic.make_problems(100, seed=5, trap_fraction=1.0, trap_kind=name,
                                         reading=reading, **TRAP_KNOBS):
            a, got, b, c = _trap_steps(p)
            assert phrase in p.problem.lower() and got == op
            assert c == synthetic.apply(a, op, b)


@pytest.mark.parametrize("name", sorted(synthetic.TRAP_KINDS))
def test_a_trap_steps_two_readings_are_at_least_two_apart(name):
    # "cut it by 2" at 4: 4 - 2 = 4 / 2 would hide the misreading; "cut it by 3" at 3 (0 vs 1)
    # let outcome RL reward an off-by-one slip later in the chain.
    kind = synthetic.TRAP_KINDS[name]
    for p in synthetic.make_problems(300, seed=2, trap_fraction=1.0, trap_kind=name,
                                     num_steps=3, max_digits=1, max_value=100, max_start=9):
        a, _, b, _ = _trap_steps(p)
        gap = abs(synthetic.apply(a, kind.true_op, b) - synthetic.apply(a, kind.corpus_op, b))
        assert gap >= 2, (p.problem, a, b)
