"""Steps to tokens: a step starts at the token holding its first character, also when that
token straddles the blank line before it."""

from __future__ import annotations

import numpy as np

from jaxint.train.credit import spans

PIECES = ["4 +", " 3 =", " 7\n", "\n\\box", "ed{7}", ""]  # the last: a special end token
TEXT = "4 + 3 = 7\n\n\\boxed{7}"


def _decode(ids) -> str:
    return "".join(PIECES[i] for i in ids)


def test_a_step_starts_at_the_token_holding_its_first_character():
    """"\\boxed{7}" begins at character 11, inside token 3 ("\\n\\box", characters 10-14)."""
    ids = list(range(len(PIECES)))
    assert spans.char_starts(TEXT, spans.split(TEXT)) == [0, 11]
    assert spans.token_of_char(_decode, ids, 11) == 3
    assert spans.token_of_char(_decode, ids, 100) == len(ids)
    starts = spans.token_starts(_decode, ids, TEXT)
    assert starts == [0, 3]
    np.testing.assert_array_equal(spans.token_steps(len(ids), starts), [0, 0, 0, 1, 1, 1])


def test_a_step_missing_from_the_text_ends_the_list():
    assert spans.char_starts("a\n\nb", ["a", "x", "b"]) == [0]
    assert spans.char_starts("  a\n\nb", ["a", "b"]) == [0, 5]  # leading space: step 0's
