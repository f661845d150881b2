"""Hostile model output: every input returns within its time bound, with reward 0, no effects.

Bounds: inputs the pre-screen or the size caps reject must be decided in well under a
second; inputs that reach math-verify must end at the time limit (+ a margin for a loaded
2-core machine).
"""

import pathlib
import tempfile
import time
import uuid

import pytest

import jaxint.verify

TIMEOUT_S = 2.0
FAST_S = 1.0  # decided without math-verify
# Stopped by the time limit. In-process, the alarm cannot cut a call into C short, and a
# loaded CI machine stretches such calls, hence the margin; score_batch kills at its limit.
LIMITED_S = TIMEOUT_S + 5.0

BOX = "\\boxed{{{}}}"


def boxed(answer: str) -> str:
    return "Reasoning.\n\n" + BOX.format(answer)


HOSTILE = [
    # (name, completion, gold, expected reason, bound in seconds)
    ("tower4", boxed("9^{9^{9^{9}}}"), "2", "pathological", FAST_S),
    ("tower3", boxed("9^{9^{9}}"), "2", "pathological", FAST_S),
    ("huge_exponent", boxed("10^{100000000}"), "2", "pathological", FAST_S),
    ("factorial", boxed("1000000!"), "2", "pathological", FAST_S),
    ("binomial", boxed("\\binom{1000000}{500000}"), "2", "pathological", FAST_S),
    ("nested_braces_10k", boxed("{" * 10_000 + "1" + "}" * 10_000), "1", "pathological", FAST_S),
    ("nested_parens_10k", boxed("(" * 10_000 + "1" + ")" * 10_000), "1", "too_long", FAST_S),
    ("nested_parens_200", boxed("(" * 200 + "1" + ")" * 200), "1", "pathological", FAST_S),
    ("nested_sqrt_50", boxed("\\sqrt{" * 50 + "2" + "}" * 50), "2", "pathological", FAST_S),
    ("braces_no_box", "{" * 10_000 + "1" + "}" * 10_000, "1", "no_box", FAST_S),
    ("sum_300_terms", boxed("+".join(["1"] * 300)), "300", "pathological", FAST_S),
    ("sum_50k_terms", boxed("+".join(["1"] * 50_000)), "50000", "too_long", FAST_S),
    ("completion_2mb", "x" * 2_000_000 + boxed("2"), "2", "too_long", FAST_S),
    ("box_2mb", "\\boxed{" + "1" * 2_000_000 + "}", "1", "too_long", FAST_S),
    ("boxes_100k_unclosed", "\\boxed{" * 100_000, "1", "unbalanced", FAST_S),
    ("boxes_100k_decoys", "\\boxedx{1}" * 100_000, "1", "no_box", FAST_S),
    ("boxes_100k", "\\boxed{1}" * 100_000, "2", "wrong", FAST_S),
    ("hedge", boxed("1 \\text{ or } 2 \\text{ or } 3"), "2", "hedged", FAST_S),
    ("binomial_expansion", boxed("(x+1)^{1000}"), "2", "timeout", LIMITED_S),
]


def _payload() -> tuple[str, pathlib.Path]:
    target = pathlib.Path(tempfile.gettempdir()) / f"PWNED_{uuid.uuid4().hex}"
    return boxed(f"__import__('os').system('touch {target}')"), target


@pytest.mark.parametrize(
    ("completion", "gold", "reason", "bound"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_in_process(completion, gold, reason, bound):
    started = time.monotonic()
    result = jaxint.verify.score(completion, gold, timeout_s=TIMEOUT_S)
    elapsed = time.monotonic() - started
    assert (result.reward, result.reason) == (0.0, reason)
    assert elapsed < bound


def test_hostile_through_workers():
    code, target = _payload()
    cases = [case[1:3] for case in HOSTILE] + [(code, "0")]
    jaxint.verify.score_batch([(boxed("1/2"), "0.5")], num_workers=2)  # pool start-up, untimed
    started = time.monotonic()
    results = jaxint.verify.score_batch(cases, timeout_s=TIMEOUT_S, num_workers=2)
    elapsed = time.monotonic() - started
    assert [r.reason for r in results[:-1]] == [case[3] for case in HOSTILE]
    assert all(r.reward == 0.0 for r in results)
    # Only one item needs the limit (the parent kills at 1.1 * limit + grace); the rest are
    # decided in the parent or quickly.
    assert elapsed < 1.1 * TIMEOUT_S + 1.0 + 5.0
    assert not target.exists()


def test_code_payload_is_never_executed():
    code, target = _payload()
    result = jaxint.verify.score(code, "0", timeout_s=TIMEOUT_S)
    assert result.reward == 0.0
    assert not target.exists()


def test_legitimate_powers_and_factorials_are_not_screened_out():
    for answer, gold in [("2^{10}", "1024"), ("2^{2024}", "2^{2024}"), ("5!", "120")]:
        assert jaxint.verify.score(boxed(answer), gold, timeout_s=TIMEOUT_S).reward == 1.0
