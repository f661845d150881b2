"""Interveners: the exact oracle on planted errors, and the model intervener end to end."""

import collections

import pytest

from jaxint import intervene, sampling
from jaxint.data import synthetic
from jaxint.intervene import interveners, parsing, steps
from tests.intervene.conftest import as_attempts, planted

# (planted step, kind) per problem; "answer" is the boxed-answer step; None: a correct attempt.
SPECS = [
    (1, "arithmetic"), (2, "operand"), (2, "operation"), (1, "malformed"), (2, "extra"),
    (1, "skip"), ("answer", "answer"), ("answer", "malformed"), ("answer", "skip"), None,
    (3, "arithmetic"), (3, "malformed"),
]


def oracle_outcomes(problems):
    attempts = planted(problems, SPECS)
    splitter = steps.BlankLineSplitter()
    items = [interveners.Item(p, 0, tuple(splitter.split(a["completion"])))
             for p, a in zip(problems, attempts, strict=True)]
    batch = interveners.OracleIntervener().propose(items, 2)
    return attempts, items, batch


def states_the_answer(problem, step):
    """Whether the correct step ``step`` (1-based) shows the final value: the boxed answer,
    or a computation with the final value as one of its numbers (then the leak rule fires)."""
    correct = problem.solution.split("\n\n")[step - 1]
    parsed = synthetic.parse_step(correct)
    numbers = (parsed[0], parsed[2], parsed[3]) if parsed else (synthetic.parse_answer(correct),)
    return int(problem.answer) in numbers


def test_oracle_targets_are_correct_prefixes(synthetic_problems):
    attempts, items, batch = oracle_outcomes(synthetic_problems)
    outcomes = collections.Counter()
    for attempt, item, texts in zip(attempts, items, batch.texts, strict=True):
        assert len(texts) == 2 and texts[0] == texts[1]
        p = intervene.parse(texts[0], num_steps=len(item.steps), gold_answer=item.problem.answer)
        if attempt["kind"] is None:
            assert p.rejected == "empty_content"
            outcomes["empty"] += 1
            continue
        n_ops = len(item.problem.meta["ops"])
        if attempt["kind"] == "skip" and attempt["step"] == n_ops + 1:
            assert p.rejected == "location_out_of_range"  # the answer is missing: append at N+1
            outcomes["out_of_range"] += 1
            continue
        assert p.location == attempt["step"]
        if states_the_answer(item.problem, attempt["step"]):
            assert p.rejected == "answer_leaked"
            outcomes["leaked"] += 1
            continue
        assert p.accepted, (attempt, p)
        outcomes["accepted"] += 1
        target_steps = synthetic.split_steps(intervene.build_target(item.steps, p.location,
                                                                    p.content))
        check = synthetic.check_steps(item.problem, target_steps)
        # Every step of the target is right; only the rest of the solution is missing.
        assert check.error_kind == "missing_step"
        assert check.first_error == len(target_steps) + 1
    assert outcomes["accepted"] >= 6 and outcomes["leaked"] >= 2, outcomes


def test_oracle_blocks_use_the_parser_format(synthetic_problems):
    _, items, batch = oracle_outcomes(synthetic_problems[:1])
    payload, why = parsing.extract_block(batch.texts[0][0])
    assert why == "" and '"location": 1' in payload


@pytest.fixture(scope="module")
def short_templates(tmp_path_factory):
    """Short templates keep the char-level prompts small (the shipped templates' rendering is
    covered by test_prompts). Turn 1 is padded so that both turns' prompts fall in the same
    cache length (257-504 tokens): with 2 slots, both turns then share one decode compile."""
    root = tmp_path_factory.mktemp("templates")
    (root / "turn1.txt").write_text("You are a teacher. " * 3 + "Solve: $problem\nRef: $reference")
    (root / "turn2.txt").write_text("Find the first error ($num_steps):\n$attempt")
    return str(root)


@pytest.fixture(scope="module")
def model_intervener(tiny_model, char_tokenizer, short_templates):
    cfg = sampling.SamplingConfig(max_new_tokens=8, max_batch_slots=2, chunk_steps=8)
    return interveners.ModelIntervener(tiny_model, char_tokenizer, cfg, seed=1, progress=False,
                                       template_dir=short_templates)


