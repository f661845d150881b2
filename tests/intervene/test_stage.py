"""The intervene stage end to end with the oracle: outputs, statistics, and crash-resume."""

import json

import pytest

from jaxint import rundir
from jaxint.data import synthetic
from jaxint.intervene import config as intervene_config
from jaxint.intervene import interveners, proposals
from jaxint.stages import intervene as stage
from tests.intervene.conftest import as_attempts, planted

K = 2
SPECS_A = [(1, "arithmetic"), (2, "operand"), (1, "malformed"), None]
SPECS_B = [(2, "operation"), (1, "skip"), (2, "arithmetic")]


def attempts_for(problems):
    first = planted(problems, SPECS_A)
    second = [{**a, "sample_index": 1} for a in planted(problems, SPECS_B)]
    empty = {"problem_id": problems[0].id, "sample_index": 2, "completion": "  \n\n "}
    return first + second + [empty, dict(first[3])]  # the last one is a duplicate


class Counting:
    """Counts propose calls; raises KeyboardInterrupt (a kill) on call number ``crash_at``."""

    def __init__(self, crash_at=None):
        self.inner = interveners.OracleIntervener()
        self.calls = 0
        self.crash_at = crash_at

    def propose(self, items, k, *, salt=0):
        if self.calls == self.crash_at:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        return self.inner.propose(items, k, salt=salt)


def run_stage(root, problems, attempts, intervener, **overrides):
    cfg = intervene_config.InterveneConfig(intervener="oracle", proposals_per_attempt=K,
                                           shard_size=3, **overrides)
    return stage.run(rundir.RunDir(root), cfg, problems={p.id: p for p in problems},
                     attempts=as_attempts(attempts), intervener=intervener, progress=False)


def read(path):
    return path.read_text()


def test_outputs_and_statistics(tmp_path, synthetic_problems):
    attempts = attempts_for(synthetic_problems)
    summary = run_stage(tmp_path, synthetic_problems, attempts, Counting())
    unique = 2 * len(synthetic_problems) + 1
    assert summary["proposals"] == unique * K
    assert summary["rejected"]["no_steps"] == K
    assert summary["rejected"]["empty_content"] == K * 3  # the 3 correct attempts (SPECS_A[3])
    rows = list(rundir.Shards(tmp_path / "intervene", "proposals").read())
    assert len(rows) == unique * K
    kept = list(rundir.read_jsonl(tmp_path / "intervene" / "interventions.jsonl"))
    keys = [(r["problem_id"], r["sample_index"]) for r in kept]
    assert len(keys) == len(set(keys)) == summary["interventions"] > 0
    planted_step = {(a["problem_id"], a["sample_index"]): a.get("step") for a in attempts}
    problems = {p.id: p for p in synthetic_problems}
    for r in kept:
        assert r["location"] == planted_step[r["problem_id"], r["sample_index"]]
        assert r["proposal_index"] == 0 and r["target"] == r["prefix"] + r["intervention"]
        check = synthetic.check_steps(problems[r["problem_id"]],
                                      synthetic.split_steps(r["target"]))
        assert check.error_kind == "missing_step"  # a correct prefix, never a wrong step
    assert summary["location_match_rate"] == 1.0
    assert json.loads(read(tmp_path / "intervene" / "stats.json")) == summary
    # The driver writes its outputs; marking the stage in the manifest is the runner's alone.
    assert "intervene" not in rundir.RunDir(tmp_path).manifest()["stages"]


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path, synthetic_problems):
    attempts = attempts_for(synthetic_problems)
    run_stage(tmp_path / "straight", synthetic_problems, attempts, Counting())
    with pytest.raises(KeyboardInterrupt):
        run_stage(tmp_path / "killed", synthetic_problems, attempts, Counting(crash_at=2))
    stage_dir = tmp_path / "killed" / "intervene"
    assert rundir.Shards(stage_dir, "proposals").indices() == [0, 1]
    assert not (stage_dir / "interventions.jsonl").exists()
    resumed = Counting()
    run_stage(tmp_path / "killed", synthetic_problems, attempts, resumed)
    assert resumed.calls == 2  # 4 shards of 3 problems; 2 were already done
    straight = tmp_path / "straight" / "intervene"
    for name in ["interventions.jsonl", "stats.json"] + [
        f"proposals-{i:05d}.jsonl" for i in range(4)
    ]:
        assert read(stage_dir / name) == read(straight / name), name


