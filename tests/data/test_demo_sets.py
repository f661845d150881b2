"""The demo's problem sets: the disjointness its held-out figures rely on."""

from jaxint import config as run_config
from jaxint.data import synthetic
from jaxint.stages import demo_base


def _sets():
    cfg = run_config.DemoConfig(train_problems=120, heldout_problems=200, pretrain_problems=800,
                                num_steps=2, max_digits=1, max_value=100,
                                trap_fraction=0.5, pretrain_trap_fraction=0.3, seed=4)
    return demo_base.problem_sets(cfg)


def _chain(p):
    # Recomputed from the solution text, not from meta: (start, [(op, b), ...]).
    steps = [synthetic.parse_step(s) for s in synthetic.split_steps(p.solution)[:-1]]
    return steps[0][0], tuple((op, b) for _, op, b, _ in steps)


def test_heldout_shares_no_text_and_no_arithmetic_chain():
    sets = _sets()
    held, pool, pre = sets["heldout"], sets["train"], sets["pretrain"]
    chains = {name: {_chain(p) for p in probs} for name, probs in sets.items()}
    assert not chains["heldout"] & chains["train"]
    assert not chains["heldout"] & chains["pretrain"]
    assert len(chains["heldout"]) == len(held) and len(chains["train"]) == len(pool)
    texts = [p.problem for probs in sets.values() for p in probs]
    assert len(set(texts)) == len(texts)
    assert len(pool) == 120 and len(pre) == 800


def test_heldout_trap_steps_use_operand_pairs_absent_from_the_pool():
    sets = _sets()

    def pairs(probs):
        out = set()
        for p in probs:
            if p.meta["trap"]:
                k = p.meta["trap_step"]
                a, op, b, _ = synthetic.parse_step(synthetic.split_steps(p.solution)[k - 1])
                out.add((a, b))
        return out

    assert pairs(sets["heldout"]) and pairs(sets["train"])
    assert not pairs(sets["heldout"]) & pairs(sets["train"])


def test_kinds_and_readings_of_each_set():
    sets = _sets()
    for name in ("heldout", "train"):
        traps = [p for p in sets[name] if p.meta["trap"]]
        assert len(traps) == len(sets[name]) // 2
        assert all(p.meta["reading"] == "true" for p in sets[name])
    pre = sets["pretrain"]
    assert sum(1 for p in pre if p.meta["trap"]) == round(0.3 * len(pre))
    for p in pre:
        assert p.meta["reading"] == "corpus"
        if p.meta["trap"]:  # the corpus's consistent mistake is in its solutions
            k = p.meta["trap_step"]
            assert synthetic.parse_step(synthetic.split_steps(p.solution)[k - 1])[1] == "+"


def test_trap_kinds_take_turns():
    cfg = run_config.DemoConfig(train_problems=40, heldout_problems=40, pretrain_problems=100,
                                num_steps=2, max_digits=1, max_value=100, trap_fraction=0.5,
                                pretrain_trap_fraction=0.5, trap_kinds=("lower", "grow"))
    for probs in demo_base.problem_sets(cfg).values():
        kinds = [p.meta["trap"] for p in probs if p.meta["trap"]]
        assert kinds[:4] == ["lower", "grow", "lower", "grow"]
        assert abs(kinds.count("lower") - kinds.count("grow")) <= 1


def test_a_task_too_narrow_for_the_sets_is_a_config_error():
    # 2 steps of - and * from a 1-digit start hold fewer chains than 512 + 256 problems: this
    # was an "internal error" (ValueError) though the fix is a config change.
    import pytest

    from jaxint import configlib

    cfg = run_config.DemoConfig(train_problems=256, heldout_problems=512, pretrain_problems=100,
                            num_steps=2, max_digits=1, max_value=100, ops=("-", "*"),
                            trap_fraction=0.5, seed=1)
    with pytest.raises(configlib.ConfigError, match="demo.ops"):
        demo_base.problem_sets(cfg)
