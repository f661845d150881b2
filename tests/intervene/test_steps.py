"""Step splitters and the numbered rendering."""

import pytest

from jaxint.intervene import steps


def test_blank_line_splitter_drops_empty_pieces_and_keeps_text():
    text = "\n\nFirst line\nstill first  \n\n\n\nSecond: x = {1}\n \t\nThird\r\n\r\n  \n"
    assert steps.BlankLineSplitter().split(text) == [
        "First line\nstill first", "Second: x = {1}", "Third",
    ]


def test_blank_line_splitter_on_empty_text():
    assert steps.BlankLineSplitter().split("") == []
    assert steps.BlankLineSplitter().split(" \n\n \n") == []


def test_max_steps_merges_into_balanced_groups():
    text = "\n\n".join(f"p{i}" for i in range(1, 8))
    assert steps.MaxStepsSplitter(3).split(text) == [
        "p1\n\np2\n\np3", "p4\n\np5", "p6\n\np7",
    ]
    assert steps.MaxStepsSplitter(10).split(text) == [f"p{i}" for i in range(1, 8)]
    assert steps.MaxStepsSplitter(1).split(text) == [text]


def test_token_budget_merges_greedily_and_never_cuts_a_piece():
    text = "aaaa\n\nbb\n\ncc\n\ndddddd\n\ne"
    splitter = steps.TokenBudgetSplitter(6, count=len)
    assert splitter.split(text) == ["aaaa\n\nbb", "cc", "dddddd", "e"]
    assert steps.TokenBudgetSplitter(3, count=len).split(text) == [
        "aaaa", "bb", "cc", "dddddd", "e",
    ]


def test_token_budget_counts_with_a_tokenizer(char_tokenizer):
    splitter = steps.make_splitter("token_budget", step_tokens=5, tokenizer=char_tokenizer)
    assert splitter.split("ab\n\ncde\n\nf") == ["ab\n\ncde", "f"]


def test_every_splitter_rejoins_to_the_same_text():
    text = "\n\n".join(f"step {i} with some words" for i in range(20))
    for name in steps.SPLITTERS:
        got = steps.make_splitter(name, max_steps=6, step_tokens=12).split(text)
        assert "\n\n".join(got) == text


def test_make_splitter_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown splitter 'lines'"):
        steps.make_splitter("lines")


def test_render_numbered():
    assert steps.render_numbered(["a", "b\nc"]) == "Substep 1: a\n\nSubstep 2: b\nc"
    assert steps.render_numbered(["x"], first=7) == "Substep 7: x"
