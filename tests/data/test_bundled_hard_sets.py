"""The hard sets bundled for the paper's pipeline: spot values from shared/data/README.md, and
the non-commercial sets kept apart with their license notice."""

import pathlib

from jaxint.data import bundled, loaders
from jaxint.data import config as data_config

PACKAGE_DIR = pathlib.Path(loaders.__file__).parent


def _by_id(name):
    return {p.id: p for p in loaders.load_problems(data_config.DatasetConfig(path=name))}


def test_spot_values_match_the_data_readme():
    assert _by_id("hmmt-nov25")["hmmt-nov-2025-9"].answer == "1/91"
    assert _by_id("hmmt-nov25")["hmmt-nov-2025-21"].meta["round"] == "Team"
    apex = _by_id("apex")
    assert apex["apex-shortlist-8"].answer == "n-1"
    assert apex["apex-shortlist-25"].meta["overlaps"] == "aime25 2025-I-14"
    amo = _by_id("amo")
    assert amo["amo-bench-3"].meta["answer_type"] == "set"
    assert "amo-bench-2" not in amo  # a description-type problem, not in the parser subset


def test_noncommercial_sets_live_apart_with_their_notice():
    folder = PACKAGE_DIR / "bundled" / "cc_by_nc_sa"
    notice = (folder / "NOTICE").read_text()
    assert "CC BY-NC-SA 4.0" in notice
    for name in ("hmmt-nov25", "apex"):
        assert bundled.path(name).parent == folder
        assert bundled.path(name).name in notice
    assert sorted(p.name for p in folder.glob("*.jsonl")) == ["apex_shortlist.jsonl",
                                                             "hmmt_nov25.jsonl"]


def test_evaluation_sets_and_pools_are_told_apart():
    assert bundled.eval_family("imo-answerbench-v1") == bundled.eval_family("imo-answerbench")
    for name in ("hmmt-nov25", "apex", "amo", "math500", "gsm8k"):
        assert bundled.eval_family(name) is not None
    for name in ("aime-1983-2023", "olympiadbench", "math-train", "gsm8k-train"):
        assert bundled.eval_family(name) is None
