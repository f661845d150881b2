"""`intervene.leak_rule`: the release's raw substring test (`paper`) against the normalised,
token-boundary rule (`normalized`, the default), on cases where the two disagree."""

from __future__ import annotations

import json

import pytest

from jaxint.intervene import config as intervene_config
from jaxint.intervene import leak, parsing

CASES = [
    # (content, gold, paper rule leaks?, normalized rule leaks?)
    ("So x = 12 is too big; try the other root.", "2", True, False),  # "2" inside "12"
    ("The value is \\dfrac{1}{2} of the total.", "\\frac{1}{2}", False, True),
    ("It comes to 1,024 in all.", "1024", False, True),  # thousands separator
    ("The answer is 7.", "7", True, True),
    ("Try factoring instead.", "7", False, False),
]


@pytest.mark.parametrize("content,gold,paper,normalized", CASES)
def test_rules_hand_checked(content, gold, paper, normalized):
    assert (leak.leaked(content, gold, "paper") is not None) is paper
    assert (leak.leaked(content, gold, "normalized") is not None) is normalized
    assert (leak.leaked(content, gold) is not None) is normalized  # the default


def test_parse_applies_the_rule():
    text = '<intervention>{"content": ' + json.dumps(CASES[0][0]) + ', "location": 1}'
    text += "</intervention>"
    assert parsing.parse(text, num_steps=2, gold_answer="2").accepted
    p = parsing.parse(text, num_steps=2, gold_answer="2", leak_rule="paper")
    assert p.rejected == "answer_leaked"


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="InterveneConfig.leak_rule"):
        intervene_config.InterveneConfig(leak_rule="raw")
    with pytest.raises(ValueError, match="leak rule must be one of"):
        leak.leaked("a", "b", "raw")
    assert intervene_config.InterveneConfig().leak_rule == "normalized"
