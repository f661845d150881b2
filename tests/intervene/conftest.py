"""Shared fixtures: the char tokenizer, a tiny random decoder, synthetic problems and attempts.

The model is as small as a decoder gets (2 layers, width 32) and every test samples at most
16 new tokens, because CPU compilation dominates these tests' time.
"""

import random

import pytest

from jaxint.data import synthetic, tokenizers


@pytest.fixture(scope="session")
def char_tokenizer(tmp_path_factory):
    return tokenizers.build_char_tokenizer(tmp_path_factory.mktemp("intervene_char_tok"))


@pytest.fixture(scope="session")
def tiny_model(char_tokenizer):
    from jaxint import models

    cfg = models.ModelConfig(
        vocab_size=len(char_tokenizer), hidden_size=32, intermediate_size=64, num_layers=2,
        num_heads=2, num_kv_heads=1, head_dim=16, max_position_embeddings=16384,
    )
    return models.random_init(cfg, seed=0)


@pytest.fixture(scope="session")
def synthetic_problems():
    return synthetic.make_problems(12, seed=3, num_steps=(3, 5))


@pytest.fixture(scope="session")
def model_problems(char_tokenizer):
    """Four 4-operation problems for the model tests.

    Compilation dominates these tests, and the sampler compiles once per shape: with every
    continuation prompt between 129 and 248 tokens (the problem alone up to problem + full
    solution), all filter and conditioning calls share one prefill bucket and cache length.
    """
    from jaxint.data import chat

    problems = synthetic.make_problems(4, seed=3, num_steps=4)
    for p in problems:
        messages = [{"role": "user", "content": p.problem}]
        assert len(chat.render_prompt(char_tokenizer, messages)) > 128
        assert len(chat.render_continuation(char_tokenizer, messages, p.solution)) <= 248
    return problems


def planted(problems, kinds_by_index):
    """Attempts with one planted error each: {problem_id, sample_index, completion, step, kind}.

    ``kinds_by_index[i]`` is ``(step, kind)`` for problem i, ``None`` for a correct attempt.
    """
    attempts = []
    for i, problem in enumerate(problems):
        spec = kinds_by_index[i % len(kinds_by_index)]
        if spec is None:
            attempts.append({"problem_id": problem.id, "sample_index": 0,
                             "completion": problem.solution, "step": None, "kind": None})
            continue
        step, kind = spec
        n_ops = len(problem.meta["ops"])
        step = n_ops + 1 if step == "answer" else step
        bad = synthetic.corrupt(problem.solution, random.Random(i), step=step, kind=kind)
        attempts.append({"problem_id": problem.id, "sample_index": 0, "completion": bad.text,
                         "step": bad.step, "kind": bad.kind})
    return attempts


def as_attempts(rows):
    """Attempt-like dicts as the intervene stage takes them: failed `records.Attempt`s."""
    from jaxint.data import records

    return [records.Attempt.from_json({**row, "reward": 0.0}) for row in rows]
