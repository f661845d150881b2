"""The demo's summary from a hand-made run directory: every key the issue names, and values
computed by hand from the files (not by the code under test)."""

import json
import math

import pytest

from jaxint import config as run_config
from jaxint import demo, rundir
from jaxint.data import records, synthetic


def _problem(pid, trap):
    # Two operations; the trap (when present) is step 1: 50 - 3 = 47, then + 2 = 49.
    ops = [["-", 3], ["+", 2]] if trap else [["+", 3], ["+", 2]]
    values = [50, 47, 49] if trap else [50, 53, 55]
    return records.Problem(
        id=pid, problem="p", answer=str(values[-1]),
        solution="\n\n".join(synthetic.reference_steps(50, ops)), source="synthetic",
        meta={"start": 50, "ops": ops, "values": values,
              "kinds": ["lower" if trap else "plain", "plain"],
              "trap": "lower" if trap else None, "trap_step": 1 if trap else None,
              "reading": "true"})


HELD = [_problem("t1", True), _problem("t2", True), _problem("p1", False), _problem("p2", False)]
GOOD_T = "50 - 3 = 47\n\n47 + 2 = 49\n\n\\boxed{49}"
BAD_T = "50 + 3 = 53\n\n53 + 2 = 55\n\n\\boxed{55}"
GOOD_P = "50 + 3 = 53\n\n53 + 2 = 55\n\n\\boxed{55}"


def _row(pid, rewards, completions):
    return records.EvalResult(pid, None, tuple(rewards), completions=tuple(completions))


def _results(t1, t2, p1, p2):
    comp = {1: GOOD_T, 0: BAD_T}
    return {"t1": _row("t1", t1, [comp[r] for r in t1]),
            "t2": _row("t2", t2, [comp[r] for r in t2]),
            "p1": _row("p1", p1, [GOOD_P] * 2), "p2": _row("p2", p2, [GOOD_P] * 2)}


@pytest.fixture
def run(tmp_path):
    rd = rundir.RunDir(tmp_path / "demo")
    for stage, groups in (("rl_baseline", [[0, 4], [0, 4]]), ("rl", [[2, 4], [0, 3]]),
                          ("rl_matched", [[0, 4], [0, 4]])):
        rd.stage(stage)
        # two steps, each with one trap group (t1) and one plain group (p1)
        with open(rd.root / stage / "groups.jsonl", "w") as f:
            for step, (ct, cp) in enumerate(groups, 1):
                f.write(json.dumps({"step": step, "n": 4, "problem_ids": ["t1", "p1"],
                                    "num_correct": [ct, cp]}) + "\n")
        m = rd.metrics(stage)
        for step in (1, 2):
            m.write({"step": step, "reward_mean": 0.5, "zero_adv_frac": 0.5, "pass_rate": 1.0,
                     "train_tokens": 100.0})
    rd.mark("sft", "done", summary={"examples": 7})
    rd.mark("rl_matched", "done", summary={"extra_steps": 3, "sft_tokens": 300,
                                           "rl_tokens_per_step": 100.0,
                                           "continued_from_rl_only": True})
    return rd


def test_summary_keys_and_hand_computed_values(run):
    cfg = run_config.RunConfig(demo=run_config.DemoConfig(num_steps=2, trap_fraction=0.5, seed=5))
    results = {"base": _results([0, 0], [0, 0], [1, 1], [1, 0]),
               "rl_only": _results([0, 0], [0, 0], [1, 1], [1, 1]),
               "rl_only_matched": _results([0, 0], [1, 0], [1, 1], [1, 1]),
               "int_rl": _results([1, 1], [1, 0], [1, 1], [0, 1])}
    out = demo.summarize(run, cfg, HELD, HELD, results)

    assert out["accuracy_by_kind"]["trap"] == {"base": 0.0, "rl_only": 0.0,
                                               "rl_only_matched": 0.25, "int_rl": 0.75}
    assert out["accuracy_by_kind"]["plain"]["int_rl"] == 0.75
    assert out["accuracy"]["int_rl"] == 0.75 and out["accuracy"]["base"] == 0.375
    # InT + RL - RL only on trap pairs: d = [1, 1, 1, 0]: mean 0.75, sd sqrt(0.25) -> SE 0.25
    se = out["paired_se"]["int_rl_vs_rl_only"]
    assert set(se) == {"trap", "plain", "all"}
    assert out["paired_diff"]["int_rl_vs_rl_only"]["trap"] == pytest.approx(0.75)
    assert se["trap"] == pytest.approx(0.25)
    # plain: int_rl [1,1,0,1] - rl_only [1,1,1,1] = [0,0,-1,0]: mean -0.25, SE 0.25
    assert out["paired_diff"]["int_rl_vs_rl_only"]["plain"] == pytest.approx(-0.25)
    assert se["plain"] == pytest.approx(0.25)
    assert set(out["paired_se"]["int_rl_vs_rl_only_matched"]) == {"trap", "plain", "all"}
    # trap step right: int_rl's trap completions are GOOD_T 3 times of 4
    assert out["trap_step_accuracy"]["int_rl"] == 0.75
    assert out["trap_step_accuracy"]["rl_only"] == 0.0
    # zero advantage: RL only's groups: trap 0/4 twice (all wrong), plain 4/4 twice
    z = out["zero_adv"]["rl_only"]
    assert (z["all_wrong"], z["all_correct"]) == (0.5, 0.5)
    assert z["trap"]["all_wrong"] == 1.0 and z["plain"]["all_correct"] == 1.0
    zi = out["zero_adv"]["int_rl"]  # trap 2/4 and 0/4, plain 4/4 and 3/4
    assert (zi["trap"]["all_wrong"], zi["plain"]["all_correct"]) == (0.5, 0.5)
    assert set(out["zero_adv"]) == {"rl_only", "rl_only_matched", "int_rl"}
    assert out["matched"]["extra_steps"] == 3 and out["sft_examples"] == 7
    assert out["heldout_by_kind"] == {"trap": 2, "plain": 2} and out["seed"] == 5
    json.dumps(out)  # serialisable as summary.json


def test_table_shows_every_arm_and_comparison(run):
    cfg = run_config.RunConfig(demo=run_config.DemoConfig(num_steps=2, trap_fraction=0.5))
    results = {arm: _results([1, 0], [0, 0], [1, 1], [1, 0])
               for arm in ("base", "rl_only", "rl_only_matched", "int_rl")}
    out = demo.summarize(run, cfg, HELD, HELD, results)
    out["wall_s"] = 1.0
    text = demo.table(out)
    for label in ("| base |", "| RL only |", "RL only, compute-matched (+3 steps)", "| InT + RL |",
                  "InT + RL − RL only |", "(compute-matched) |"):
        assert label in text
    assert not math.isnan(out["paired_se"]["int_rl_vs_rl_only"]["all"])
