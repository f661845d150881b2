"""The two-turn prompt: templates, and cutting the attempt's middle to fit the token budget."""

import pathlib
import re

import pytest

from jaxint.data import records
from jaxint.intervene import prompts, steps

TEMPLATES = pathlib.Path(prompts.__file__).parent / "templates"
PROBLEM = records.Problem(
    id="p1", problem="Find the sum of the roots of x^2 - 7x + 10 = 0. Costs $5 {each}.",
    answer="7", solution="By Vieta's formulas the sum is 7, so the answer is \\boxed{7}. " * 5,
    source="test",
)
SOLUTION = "The roots are 2 and 5, so the sum is 7."
ATTEMPT = [f"Step text number {i}: " + "word " * 18 for i in range(1, 41)]


def turn2_frame(num_steps):
    """The turn-2 text around the attempt, read from the template file independently."""
    before, after = (TEMPLATES / "turn2.txt").read_text().split("$attempt")
    def fill(text):
        return text.replace("$num_steps", str(num_steps)).replace("$answer", PROBLEM.answer)

    return fill(before), fill(after)


def build(tokenizer, budget, attempt=ATTEMPT):
    return prompts.build_turn2(prompts.load_templates(), tokenizer, PROBLEM, SOLUTION, attempt,
                               max_prompt_tokens=budget)


def test_turn1_holds_problem_and_reference_verbatim_but_not_the_answer():
    """As in the release: the gold answer first appears in turn 2's self-check."""
    problem = records.Problem(id="p", problem="Costs $5 {each}.", answer="ANSWER-TOKEN",
                              solution="Reference text.", source="test")
    [message] = prompts.turn1_messages(prompts.load_templates(), problem)
    assert message["role"] == "user"
    assert message["content"].endswith(
        "# Problem #\nCosts $5 {each}.\n\n# High-Level Oracle Solution #\nReference text.\n")
    assert "ANSWER-TOKEN" not in message["content"]


def test_turn2_self_check_names_the_answer_and_the_attempt_comes_last(char_tokenizer):
    problem = records.Problem(id="p", problem="P?", answer="\\frac{3}{4}",
                              solution="R.", source="test")
    got = prompts.build_turn2(prompts.load_templates(), char_tokenizer, problem, "S.",
                              ["a", "b"], max_prompt_tokens=100_000)
    user = got.messages[2]["content"]
    assert 'oracle solution (i.e., "\\frac{3}{4}") anywhere?' in user
    assert "showing a sketch of the next steps" in user
    assert "detailed guidance on exactly what to try next" in user
    assert user.endswith("# Incorrect Student Attempt #\nSubstep 1: a\n\nSubstep 2: b\n")


def test_no_cut_under_budget(char_tokenizer):
    got = build(char_tokenizer, 100_000)
    before, after = turn2_frame(40)
    assert got.omitted is None and got.clip_chars is None
    assert got.messages[2]["content"] == before + steps.render_numbered(ATTEMPT) + after
    assert got.messages[1] == {"role": "assistant", "content": SOLUTION}
    assert got.num_tokens == len(char_tokenizer.apply_chat_template(
        got.messages, tokenize=True, add_generation_prompt=True)["input_ids"])


def test_cut_keeps_instructions_problem_reference_and_ends_of_the_attempt(char_tokenizer):
    full = build(char_tokenizer, 100_000).num_tokens
    budget = full - 1000  # about 25 of the 40 substeps must go
    got = build(char_tokenizer, budget)
    assert got.num_tokens <= budget
    assert got.num_tokens > budget - 2 * len(steps.render_numbered(ATTEMPT[:1])) - 10
    assert got.messages[:2] == build(char_tokenizer, 100_000).messages[:2]
    before, after = turn2_frame(40)
    user = got.messages[2]["content"]
    assert user.startswith(before) and user.endswith(after)
    attempt = user[len(before): len(user) - len(after)]
    first, last = got.omitted
    assert 1 < first <= last < 40
    expected = "\n\n".join([
        steps.render_numbered(ATTEMPT[: first - 1]),
        f"[... substeps {first}-{last} omitted ...]",
        steps.render_numbered(ATTEMPT[last:], first=last + 1),
    ])
    assert attempt == expected
    shown = [int(n) for n in re.findall(r"Substep (\d+):", attempt)]
    assert shown == list(range(1, first)) + list(range(last + 1, 41))
    assert abs(len(range(1, first)) - len(range(last + 1, 41))) <= 1


