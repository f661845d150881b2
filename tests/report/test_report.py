"""`jaxint report`: sections, numbers, escaping, offline-ness, and partial run directories."""

import json
import pathlib
import re

import pytest

from jaxint.report import html, runfiles, sections
from tests.report import fake_run

SECTION_IDS = [anchor for anchor, _, _ in sections.SECTIONS]
DEMO_SMOKE = pathlib.Path("/tmp/demo_smoke")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """(run dir, page) of a complete synthetic run, rendered once for the module."""
    root = fake_run.build(tmp_path_factory.mktemp("run"))
    path = html.write_report(root)
    return root, path.read_text()


def _assert_offline_and_inert(page: str) -> None:
    """No scripts, no external resources: every src/href is an anchor or inline data."""
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", page))
    refs = re.findall(r'\s(?:src|href|xlink:href)\s*=\s*"([^"]*)"', page)
    assert all(r.startswith(("#", "data:")) for r in refs), refs
    assert 'src="http' not in page and "href=\"http" not in page


def _viewer(page: str) -> str:
    return page[page.index('<section id="viewer">'):]


def test_writes_default_path_and_all_sections(full):
    root, page = full
    assert (root / "report.html").is_file()
    assert page.startswith("<!DOCTYPE html>")
    for anchor in SECTION_IDS:
        assert f'<section id="{anchor}">' in page
    assert "could not be rendered" not in page
    assert "stage not run" not in page


def test_headline_numbers(full):
    _, page = full
    results = page[page.index('<section id="results">'):page.index('<section id="stages">')]
    for text in ("25.0%", "40.6%", "57.8%", "71.9%", "34.4%", "+17.2 points", "7.2 min",
                 "128 held-out problems"):
        assert text in results, text
    stages = page[page.index('<section id="stages">'):page.index('<section id="rl">')]
    for stage in ("base", "generate", "filter", "rl_baseline", "eval_int_rl"):
        assert f"<td>{stage}</td>" in stages
    assert "10.0 s" in stages


def test_plots_are_inline_svg(full):
    _, page = full
    for title in ("Mean reward per step", "Pass rate", "Zero-advantage groups",
                  "Response length", "Token entropy", "SFT on interventions: loss",
                  "Base pretraining (demo): loss", "Intervention location (step K)",
                  "Location relative to attempt length", "Held-out pass@1",
                  "Correct continuations per intervention"):
        assert f'aria-label="{title}' in page, title
    assert page.count("<svg") >= 20
    assert "<?xml" not in page and "<metadata>" not in page
    rl = page[page.index('<section id="rl">'):page.index('<section id="sft">')]
    assert "InT + RL" in rl and "RL only" in rl  # both runs on the same axes


def test_intervention_statistics(full):
    _, page = full
    stats = page[page.index('<section id="interventions">'):page.index('<section id="viewer">')]
    for text in ("93.8%", "14.3%", "83.3%", "answer_leaked", "1.23%", "50.0%",
                 "prefix + intervention", "7.03%"):
        assert text in stats, text


def test_page_is_offline_and_escapes_hostile_text(full):
    _, page = full
    _assert_offline_and_inert(page)
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/pre&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<b>bold</b>" not in page
    assert "fake&lt;run&gt;" in page and "fake<run>" not in page


def test_viewer_highlights_first_error_and_shows_intervention(full):
    _, page = full
    viewer = _viewer(page)
    assert viewer.count('<details class="iv"') == 2  # the filter kept p0 and p2
    assert "filter/kept.jsonl" in viewer
    assert "3/4 continuations correct" in viewer
    swap = re.search(r'<li class="swap" value="2">(.*?)</li>', viewer, re.S).group(1)
    assert "first error" in swap
    assert fake_run.HOSTILE_STEP.replace("<", "&lt;").replace(">", "&gt;") in swap
    assert "onerror=alert(1)" in swap and "intervention (replaces step 2)" in swap
    assert '<li class="step kept" value="1">' in viewer
    assert '<li class="step dropped" value="3">' in viewer
    assert "Reference solution" in viewer and "Gold answer: <code>4</code>" in viewer
    assert "K = true first error" in viewer
    assert "Conditioning (correct continuations)" in viewer
    assert "reply (raw)" in viewer


def test_viewer_caps_and_spreads_over_problems(tmp_path, fast_plots):
    root = fake_run.build(tmp_path, n_interventions=55, filter_keeps=False)
    page = html.render(root)
    viewer = _viewer(page)
    assert "The filter kept none of the 55 interventions" in viewer
    assert viewer.count('<details class="iv"') == sections.VIEWER_CAP
    assert "Showing 50 of 55" in viewer
    assert "dropped by filter" in viewer and "0/4 continuations correct" in viewer


def test_spread_puts_one_per_problem_first():
    assert runfiles.spread_order(["a", "a", "a", "b", "c", "c"]) == [0, 3, 4, 1, 5, 2]


def test_long_attempt_folds_context_and_clips_long_steps():
    steps = [f"step {i}" for i in range(1, 13)]
    steps[7] = "x" * (sections.MAX_STEP_CHARS + 10)
    out = sections._attempt({"steps": steps, "location": 8, "intervention": "fix"}, 8)
    assert "steps 1–3 (kept in the target)" in out
    assert '<li class="step kept" value="4">' in out
    assert "steps 9–12 (dropped from the target)" in out
    assert '<li class="swap" value="8">' in out and "[… 10 more characters]" in out
    out = sections._attempt({"steps": ["a", "b"], "location": 5, "content": "c"}, 5)
    assert "Location 5 is outside steps 1..2" in out


