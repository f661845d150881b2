"""Bundled data sets: short names, counts (from the sources' documentation), packaging."""

import pathlib

import pytest

from jaxint.data import bundled, loaders
from jaxint.data import config as data_config

# Record counts as documented for the sources (MATH-500, IMO-AnswerBench, AIME, AMC, GSM8K,
# and shared/data/README.md for HMMT, Apex, AMO-Bench, AIME 1983-2023 and OlympiadBench).
EXPECTED = {
    "math500": 500,
    "imo-answerbench": 400,
    "imo-answerbench-v2": 400,
    "imo-answerbench-v1": 400,
    "aime24": 30,
    "aime25": 30,
    "amc23": 40,
    "gsm8k": 1319,
    "math-train": 7496,
    "gsm8k-train": 7473,
    "hmmt-nov25": 30,
    "apex": 47,
    "amo": 39,
    "aime-1983-2023": 975,
    "olympiadbench": 675,
}
PACKAGE_DIR = pathlib.Path(loaders.__file__).parent


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_sets_load_with_expected_counts(name):
    # The files' own counts: decontamination (on by default) would drop pool rows.
    problems = loaders.load_problems(data_config.DatasetConfig(path=name, decontaminate=False))
    assert len(problems) == EXPECTED[name]
    assert len({p.id for p in problems}) == EXPECTED[name]
    assert all(p.problem.strip() and p.answer.strip() for p in problems)


def test_names_lists_counts():
    assert bundled.names() == EXPECTED


def test_imo_answerbench_defaults_to_v2():
    def answer(name, pid):
        problems = loaders.load_problems(data_config.DatasetConfig(path=name))
        return {p.id: p.answer for p in problems}[pid]

    # geometry-002 is one of the answers v2 corrected (4 -> 1).
    assert answer("imo-answerbench", "imo-bench-geometry-002") == "1"
    assert answer("imo-answerbench-v1", "imo-bench-geometry-002") == "4"


def test_solutions_present_where_sources_have_them():
    for name, has in [("math500", True), ("aime24", True), ("gsm8k", True), ("aime25", False)]:
        problems = loaders.load_problems(data_config.DatasetConfig(path=name))
        assert all((p.solution is not None) == has for p in problems), name


def test_paths_are_inside_the_package_and_notice_covers_every_file():
    notice = (PACKAGE_DIR / "bundled" / "NOTICE").read_text()
    for name in EXPECTED:
        file = bundled.path(name)
        assert file.parent in (PACKAGE_DIR / "bundled", PACKAGE_DIR / "bundled" / "cc_by_nc_sa")
        assert file.name in notice
    with pytest.raises(KeyError, match="math500"):
        bundled.path("no-such-set")


def test_package_code_never_reads_shared_data():
    for source in PACKAGE_DIR.glob("*.py"):
        assert "/work/shared" not in source.read_text(), source
