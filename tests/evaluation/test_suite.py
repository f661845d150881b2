"""`--suite paper`: the paper's four benchmarks with its metrics, one table, one JSON summary.

`evaluate.evaluate` is replaced by a stand-in that scores every problem with a fixed number
of correct samples, so the pass@k values below are worked by hand from the closed form
1 - C(n-c, k) / C(n, k); the model-driven evaluation itself is tested in test_evaluate.py.
"""

import json

import pytest

from jaxint import cli
from jaxint.data import records
from jaxint.evaluation import config as eval_config
from jaxint.evaluation import evaluate, suite

CFG = eval_config.EvalConfig(n=8, ks=(1, 2), limit=2, shard_size=1)


@pytest.fixture
def fake_evaluate(monkeypatch):
    calls = []

    def fake(model, tokenizer, problems, cfg, out_dir, *, mesh=None, progress=True):
        calls.append((cfg, list(problems), out_dir))
        results = [records.EvalResult(p.id, p.answer, (1, 1) + (0,) * (cfg.n - 2))
                   for p in problems[: cfg.limit]]
        return {"dataset": cfg.dataset, "n": cfg.n, **evaluate.summarize(results, cfg.ks)}

    monkeypatch.setattr(evaluate, "evaluate", fake)
    return calls


def test_paper_suite_runs_the_four_benchmarks_with_the_papers_metrics(tmp_path, fake_evaluate):
    summary = suite.run(None, None, "paper", CFG, tmp_path, label="base")
    assert [c[0].dataset for c in fake_evaluate] == ["imo-answerbench", "hmmt-nov25", "amo",
                                                     "apex"]
    assert [c[0].ks for c in fake_evaluate] == [(1, 2), (1, 2), (1, 2, 8), (1, 2, 8)]
    assert [c[2] for c in fake_evaluate] == [tmp_path / c[0].dataset for c in fake_evaluate]
    # 2 of 8 correct: pass@1 = 2/8; pass@8 = 1 - C(6,8)/C(8,8) = 1.
    values = [(b["title"], b["metric"], b["value"]) for b in summary["benchmarks"]]
    assert values == [("IMO-AnswerBench", "pass@1", 0.25), ("HMMT Nov 2025", "pass@1", 0.25),
                      ("AMO-Bench pass@8", "pass@8", 1.0),
                      ("Apex Shortlist pass@8", "pass@8", 1.0)]
    assert json.loads((tmp_path / "suite_paper.json").read_text()) == summary


def test_benchmarks_load_whole_and_stripped(tmp_path, fake_evaluate):
    suite.run(None, None, "paper", CFG, tmp_path)
    problems = {c[0].dataset: c[1] for c in fake_evaluate}
    # Counts of the bundled files (shared/data/README.md): never decontaminated.
    assert {k: len(v) for k, v in problems.items()} == {
        "imo-answerbench": 400, "hmmt-nov25": 30, "amo": 39, "apex": 47}
    apex_2 = next(p for p in problems["apex"] if p.id == "apex-shortlist-2")
    assert apex_2.problem == apex_2.problem.strip()


def test_table_has_the_papers_layout():
    summary = suite.summarize("paper", {
        "imo-answerbench": {"problems": 400, "pass@1": 0.1168},
        "hmmt-nov25": {"problems": 30, "pass@1": 0.4161},
        "amo": {"problems": 39, "pass@1": 0.1, "pass@8": 0.2624},
        "apex": {"problems": 47, "pass@1": 0.1, "pass@8": 0.2079},
    }, n=128, label="base")
    lines = suite.table([summary]).splitlines()
    assert lines[0] == ("| model | IMO-AnswerBench | HMMT Nov 2025 | AMO-Bench pass@8 | "
                        "Apex Shortlist pass@8 |")
    assert lines[2] == "| base | 11.68 | 41.61 | 26.24 | 20.79 |"
    assert "39 parser-gradable" in lines[-1]


def test_pass_at_8_needs_eight_samples():
    summaries = {name: {"problems": 1, "pass@1": 0.5}
                 for name in ("imo-answerbench", "hmmt-nov25", "amo", "apex")}
    summary = suite.summarize("paper", summaries, n=4, label="m")
    assert [b["value"] for b in summary["benchmarks"]] == [0.5, 0.5, None, None]
    assert "n/a (pass@8 needs n >= 8, n = 4)" in suite.table([summary])
    assert suite.flat_metrics(summary) == {"imo-answerbench/pass@1": 0.5,
                                           "hmmt-nov25/pass@1": 0.5}


def test_suite_names_agree_everywhere():
    assert tuple(suite.SUITES) == eval_config.SUITE_NAMES == cli.SUITES
    with pytest.raises(ValueError, match="eval.suite"):
        eval_config.EvalConfig(suite="nope")


def test_cli_rejects_suite_with_dataset():
    with pytest.raises(SystemExit, match="not both"):
        cli.main(["eval", "--model", "x", "--suite", "paper", "--dataset", "math500"])


def test_cli_suite_and_dataset_become_eval_keys_for_a_config():
    args = cli._parser().parse_args(["eval", "c.yaml", "eval.n=4", "--suite", "paper"])
    assert cli._eval_overrides(args) == ["eval.n=4", "eval.suite=paper"]
    args = cli._parser().parse_args(["eval", "c.yaml", "--dataset", "aime24"])
    assert cli._eval_overrides(args) == ["eval.dataset=aime24"]