def test_empty_and_missing_run_dirs_degrade(tmp_path):
    for root in (tmp_path / "empty", tmp_path / "absent"):
        if root.name == "empty":
            root.mkdir()
        page = html.render(root)
        for anchor in SECTION_IDS:
            assert f'<section id="{anchor}">' in page
        assert "could not be rendered" not in page
        assert page.count("stage not run") >= 6
        assert "<svg" not in page
        _assert_offline_and_inert(page)
    assert "the directory does not exist" in page


def test_partial_run_with_damaged_metrics(tmp_path, fast_plots):
    root = tmp_path / "partial"
    (root / "rl_baseline").mkdir(parents=True)
    lines = [json.dumps(r) for r in fake_run.rl_lines(3, 0.1, 0.01, 0.5)]
    (root / "rl_baseline" / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 4, "rew')
    (root / "manifest.json").write_text(json.dumps({"stages": {
        "rl_baseline": {"status": "done", "wall_s": 3.0},
        "sft": {"status": "running", "updated": "2026-01-01T00:00:00+00:00"}}}))
    page = html.render(root)
    assert "could not be rendered" not in page
    rl = page[page.index('<section id="rl">'):page.index('<section id="sft">')]
    assert "<svg" in rl and "RL only" in rl and "InT + RL" not in rl
    sft = page[page.index('<section id="sft">'):page.index('<section id="eval">')]
    assert "Stage sft started but has not finished" in sft
    assert "skipped 1 line(s)" in page
    assert "<td>sft</td>" in page and "running" in page


def test_unavailable_dataset_still_shows_interventions(tmp_path, fast_plots):
    root = fake_run.build(tmp_path)
    (root / "data" / "train.jsonl").unlink()
    page = html.render(root)
    viewer = _viewer(page)
    assert "Problems unavailable" in viewer
    assert "Problem p0 is not in the dataset" in viewer
    assert viewer.count('<details class="iv"') == 2


def test_failing_section_does_not_take_the_page_down(tmp_path, fast_plots, monkeypatch):
    def boom(run):
        raise RuntimeError("<boom>")

    monkeypatch.setattr(sections, "SECTIONS", (("rl", "RL training", boom),
                                               *sections.SECTIONS[3:]))
    page = html.render(fake_run.build(tmp_path))
    assert "could not be rendered: RuntimeError: &lt;boom&gt;" in page
    assert '<section id="viewer">' in page


def test_tolerant_jsonl_reader(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\nnot json\n{"a": 2}\n')
    warnings = []
    got = runfiles.read_jsonl(path, warnings)
    assert [r["a"] for r in got.records] == [1, 2] and got.bad_lines == 2
    assert warnings and not runfiles.read_jsonl(tmp_path / "none.jsonl").exists


def test_cli_report(tmp_path, fast_plots, capsys):
    from jaxint import cli

    root = fake_run.build(tmp_path / "run")
    out = tmp_path / "elsewhere" / "r.html"
    assert cli.main(["report", str(root), "--out", str(out)]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out


@pytest.mark.skipif(not DEMO_SMOKE.is_dir(), reason="no /tmp/demo_smoke run directory")
def test_renders_the_demo_smoke_run(tmp_path):
    path = html.write_report(DEMO_SMOKE, tmp_path / "report.html")
    page = path.read_text()
    assert "could not be rendered" not in page
    for anchor in SECTION_IDS:
        assert f'<section id="{anchor}">' in page
    assert "<svg" in page
    _assert_offline_and_inert(page)


def test_demo_trap_split_in_results_section(tmp_path):
    """The demo's trap / plain split, paired differences and zero-advantage split show, with
    the numbers of summary.json (and untrusted arm names escaped)."""
    summary = {
        "accuracy": {"base": 0.2, "rl_only": 0.25, "int_rl": 0.4, "<b>x</b>": 0.1},
        "accuracy_by_kind": {"trap": {"base": 0.01, "rl_only": 0.02, "int_rl": 0.33},
                             "plain": {"base": 0.39, "rl_only": 0.48, "int_rl": 0.47}},
        "paired_diff": {"int_rl_vs_rl_only": {"trap": 0.31, "plain": -0.01, "all": 0.15}},
        "paired_se": {"int_rl_vs_rl_only": {"trap": 0.02, "plain": 0.02, "all": 0.014}},
        "trap_step_accuracy": {"int_rl": 0.7},
        "zero_adv": {"rl_only": {"all_wrong": 0.5, "all_correct": 0.1,
                                 "trap": {"all_wrong": 0.97, "all_correct": 0.0},
                                 "plain": {"all_wrong": 0.03, "all_correct": 0.2}}},
        "trap": {"phrases": ["lower it by {b}"], "means": "-", "corpus_computes": "+",
                 "fraction": 0.5},
        "heldout_problems": 512, "eval_samples": 4,
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = sections.headline(runfiles.RunFiles(tmp_path))
    assert "+31.0 ± 2.0 (z +15.5)" in page and "−1.0" not in page and "-1.0 ± 2.0" in page
    assert "33.0%" in page and "70.0%" in page and "97.0% / 3.0%" in page
    assert "lower it by b" in page and "InT + RL − RL only" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_compare_methods_rl_curves_are_drawn_together(tmp_path, fast_plots):
    root = fake_run.build(tmp_path / "run")
    fake_run._jsonl(root / "credit_vineppo" / "metrics.jsonl",
                    fake_run.rl_lines(5, 0.3, 0.02, 0.2))
    runs = runfiles.RunFiles(root).rl_runs()
    assert set(runs) == {"InT + RL", "RL only", "RL, credit: vineppo"}
    assert "RL, credit: vineppo" in html.write_report(root).read_text()
