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