def test_rerun_with_other_settings_is_refused(tmp_path, synthetic_problems):
    attempts = attempts_for(synthetic_problems)
    run_stage(tmp_path, synthetic_problems, attempts, Counting())
    with pytest.raises(RuntimeError, match="differ from the run"):
        run_stage(tmp_path, synthetic_problems, attempts, Counting(), seed=1)


def test_bad_attempts_are_refused(tmp_path, synthetic_problems):
    with pytest.raises(ValueError, match="unknown problem_id 'nope'"):
        run_stage(tmp_path, synthetic_problems,
                  [{"problem_id": "nope", "sample_index": 0, "completion": "x"}], Counting())
    with pytest.raises(ValueError, match=r"attempt row lacks \['completion'\]"):
        run_stage(tmp_path, synthetic_problems,
                  [{"problem_id": synthetic_problems[0].id, "sample_index": 0}], Counting())


def test_an_attempt_without_text_has_no_steps(tmp_path, synthetic_problems):
    """A completion the sampler decoded to nothing (None) is an item without steps."""
    summary = run_stage(tmp_path, synthetic_problems[:1], [
        {"problem_id": synthetic_problems[0].id, "sample_index": 0, "completion": None}],
        Counting())
    assert summary["rejected"]["no_steps"] == K and summary["interventions"] == 0


def test_make_intervener():
    oracle = stage.make_intervener(intervene_config.InterveneConfig(intervener="oracle"))
    assert isinstance(oracle, interveners.OracleIntervener)
    with pytest.raises(ValueError, match="'policy' needs a model"):
        stage.make_intervener(intervene_config.InterveneConfig())


def test_leak_check_can_be_turned_off(tmp_path, synthetic_problems):
    attempts = planted(synthetic_problems, [("answer", "answer")])
    on = run_stage(tmp_path / "on", synthetic_problems, attempts, Counting())
    off = run_stage(tmp_path / "off", synthetic_problems, attempts, Counting(),
                    check_leaks=False)
    n = len(synthetic_problems)
    assert on["rejected"]["answer_leaked"] == n * K and on["interventions"] == 0
    assert off["rejected"]["answer_leaked"] == 0 and off["interventions"] == n


class _FixedReply:
    """An intervener that answers every item with one fixed block, using `templates`."""

    def __init__(self, content, templates=None):
        self.content = content
        if templates is not None:
            self.templates = templates

    def propose(self, items, k, *, salt=0):
        block = interveners.format_block(self.content, 1)
        return interveners.ProposalBatch([[block] * k for _ in items], [{} for _ in items])


def test_echo_check_uses_the_interveners_own_templates(tmp_path):
    """A replaced template's fixed text is an echo for that intervener, not for another."""
    from importlib import resources

    from jaxint.intervene import prompts

    shipped = resources.files("jaxint.intervene") / "templates"
    for name in ("turn1", "turn2"):
        text = (shipped / f"{name}.txt").read_text()
        if name == "turn2":
            text += "\nWrite the purple elephant correction right here in full please.\n"
        (tmp_path / f"{name}.txt").write_text(text)
    custom = prompts.load_templates(tmp_path)
    phrase = "write the purple elephant correction right here in full please"
    problem = synthetic.make_problems(1, seed=0, num_steps=2)[0]
    item = interveners.Item(problem, 0, ("1 + 1 = 3", "\\boxed{3}"))
    cfg = intervene_config.InterveneConfig(intervener="oracle", proposals_per_attempt=1,
                                           check_leaks=False)
    rows, _ = proposals.propose_shard(_FixedReply(phrase, custom), [item], cfg, salt=0)
    assert rows[0]["rejected"] == "template_echo"
    rows, _ = proposals.propose_shard(_FixedReply(phrase), [item], cfg, salt=0)
    assert rows[0]["rejected"] is None  # the shipped templates do not hold that text
