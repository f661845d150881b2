"""Gold answers of the paper's evaluation sets (HMMT Nov 2025, Apex Shortlist, AMO-Bench) and
interval answers (OlympiadBench), against model answers written differently.

Every gold answer below is copied from the bundled file named in its row (the test checks
that it is there), so the table tracks the real data. The model answers were written by hand:
equivalent forms must score 1, near misses (a sign, an off-by-one, a missing term that is
tiny next to a huge number, a missing set element) must score 0.
"""

import pytest

import jaxint.verify
from jaxint.data import config as data_config
from jaxint.data import loaders

TIMEOUT_S = 10.0

# (bundled set, problem id, model answer, expected reward)
CASES = [
    # HMMT November 2025: fractions, radicals, pi
    ("hmmt-nov25", "hmmt-nov-2025-9", "\\frac{1}{91}", 1),
    ("hmmt-nov25", "hmmt-nov-2025-9", "\\frac{1}{90}", 0),
    ("hmmt-nov25", "hmmt-nov-2025-16", "6\\sqrt3+5\\pi", 1),
    ("hmmt-nov25", "hmmt-nov-2025-18", "\\frac{17}{2}", 1),
    ("hmmt-nov25", "hmmt-nov-2025-18", "8", 0),
    ("hmmt-nov25", "hmmt-nov-2025-19", "\\dfrac{91}{6}", 1),
    ("hmmt-nov25", "hmmt-nov-2025-20", "\\frac{1}{2}+\\frac{\\sqrt{7}}{2}", 1),
    ("hmmt-nov25", "hmmt-nov-2025-23", "-1+\\sqrt{3}", 1),
    ("hmmt-nov25", "hmmt-nov-2025-23", "1-\\sqrt{3}", 0),
    ("hmmt-nov25", "hmmt-nov-2025-26", "2(48-5\\sqrt{21})", 1),
    ("hmmt-nov25", "hmmt-nov-2025-26", "96+10\\sqrt{21}", 0),
    ("hmmt-nov25", "hmmt-nov-2025-29", "24.875", 1),
    ("hmmt-nov25", "hmmt-nov-2025-30", "\\frac{15}{7\\sqrt{5}}", 1),
    # Apex Shortlist: expressions in n and N, huge closed forms
    ("apex", "apex-shortlist-8", "-1+n", 1),
    ("apex", "apex-shortlist-8", "n+1", 0),
    ("apex", "apex-shortlist-12", "\\binom{n}{2}", 1),
    ("apex", "apex-shortlist-12", "\\frac{n(n+1)}{2}", 0),
    ("apex", "apex-shortlist-14", "2n^2-2n", 1),
    ("apex", "apex-shortlist-39", "(N+1)^2(4N+1)", 1),
    ("apex", "apex-shortlist-39", "4N^3+9N^2+6N", 0),
    ("apex", "apex-shortlist-9", "1048575", 1),
    ("apex", "apex-shortlist-9", "2^{20}", 0),
    ("apex", "apex-shortlist-13", "2097152", 0),
    ("apex", "apex-shortlist-36", "2\\sqrt{5}-2", 1),
    ("apex", "apex-shortlist-37", "\\frac{1}{2}+\\frac{1}{46}\\binom{2024}{990}", 1),
    ("apex", "apex-shortlist-37", "\\frac{1}{46}\\binom{2024}{990}", 0),  # off by 1/2
    ("apex", "apex-shortlist-38", "2^{499}(2^{500}-1)", 1),
    ("apex", "apex-shortlist-38", "2^{999}", 0),
    ("apex", "apex-shortlist-42", "\\frac{16192}{45}", 1),
    ("apex", "apex-shortlist-47", "-1+10^{225}", 1),
    ("apex", "apex-shortlist-47", "10^{225}", 0),  # off by 1 in 10^225
    ("apex", "apex-shortlist-47", "10^{224}-1", 0),
    # AMO-Bench: sets, a formula in n, large numbers
    ("amo", "amo-bench-3", "\\{3,1,2\\}", 1),
    ("amo", "amo-bench-3", "1, 2, 3", 1),
    ("amo", "amo-bench-3", "\\{1,2\\}", 0),
    ("amo", "amo-bench-3", "\\{1,2,3,4\\}", 0),
    ("amo", "amo-bench-43", "\\{150, 100, 75, 64, 40\\}", 1),
    ("amo", "amo-bench-43", "\\{40, 64, 75, 100\\}", 0),
    ("amo", "amo-bench-5",
     "\\frac{1}{2}\\left((2-\\sqrt{3})^{2^{2-n}}+(2+\\sqrt{3})^{2^{2-n}}\\right)", 1),
    ("amo", "amo-bench-5", "\\frac{(2+\\sqrt{3})^{2^{n}}+(2-\\sqrt{3})^{2^{n}}}{2}", 0),
    ("amo", "amo-bench-13", "16748785430783.5", 1),
    ("amo", "amo-bench-13", "16748785430784", 0),
    ("amo", "amo-bench-22", "\\frac{208\\sqrt[4]{3}}{21}", 1),
    ("amo", "amo-bench-45", "2^{2026}-1", 1),
    ("amo", "amo-bench-45", "2^{2026}", 0),
    # OlympiadBench intervals, also written as inequalities
    ("olympiadbench", "olympiadbench-2243", "(-\\infty, -5)", 1),
    ("olympiadbench", "olympiadbench-2243", "x < -5", 1),
    ("olympiadbench", "olympiadbench-2243", "-5 > x", 1),
    ("olympiadbench", "olympiadbench-2243", "x \\le -5", 0),
    ("olympiadbench", "olympiadbench-2243", "(-\\infty, -5]", 0),
    ("olympiadbench", "olympiadbench-2410", "[0.5, 8]", 1),
    ("olympiadbench", "olympiadbench-2410", "\\frac{1}{2} \\le x \\le 8", 1),
    ("olympiadbench", "olympiadbench-2410", "\\frac12 < x \\le 8", 0),
    ("olympiadbench", "olympiadbench-2502", "-1 \\leq x \\leq -\\frac{1}{2}", 1),
    ("olympiadbench", "olympiadbench-2502", "-\\frac{1}{2} \\geq x \\geq -1", 1),
    ("olympiadbench", "olympiadbench-2502", "-1 < x \\leq -\\frac{1}{2}", 0),
    ("olympiadbench", "olympiadbench-2298", "(\\sqrt{11},9)\\cup(-\\sqrt{11},-2)", 1),
    ("olympiadbench", "olympiadbench-2298", "(-\\sqrt{11},-2)", 0),
]


