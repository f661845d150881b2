"""The proposal parser on realistic, broken and hostile intervener replies."""

import json
import time

import pytest

from jaxint import intervene
from jaxint.intervene import parsing

LOG = """**Verification log**

Substep 1: "We need the sum of the roots." Correct; the reference says "by Vieta, the sum
is $-b/a$".

Substep 2: "So $x_1 + x_2 = 5$." Incorrect: the reference computes $-(-7)/1 = 7$.

**First critical error**: Substep 2 (a sign error that is never repaired).

**Self-check**: the draft does not contain the final answer; the location is the first error.

"""


def parse(text, num_steps=5, gold="42"):
    return intervene.parse(text, num_steps=num_steps, gold_answer=gold)


def test_well_formed_reply():
    text = LOG + '<intervention>{"content": "By Vieta, the sum is -b/a, so with b = -7 it is '
    text += 'positive.", "location": 2}</intervention>'
    p = parse(text)
    assert p.accepted and p.rejected is None
    assert p.location == 2
    assert p.content == "By Vieta, the sum is -b/a, so with b = -7 it is positive."


def test_text_after_the_block_is_ignored():
    p = parse('<intervention>{"content": "Try it.", "location": 1}</intervention>\nGood luck!')
    assert (p.content, p.location) == ("Try it.", 1)


def test_the_last_block_wins():
    text = (
        'Draft: <intervention>{"content": "Draft one.", "location": 1}</intervention>\n'
        'Revised: <intervention>{"content": "Final one.", "location": 3}</intervention>'
    )
    p = parse(text)
    assert (p.content, p.location) == ("Final one.", 3)


def test_unescaped_latex_backslashes_are_kept_literally():
    # json.loads alone would read \f, \t, \n, \b, \r here as control characters.
    text = (r'<intervention>{"content": "Use \frac{a}{b}, \theta \neq 0, \boxed{} style, '
            r'\right) and \sqrt{2}.", "location": 2}</intervention>')
    assert parse(text).content == (
        r"Use \frac{a}{b}, \theta \neq 0, \boxed{} style, \right) and \sqrt{2}."
    )


def test_properly_escaped_json_is_read_as_json():
    text = (r'<intervention>{"content": "First \\frac{1}{x}.\nThen \"this\" \u00e9.", '
            r'"location": 1}</intervention>')
    assert parse(text).content == 'First \\frac{1}{x}.\nThen "this" \u00e9.'


def test_raw_newlines_inside_the_string():
    p = parse('<intervention>{"content": "Line one.\nLine two.", "location": "2"}</intervention>')
    assert (p.content, p.location) == ("Line one.\nLine two.", 2)


@pytest.mark.parametrize("payload, content, location", [
    ("{'content': 'Let's use the student's idea', 'location': '3'}",
     "Let's use the student's idea", 3),
    ('{"content": "Try the parity argument.", "location": 4,}', "Try the parity argument.", 4),
    ('{content: "Bare keys work.", location: 2}', "Bare keys work.", 2),
    ("{\u201ccontent\u201d: \u201cSmart quotes.\u201d, \u201clocation\u201d: 1}",
     "Smart quotes.", 1),
    ('{"content": "Call it the "key" lemma first", "location": 2}',
     'Call it the "key" lemma first', 2),
    ('{"content": "He said "yes", then stopped", "location": 1}', 'He said "yes", then stopped', 1),
    ('{"location": 2, "content": "Location first, "quoted", fine"}',
     'Location first, "quoted", fine', 2),
    ('```json\n{"content": "Fenced.", "location": 1}\n```', "Fenced.", 1),
    ('{"content": "Then a note.", "location": 2} (see {above})', "Then a note.", 2),
    ('{"Content": "Capitalised keys.", "Location": 2}', "Capitalised keys.", 2),
    ('{"content": "Substep 2: Label copied.", "location": 2}', "Label copied.", 2),
])
def test_broken_json_is_repaired(payload, content, location):
    p = parse(f"<intervention>{payload}</intervention>")
    assert p.accepted, p
    assert (p.content, p.location) == (content, location)


