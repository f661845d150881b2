"""The continuation filter and the conditioning measurement with a tiny random model.

Random weights never write a ``\\boxed{}`` in 8 characters, so the expected counts are known
without running the model: a target that already ends with the correct boxed answer scores
every continuation correct (the full response is scored), any other target none.
"""

import dataclasses
import json

import pytest

from jaxint import intervene, rundir, sample_score, sampling
from jaxint.data import chat
from jaxint.data import records as records_lib
from jaxint.intervene import conditioning, filter, interveners, proposals
from jaxint.intervene import config as intervene_config
from jaxint.intervene import steps as steps_lib
from jaxint.stages import filter as filter_stage
from tests.intervene.conftest import planted

N = 4
SPECS = [("answer", "answer"), (1, "arithmetic"), ("answer", "malformed"), (2, "operand")]


@pytest.mark.parametrize("num_correct, min_correct, kept", [
    (0, 1, False), (1, 1, True), (5, 1, True), (2, 3, False), (3, 3, True), (0, 0, True),
])
def test_keep_rule(num_correct, min_correct, kept):
    assert filter.keep(num_correct, min_correct) is kept


def oracle_records(problems):
    """Intervention records from oracle proposals, leak check off (so some targets end with
    the boxed answer), and whether each target already holds the correct answer."""
    attempts = planted(problems, SPECS)
    records, solved = [], []
    for problem, attempt in zip(problems, attempts, strict=True):
        steps = steps_lib.BlankLineSplitter().split(attempt["completion"])
        item = interveners.Item(problem, 0, tuple(steps))
        text = interveners.OracleIntervener().propose([item], 1).texts[0][0]
        p = intervene.parse(text, num_steps=len(steps), gold_answer=None)
        target = intervene.build_target(steps, p.location, p.content)
        record = proposals.from_row({"problem_id": problem.id, "sample_index": 0,
                                     "location": p.location, "content": p.content,
                                     "steps": steps})
        assert record.target == target  # the stored target is the one build_target makes
        records.append(record)
        solved.append(target.endswith(f"\\boxed{{{problem.answer}}}"))
    return records, solved


def test_continuation_prompt_is_the_sft_prefix(char_tokenizer):
    request = sample_score.Request("What is 2+2?", "First, 2+2", "4")
    example = chat.render_example(char_tokenizer, [{"role": "user", "content": "What is 2+2?"}],
                                  [("response", "First, 2+2", True)], add_eos=False)
    assert sample_score.prompt_ids(char_tokenizer, request) == example.tokens.tolist()


def filter_cfg(**overrides):
    return intervene_config.FilterConfig(
        num_samples=N, min_correct=1, shard_size=4, score_workers=1,
        sampling=dataclasses.replace(BASE, max_new_tokens=8), **overrides)


# One fill of all 4 x N samples: every call below compiles (or reuses) the same shapes.
BASE = sampling.SamplingConfig(max_batch_slots=4 * N, chunk_steps=8)


def test_filter_stage_bookkeeping_and_resume(tmp_path, tiny_model, char_tokenizer,
                                             model_problems):
    problems = model_problems
    records, solved = oracle_records(problems)
    assert sum(solved) == 2
    by_id = {p.id: p for p in problems}
    summary = filter_stage.run(rundir.RunDir(tmp_path), filter_cfg(), problems=by_id,
                               interventions=records, model=tiny_model, tokenizer=char_tokenizer,
                               progress=False)
    rows = list(rundir.Shards(tmp_path / "filter", "shard").read())
    assert len(rows) == len(records)
    for is_solved, row in zip(solved, rows, strict=True):
        assert row["num_samples"] == N and len(row["rewards"]) == N
        assert row["num_correct"] == sum(row["rewards"]) == (N if is_solved else 0)
        assert row["kept"] is (row["num_correct"] >= 1)
    kept = list(rundir.read_jsonl(tmp_path / "filter" / "kept.jsonl"))
    assert [r["problem_id"] for r in kept] == [
        r.problem_id for r, ok in zip(records, solved, strict=True) if ok]
    assert all(r["target"] == r["prefix"] + r["intervention"] for r in kept)
    assert all(r["num_correct"] == N and r["num_samples"] == N for r in kept)
    assert summary["kept"] == 2 and summary["mean_accuracy"] == pytest.approx(2 / len(records))
    # All shards are done: a rerun reads them back and never touches the model.
    again = filter_stage.run(rundir.RunDir(tmp_path), filter_cfg(), problems=by_id,
                             interventions=records, model=None, tokenizer=char_tokenizer,
                             progress=False)
    assert again == summary
    assert json.loads((tmp_path / "filter" / "stats.json").read_text()) == summary