def _golds():
    golds = {}
    for name in sorted({case[0] for case in CASES}):
        cfg = data_config.DatasetConfig(path=name, decontaminate=False)
        golds.update({p.id: p.answer for p in loaders.load_problems(cfg)})
    return golds


GOLDS = _golds()


def test_table_has_enough_real_answers():
    assert {case[1] for case in CASES} <= set(GOLDS)
    assert sum(1 for case in CASES if case[0] != "olympiadbench") >= 20


@pytest.mark.parametrize(("dataset", "pid", "answer", "reward"), CASES,
                         ids=[f"{c[1]}:{c[2]}" for c in CASES])
def test_hard_set_answers(dataset, pid, answer, reward):
    verdict = jaxint.verify.score(f"Therefore \\boxed{{{answer}}}.", GOLDS[pid],
                                  timeout_s=TIMEOUT_S)
    assert verdict.reward == reward, (GOLDS[pid], answer, verdict.reason)


def test_hard_set_answers_through_worker_processes():
    pairs = [(f"\\boxed{{{answer}}}", GOLDS[pid]) for _, pid, answer, _ in CASES]
    verdicts = jaxint.verify.score_batch(pairs, timeout_s=TIMEOUT_S, num_workers=2)
    assert [v.reward for v in verdicts] == [float(c[3]) for c in CASES]
