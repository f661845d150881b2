"""SFT targets: exact strings, the SFT segments, and one proposal per attempt."""

import numpy as np
import pytest

from jaxint import intervene
from jaxint.data import chat
from jaxint.intervene import targets

STEPS = ["Let n = 5.", "Then n^2 = 20.", "So the answer is \\boxed{20}."]


def test_first_step():
    assert intervene.build_target(STEPS, 1, "Start by squaring 5.") == "Start by squaring 5."


def test_middle_step():
    assert intervene.build_target(STEPS, 2, "  Squaring gives 5 * 5.\n") == (
        "Let n = 5.\n\nSquaring gives 5 * 5."
    )


def test_last_step_and_newlines_doubled():
    content = "First line.\nSecond line.\n\nThird line."
    assert intervene.build_target(STEPS, 3, content) == (
        "Let n = 5.\n\nThen n^2 = 20.\n\nFirst line.\n\nSecond line.\n\nThird line."
    )


@pytest.mark.parametrize("location", [0, 4, -1])
def test_location_out_of_range_raises(location):
    with pytest.raises(ValueError, match="not in 1..3"):
        intervene.build_target(STEPS, location, "x")


def test_empty_content_raises():
    with pytest.raises(ValueError, match="empty"):
        intervene.build_target(STEPS, 1, " \n ")


def test_target_parts():
    assert targets.target_parts(STEPS, 1, "x") == ("", "x")
    assert targets.target_parts(STEPS, 3, "a\nb") == ("Let n = 5.\n\nThen n^2 = 20.\n\n", "a\n\nb")


@pytest.mark.parametrize("location", [1, 2])
def test_sft_example_has_no_eos_and_trains_the_whole_target(char_tokenizer, location):
    prefix, intervention = targets.target_parts(STEPS, location, "Use 5 * 5 = 25.")
    messages, segments = targets.sft_messages("What is 5^2?", prefix, intervention)
    assert messages == [{"role": "user", "content": "What is 5^2?"}]
    assert [name for name, _, _ in segments] == ["prefix", "intervention"]
    example = chat.render_example(char_tokenizer, messages, segments, add_eos=False)
    target = prefix + intervention
    assert example.text.endswith("<|im_start|>assistant\n" + target)
    assert int(example.loss_mask.sum()) == len(target)  # one token per character
    assert example.tokens[-1] != char_tokenizer.eos_token_id
    assert char_tokenizer.decode(example.segment_tokens("intervention")) == intervention
    assert np.all(example.loss_mask[-len(target):] == 1)


def row(pid, sample, proposal, rejected=None):
    return {"problem_id": pid, "sample_index": sample, "proposal_index": proposal,
            "rejected": rejected}


def test_first_accepted_keeps_one_per_attempt():
    rows = [
        row("b", 0, 0, "no_block"), row("b", 0, 2), row("b", 0, 1),
        row("a", 1, 0), row("a", 1, 1), row("a", 1, 0),
        row("a", 0, 0, "unparseable"), row("a", 0, 1, "answer_leaked"),
    ]
    kept = targets.first_accepted(rows)
    assert [(r["problem_id"], r["sample_index"], r["proposal_index"]) for r in kept] == [
        ("a", 1, 0), ("b", 0, 1),
    ]
