"""The throughput benchmark runs and its labelled mix is graded as built."""

from jaxint.verify import bench


def test_bench_mix_labels_and_report():
    pairs, kinds, labels = bench.make_pairs(48, seed=1, group_size=8, filler_chars=200)
    assert len(pairs) == len(kinds) == len(labels) == 48
    assert len({gold for _, gold in pairs[:8]}) == 1  # a group shares one gold answer
    report = bench.bench_score_batch(48, seed=1, num_workers=2, filler_chars=200, warmup_pairs=4)
    assert report["pairs"] == 48 and report["pairs_per_s"] > 0
    assert report["mismatches"] == 0
    assert sum(report["reasons"].values()) == 48