@pytest.mark.parametrize("location, expected", [
    (3, 3), ("3", 3), (3.0, 3), ('" 3 "', 3), ('"Substep 3"', 3), ('"step #3"', 3), ('"3.0"', 3),
])
def test_location_forms(location, expected):
    loc = location if isinstance(location, str) else repr(location)
    p = parse(f'<intervention>{{"content": "x", "location": {loc}}}</intervention>')
    assert p.accepted and p.location == expected


@pytest.mark.parametrize("location", ["2.5", '"three"', "true", "[3]", '"3-4"', "null", '"-1"'])
def test_non_integer_locations_are_unparseable(location):
    p = parse(f'<intervention>{{"content": "x", "location": {location}}}</intervention>')
    assert p.rejected == "unparseable"


@pytest.mark.parametrize("location", ["0", "6", "-1", "999999999"])
def test_locations_outside_the_attempt(location):
    p = parse(f'<intervention>{{"content": "x", "location": {location}}}</intervention>')
    assert p.rejected == "location_out_of_range"
    assert p.location == int(location)


@pytest.mark.parametrize("payload, reason", [
    ('{"location": 2}', "unparseable"),
    ('{"content": "No location."}', "unparseable"),
    ('{"content": 7, "location": 2}', "unparseable"),
    ('{"content": "", "location": 0}', "empty_content"),
    ('{"content": "   ", "location": 2}', "empty_content"),
    ('{"content": null}', "empty_content"),
    ('{"content": ""}', "empty_content"),
    ("not json at all", "unparseable"),
    ("[1, 2]", "unparseable"),
    ("", "unparseable"),
])
def test_missing_or_empty_fields(payload, reason):
    assert parse(f"<intervention>{payload}</intervention>").rejected == reason


def test_missing_closing_tag_at_the_end():
    p = parse(LOG + '<intervention>{"content": "Almost done.", "location": 2}\n')
    assert (p.content, p.location) == ("Almost done.", 2)
    cut = parse(LOG + '<intervention>{"content": "The reply was cut off he')
    assert cut.rejected == "unparseable"


def test_no_block():
    assert parse("I would write an intervention here.").rejected == "no_block"
    assert parse("").rejected == "no_block"


def test_tags_are_case_and_space_insensitive():
    p = parse('<Intervention >{"content": "ok", "location": 1}</ INTERVENTION>')
    assert p.accepted and p.content == "ok"


def test_answer_leak_is_rejected():
    p = parse('<intervention>{"content": "So the total is 42.", "location": 2}</intervention>')
    assert p.rejected == "answer_leaked" and p.location == 2


def test_huge_block_is_refused_quickly():
    start = time.perf_counter()
    big = '{"content": "' + "a" * 100_000 + '", "location": 1}'
    assert parse(f"<intervention>{big}</intervention>").rejected == "unparseable"
    # The opening tag of a megabyte block lies outside the scanned tail.
    huge = '{"content": "' + "a" * 1_000_000 + '", "location": 1}'
    assert parse(f"<intervention>{huge}</intervention>").rejected == "no_block"
    assert time.perf_counter() - start < 0.5


def test_huge_reply_only_its_tail_is_scanned():
    block = '<intervention>{"content": "Tail block.", "location": 1}</intervention>'
    start = time.perf_counter()
    assert parse("< intervention " * 400_000 + block).content == "Tail block."
    early = block + "x" * (parsing.MAX_SCAN_CHARS + 10)
    assert parse(early).rejected == "no_block"
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("filler", [
    '"' * 19_000, "\\" * 19_000, "{" * 19_000, "'," * 9_500, " " * 19_000 + "'",
    '\\n"' * 6_000, "\u201c" * 19_000, "content: " * 2_000,
])
def test_hostile_payloads_under_the_cap_are_fast(filler):
    start = time.perf_counter()
    p = parse(f'<intervention>{{"content": {filler}, "location": 1}}</intervention>')
    assert p.rejected in parsing.REASONS or p.accepted
    assert time.perf_counter() - start < 1.0


