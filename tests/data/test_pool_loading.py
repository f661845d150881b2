"""The run's training pool (`Pipeline.problems`, what generate, RL and select read): what
was dropped is listed and counted in the run directory; a list of sources is fingerprinted
file by file."""

import json

from jaxint import config as run_config
from jaxint import drift, loop


def test_pipeline_pool_records_dropped_rows(tmp_path):
    cfg = run_config.load(None, [f"out_dir={tmp_path}", "name=r",
                                 "data.path=[aime-1983-2023,olympiadbench]",
                                 "data.exclude_flags=[in_math_train]"])
    problems = loop.Pipeline(cfg, progress=False).problems()
    run = tmp_path / "r"
    # shared/data/README.md: 647 AIME rows without MATH-train or eval overlaps, 634 OlympiadBench.
    assert len(problems) == 647 + 634
    load = json.loads((run / "data_load.json").read_text())
    assert load["sources"] == ["aime-1983-2023", "olympiadbench"]
    assert load["problems"] == 647 + 634
    assert load["dropped"]["flag:in_math_train"] == 300
    assert sum(load["dropped"].values()) == 975 + 675 - 647 - 634
    dropped = [json.loads(line) for line in (run / "data_dropped.jsonl").read_text().splitlines()]
    assert len(dropped) == sum(load["dropped"].values())
    assert {d["id"] for d in dropped}.isdisjoint(p.id for p in problems)


def test_a_list_of_sources_is_fingerprinted_per_file(tmp_path):
    one = run_config.load(None, ["data.path=aime-1983-2023"])
    two = run_config.load(None, ["data.path=[aime-1983-2023,olympiadbench]"])
    digest = drift.stage_values(one, "generate")["inputs.data"]
    digests = drift.stage_values(two, "generate")["inputs.data"]
    assert isinstance(digest, str) and len(digests) == 2 and digests[0] == digest