def test_a_huge_middle_substep_is_omitted(char_tokenizer):
    attempt = ["Short opening.", "x" * 3000 + "END", "Closing words."]
    full = build(char_tokenizer, 100_000, attempt).num_tokens
    got = build(char_tokenizer, full - 2000, attempt)
    assert got.num_tokens <= full - 2000
    user = got.messages[2]["content"]
    assert got.omitted == (2, 2) and got.clip_chars is None
    assert "Substep 1: Short opening." in user and "Substep 3: Closing words." in user
    assert "[... substep 2 omitted ...]" in user and "END" not in user


def test_a_huge_last_substep_is_clipped_in_its_middle(char_tokenizer):
    attempt = ["Short opening.", "Middle.", "START" + "x" * 3000 + "END"]
    full = build(char_tokenizer, 100_000, attempt).num_tokens
    got = build(char_tokenizer, full - 2000, attempt)
    assert got.num_tokens <= full - 2000
    user = got.messages[2]["content"]
    assert got.omitted == (2, 2) and got.clip_chars is not None
    assert "Substep 3: START" in user and "END" in user and "characters omitted" in user


def test_two_huge_substeps_are_clipped(char_tokenizer):
    attempt = ["a" * 3000 + "TAIL1", "b" * 3000 + "TAIL2"]
    full = build(char_tokenizer, 100_000, attempt).num_tokens
    got = build(char_tokenizer, full - 4000, attempt)
    user = got.messages[2]["content"]
    assert got.num_tokens <= full - 4000 and got.omitted is None
    assert "TAIL1" in user and "TAIL2" in user and "characters omitted" in user


def test_refuses_when_the_fixed_part_alone_is_too_long(char_tokenizer):
    assert build(char_tokenizer, 500) is None


def test_custom_templates(tmp_path):
    (tmp_path / "turn1.txt").write_text("Solve $problem using $reference. Costs $$5.")
    (tmp_path / "turn2.txt").write_text("Attempt ($num_steps):\n$attempt")
    templates = prompts.load_templates(tmp_path)
    [message] = prompts.turn1_messages(templates, PROBLEM)
    assert message["content"] == f"Solve {PROBLEM.problem} using {PROBLEM.solution}. Costs $5."


@pytest.mark.parametrize("turn1, match", [
    ("Solve $problem with $reference for $x now.", r"unknown placeholders \['x'\]"),
    ("Solve $problem.", r"missing \['reference'\]"),
    ("Solve $problem $reference $ 5", "bare"),
])
def test_bad_templates_are_refused(tmp_path, turn1, match):
    (tmp_path / "turn1.txt").write_text(turn1)
    (tmp_path / "turn2.txt").write_text("$attempt")
    with pytest.raises(ValueError, match=match):
        prompts.load_templates(tmp_path)


def test_problem_without_reference_is_refused():
    bare = records.Problem(id="q", problem="?", answer="1", solution=None, source="t")
    with pytest.raises(ValueError, match="no reference solution"):
        prompts.turn1_messages(prompts.load_templates(), bare)


def test_fit_attempt_with_a_simple_length():
    parts = ["aaaa", "bbbb", "cccc", "dddd", "eeee"]
    assert prompts.fit_attempt(len, parts, 83) == (steps.render_numbered(parts), None, None)
    text, omitted, clip = prompts.fit_attempt(len, parts, 82)
    assert omitted == (3, 4) and clip is None
    assert text == "Substep 1: aaaa\n\nSubstep 2: bbbb\n\n[... substeps 3-4 omitted ...]\n\n" \
        "Substep 5: eeee"
    assert prompts.fit_attempt(len, parts, 10) is None