def test_to_location():
    assert parsing.to_location(True) is None
    assert parsing.to_location(float("inf")) is None
    assert parsing.to_location("x" * 100) is None


# ----------------------------------------------------------------------------- template echoes
# Qwen2.5-Coder-0.5B-Instruct's real reply ended with the block's own placeholder.
ECHOES = [
    "the revised intervention step",
    "The revised intervention step.",
    "[The Revised Intervention Step]",
    "Substep 2: the revised intervention step",
    "Write the content of the intervention step from the student's perspective.",
    "You should frame the intervention step in a way that does not give away the exact "
    "answer, so that the student can still learn from the error.",
    # fixed text around a substituted value (num_steps = 5) is still an echo
    "Here K is the number of the substep before which the intervention step is inserted "
    "(an integer from 1 to 5).",
    "Verification log",
    "Your task is to solve the problem step-by-step guided by the high-level reference "
    "solution.",
]
CORRECTIONS = [
    "By Vieta, the sum is -b/a, so with b = -7 it is positive.",
    "Since 3x + 5 = 20, subtract 5 from both sides first to get 3x = 15.",
    "I should check the reference solution's first step: the sum of the roots is -b/a.",
    "Wait, the area of a triangle is half of base times height, not base times height.",
    "x = 7 makes the left side 26, so I made a sign error; let me redo the subtraction.",
    "Let me verify this step: the student is wrong to cancel the 3, the correct path is to "
    "distribute it first.",
]


def _block(content: str, location: int = 2) -> str:
    return LOG + '<intervention>{"content": ' + json.dumps(content) + f', "location": {location}}}'


@pytest.mark.parametrize("content", ECHOES)
def test_template_echoes_are_rejected(content):
    p = parse(_block(content) + "</intervention>")
    assert p.rejected == "template_echo" and not p.accepted, p
    assert p.location == 2 and p.content


def test_the_observed_placeholder_reply_is_rejected_even_with_an_unfilled_location():
    p = parse(LOG + '<intervention>{"content": "the revised intervention step", "location": K}'
              "</intervention>")
    assert p.rejected == "template_echo"


@pytest.mark.parametrize("content", CORRECTIONS)
def test_real_corrections_are_still_accepted(content):
    p = parse(_block(content) + "</intervention>")
    assert p.accepted and p.content == content and p.location == 2


def test_echoes_are_judged_against_the_templates_in_use(tmp_path):
    """A custom template's fixed text is an echo; the shipped placeholder no longer is."""
    from jaxint.intervene import prompts

    (tmp_path / "turn1.txt").write_text("Problem: $problem\nReference: $reference\n")
    (tmp_path / "turn2.txt").write_text(
        "Attempt:\n$attempt\nReply with <intervention>{\"content\": \"a better step goes here\", "
        "\"location\": K}</intervention> for one of $num_steps substeps.\n")
    custom = prompts.load_templates(tmp_path)
    text = _block("A better step goes here") + "</intervention>"
    assert intervene.parse(text, num_steps=5, gold_answer="42",
                           templates=custom).rejected == "template_echo"
    shipped_placeholder = _block("the revised intervention step") + "</intervention>"
    assert intervene.parse(shipped_placeholder, num_steps=5, gold_answer="42",
                           templates=custom).accepted
    assert parse(text).accepted  # against the shipped templates it is a real sentence


def test_echo_check_is_fast_on_a_long_content():
    content = " ".join(["the revised intervention step"] * 1200)[: parsing.MAX_BLOCK_CHARS - 64]
    start = time.perf_counter()
    p = parse(_block(content) + "</intervention>")
    assert p.rejected == "template_echo" and time.perf_counter() - start < 0.5