def test_model_intervener_end_to_end(model_intervener, model_problems):
    problems = model_problems[:2]
    attempts = planted(problems, [(1, "arithmetic"), (2, "operand")])
    items = [interveners.Item(p, i, tuple(synthetic.split_steps(a["completion"])))
             for i, (p, a) in enumerate(zip([problems[0], problems[0], problems[1]],
                                            [attempts[0], attempts[0], attempts[1]],
                                            strict=True))]
    batch = model_intervener.propose(items, 2, salt=0)
    assert [len(t) for t in batch.texts] == [2, 2, 2]
    assert [s["problem_id"] for s in batch.solutions] == [problems[0].id, problems[1].id]
    assert all(isinstance(s["solution"], str) for s in batch.solutions)
    assert all(256 < info["prompt_tokens"] <= 504 and info["omitted"] is None
               for info in batch.info)
    assert all(256 < s["prompt_tokens"] <= 504 for s in batch.solutions)
    verdicts = collections.Counter(
        intervene.parse(text, num_steps=len(item.steps), gold_answer=item.problem.answer).rejected
        for item, texts in zip(items, batch.texts, strict=True) for text in texts
    )
    assert sum(verdicts.values()) == 6
    assert set(verdicts) <= set(parsing.REASONS)  # random weights write no valid block
    again = model_intervener.propose(items, 2, salt=0)
    assert again.texts == batch.texts


def test_model_intervener_skips_prompts_over_budget(tiny_model, char_tokenizer,
                                                    synthetic_problems):
    cfg = sampling.SamplingConfig(max_new_tokens=8)
    small = interveners.ModelIntervener(tiny_model, char_tokenizer, cfg, seed=1,
                                        max_prompt_tokens=50, progress=False)
    item = interveners.Item(synthetic_problems[0], 0, ("1 + 1 = 2",))
    batch = small.propose([item], 3)
    assert batch.texts == [[]]
    (info,) = batch.info
    assert info["skipped"] == interveners.PROMPT_TOO_LONG and info["prompt_tokens"] > 50
    assert "intervene.max_prompt_tokens=50" in info["detail"]


def test_turn1_that_cannot_fit_with_its_reply_budget_never_reaches_prefill(
        tiny_model, char_tokenizer, synthetic_problems, tmp_path, monkeypatch):
    """A turn-1 prompt under the budget whose reply budget would overflow it (a 20K-token
    problem under the 30K default, with 16K new tokens) is skipped ``prompt_too_long``
    before any sampling; the stage lists it in intervene/rejects.jsonl and its stats."""
    from jaxint import rundir
    from jaxint.intervene import config as intervene_config
    from jaxint.intervene import prompts
    from jaxint.stages import intervene as stage

    problem = synthetic_problems[0]
    templates = prompts.load_templates(None)
    n = prompts.prompt_tokens(char_tokenizer, prompts.turn1_messages(templates, problem))
    calls = []
    monkeypatch.setattr(sampling, "generate_chat", lambda *a, **k: calls.append(a))
    cfg = intervene_config.InterveneConfig(max_prompt_tokens=n + 10,
                                           sampling=sampling.SamplingConfig(max_new_tokens=64),
                                           proposals_per_attempt=2)
    intervener = stage.make_intervener(cfg, model=tiny_model, tokenizer=char_tokenizer,
                                       progress=False)
    attempts = as_attempts(
        [{"problem_id": problem.id, "sample_index": 0, "completion": "1 + 1 = 2"}])
    summary = stage.run(rundir.RunDir(tmp_path), cfg, problems={problem.id: problem},
                                  attempts=attempts, intervener=intervener, progress=False)
    assert calls == []  # nothing was sampled
    assert summary["skipped_long_prompts"] == 1
    (reject,) = rundir.read_jsonl(tmp_path / "intervene" / "rejects.jsonl")
    assert reject["reason"] == "prompt_too_long" and reject["prompt_tokens"] == n
    assert reject["detail"] == (f"turn-1 prompt has {n} tokens + max_new_tokens=64 > "
                                f"intervene.max_prompt_tokens={n + 10}")