def test_filter_skips_targets_over_max_prompt_tokens(tmp_path, tiny_model, char_tokenizer,
                                                     model_problems, monkeypatch):
    """A target whose prompt exceeds ``filter.max_prompt_tokens`` is never sampled (not kept,
    even if it already holds the answer); the reason is in its row, rejects.jsonl, stats."""
    records, solved = oracle_records(model_problems)
    long = solved.index(True)
    records[long] = dataclasses.replace(records[long], prefix="x" * 300 + records[long].prefix)
    by_id = {p.id: p for p in model_problems}
    lengths = [len(sample_score.prompt_ids(char_tokenizer, sample_score.Request(
        by_id[r.problem_id].problem, r.target, ""))) for r in records]
    limit = max(n for i, n in enumerate(lengths) if i != long)
    assert lengths[long] > limit
    seen = []
    real = sampling.generate
    monkeypatch.setattr(sampling, "generate", lambda model, prompts, *a, **k: (
        seen.extend(len(p) for p in prompts), real(model, prompts, *a, **k))[1])
    summary = filter_stage.run(rundir.RunDir(tmp_path), filter_cfg(max_prompt_tokens=limit),
                               problems=by_id, interventions=records, model=tiny_model,
                               tokenizer=char_tokenizer, progress=False)
    assert max(seen) <= limit and len(seen) == len(records) - 1
    row = list(rundir.Shards(tmp_path / "filter", "shard").read())[long]
    assert row["rejected"] == "prompt_too_long" and row["kept"] is False
    assert row["num_samples"] == 0 and row["prompt_tokens"] == lengths[long]
    (reject,) = rundir.read_jsonl(tmp_path / "filter" / "rejects.jsonl")
    assert reject["detail"] == (f"prompt has {lengths[long]} tokens > "
                                f"filter.max_prompt_tokens={limit}")
    assert summary["skipped_long_prompts"] == 1 and summary["kept"] == 1


def test_disabled_filter_keeps_everything(tmp_path):
    row = {"problem_id": "a", "sample_index": 0, "proposal_index": 0, "location": 1,
           "content": "t", "num_steps": 1, "steps": ["s"], "prefix": "", "intervention": "t",
           "target": "t"}
    summary = filter_stage.run(rundir.RunDir(tmp_path), filter_cfg(enabled=False), problems={},
                               interventions=[proposals.from_row(row)], model=None,
                               tokenizer=None, progress=False)
    assert summary == {"enabled": False, "interventions": 1, "kept": 1}
    assert list(rundir.read_jsonl(tmp_path / "filter" / "kept.jsonl")) == [row]


def test_conditioning_measurement(tiny_model, char_tokenizer, model_problems):
    problems = model_problems
    records, solved_flags = oracle_records(problems)
    cfg = dataclasses.replace(BASE, n=N, max_new_tokens=8)
    result = conditioning.measure(tiny_model, char_tokenizer, {p.id: p for p in problems},
                                  records, cfg, seed=0, timeout_s=5.0, progress=False)
    solved = sum(solved_flags)
    assert result["conditions"]["problem"]["num_correct"] == 0
    assert result["conditions"]["original_step"]["num_correct"] == 0  # the planted error
    assert result["conditions"]["prefix"]["num_samples"] == N * len(records)
    assert result["conditions"]["intervention"] == {
        "problems_solved": solved, "num_correct": N * solved, "num_samples": N * len(records),
        "mean_accuracy": solved / len(records),
    }


def test_prefix_condition_at_location_one_is_the_problem_alone():
    p = records_lib.Problem("p", "Q?", "7", "ref", "t")
    record = proposals.from_row({"problem_id": "p", "sample_index": 0, "steps": ["a", "b"],
                                 "location": 1, "content": "fix"})
    assert conditioning.requests_for(p, record)["prefix"].partial is None


def test_conditioning_requests_and_summary():
    p = records_lib.Problem("p", "Q?", "7", "ref", "t")
    record = proposals.from_row({"problem_id": "p", "sample_index": 0,
                                 "steps": ["a", "b", "c"], "location": 2, "content": "fix\nit"})
    reqs = conditioning.requests_for(p, record)
    assert reqs["problem"].partial is None
    assert reqs["prefix"].partial == "a"  # steps before the error, no step 2
    assert reqs["original_step"].partial == "a\n\nb"
    assert reqs["intervention"].partial == "a\n\nfix\n\nit"
    out = conditioning.summarise(
        [record, dataclasses.replace(record, sample_index=1),
         dataclasses.replace(record, problem_id="q")],
        {"problem": [[0, 0], [0, 1], [0, 0]], "intervention": [[1, 1], [0, 0], [1, 0]]},
    )
    assert out["num_problems"] == 2 and out["num_interventions"] == 3
    assert out["conditions"]["problem"] == {"problems_solved": 1, "num_correct": 1,
                                            "num_samples": 6, "mean_accuracy": 1 / 6}
    assert out["conditions"]["intervention"]["problems_solved"] == 2
    assert out["items"][2] == {"problem_id": "q", "sample_index": 0, "problem": 0,
                               "intervention": 1}
