"""Tiny models, a character tokenizer and easy synthetic data shared by the train and
evaluation tests. Builders are cached per process so every module reuses the same objects
(and, through the persistent compile cache, the same compiled programs).

Trainers donate their state, so a model handed to a trainer is consumed: use `fresh(...)`
to get a new model with given parameters every time.
"""

from __future__ import annotations

import functools
import pathlib
import tempfile

import jax
import numpy as np
from flax import nnx

from jaxint import models, rundir
from jaxint.data import chat, synthetic, tokenizers
from jaxint.train import config as train_config
from jaxint.train import sft

# Step-level tests: one layer, dimensions the 8-device test meshes divide (fsdp 4, tensor 4).
SMALL = models.ModelConfig(
    vocab_size=128, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=4,
    num_kv_heads=2, head_dim=8, qk_norm=True, rope_theta=10_000.0,
)
# Loops that sample text: the character tokenizer's vocabulary, two layers.
CHAR_VOCAB = 101  # 4 special tokens + 97 characters (asserted in `char_tokenizer`)
CHAR = models.ModelConfig(
    vocab_size=CHAR_VOCAB, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4,
    num_kv_heads=2, head_dim=16, rope_theta=10_000.0,
)
# The easiest synthetic setting: "Start with 4. Add 3. ..." -> "4 + 3 = 7\n\n\\boxed{7}".
EASY = dict(num_steps=1, max_digits=1, ops=("+",), max_value=10)


@functools.cache
def char_tokenizer():
    tok = tokenizers.build_char_tokenizer(tempfile.mkdtemp(prefix="jaxint-char-tok-"))
    assert len(tok) == CHAR_VOCAB
    return tok


def easy_problems(n: int, seed: int):
    return synthetic.make_problems(n, seed=seed, **EASY)


def sft_examples(problems, *, add_eos: bool = True):
    """Prompt = the problem as one user message, response = the reference solution."""
    tok = char_tokenizer()
    return [
        chat.render_example(tok, [{"role": "user", "content": p.problem}],
                            [("solution", p.solution, True)], add_eos=add_eos)
        for p in problems
    ]


def init_params(cfg: models.ModelConfig, seed: int) -> tuple[nnx.GraphDef, nnx.State]:
    """(graphdef, host params) drawn like `models.random_init` (normal(0.02) weights, unit
    norms) but with numpy: eager jax.random initialisation compiles one XLA program per
    parameter shape (~1 s of CPU each), the largest fixed cost of these tests."""
    graphdef, abstract = nnx.split(models.abstract(cfg))
    rng = np.random.default_rng(seed)
    flat = []
    for path, var in nnx.to_flat_state(abstract):
        spec = var.get_value()
        if "norm" in "/".join(map(str, path)):
            value = np.ones(spec.shape, spec.dtype)
        else:
            value = (0.02 * rng.standard_normal(spec.shape)).astype(spec.dtype)
        flat.append((path, var.replace(value)))
    return graphdef, nnx.from_flat_state(flat)


def committed(trainer):
    """Commits a new trainer's state to device 0, as a restored checkpoint's is, so that
    fresh and resumed trainers compile identical programs and share the compile cache
    (a committed argument adds sharding annotations to the program, hence its cache key)."""
    trainer.state = jax.device_put(trainer.state, jax.devices()[0])
    return trainer


def host_params(model) -> tuple[nnx.GraphDef, nnx.State]:
    """(graphdef, parameters copied to host numpy): immune to later donation."""
    graphdef, params = nnx.split(model)
    return graphdef, jax.tree.map(np.asarray, params)


def fresh(graphdef: nnx.GraphDef, params: nnx.State):
    """A new model owning new device buffers holding `params`. The buffers are committed to
    device 0, as restored checkpoints are, so a trainer that resumes compiles the same
    programs (and hits the persistent compile cache) as one that starts fresh."""
    return nnx.merge(graphdef, jax.device_put(params, jax.devices()[0]))


def flat(params) -> dict[str, np.ndarray]:
    """{"path/to/param": numpy value} of an nnx.State (or a model)."""
    if isinstance(params, nnx.Module):
        params = nnx.state(params)
    return {"/".join(map(str, path)): np.asarray(var.get_value())
            for path, var in nnx.to_flat_state(params)}


REF_ROWS, REF_WIDTH = 16, 128


@functools.cache
def _forward(graphdef: nnx.GraphDef):
    return jax.jit(lambda params, tokens, mask: nnx.merge(graphdef, params)(tokens, mask))


def token_logprobs(graphdef: nnx.GraphDef, params, sequences) -> list[np.ndarray]:
    """Reference log p(seq[t] | seq[:t]) for t = 1..n-1 of each sequence: the model's full
    logits (its plain forward, no chunking, no packing) and a float64 log-softmax. Rows are
    right-padded into [16, 128] batches, so each model config compiles one program."""
    out = []
    for i in range(0, len(sequences), REF_ROWS):
        chunk = [np.asarray(seq) for seq in sequences[i : i + REF_ROWS]]
        tokens = np.zeros((REF_ROWS, REF_WIDTH), np.int32)
        mask = np.zeros((REF_ROWS, REF_WIDTH), np.int32)
        for r, seq in enumerate(chunk):
            tokens[r, : len(seq)], mask[r, : len(seq)] = seq, 1
        logits = np.asarray(_forward(graphdef)(params, tokens, mask), np.float64)
        top = logits.max(axis=-1, keepdims=True)
        logp = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
        for r, seq in enumerate(chunk):
            out.append(np.take_along_axis(logp[r, : len(seq) - 1], seq[1:, None], -1)[:, 0])
    return out


def assert_trees_close(a, b, *, atol: float, rtol: float = 0.0) -> None:
    fa, fb = flat(a), flat(b)
    assert fa.keys() == fb.keys()
    for key, value in fa.items():
        np.testing.assert_allclose(value, fb[key], atol=atol, rtol=rtol, err_msg=key)


# ----------------------------------------------------------------------------- warm start
# A tiny model that has seen the answer format: GRPO and evaluation tests need a policy
# whose reward is above 0 (a random model never writes \boxed{}).
WARM_SFT = train_config.SFTConfig(
    epochs=1, batch_size=8, seq_len=128, batching="examples", max_steps=100, eval_fraction=0.0,
    eval_every=1000, log_every=50, seed=0,
    optimizer=train_config.OptimizerConfig(lr=5e-3, warmup_ratio=0.05, min_lr_ratio=0.1),
    checkpoint=train_config.CheckpointConfig(every=1000, keep=1, async_save=False),
)


@functools.cache
def warm_start() -> tuple[nnx.GraphDef, nnx.State, float]:
    """(graphdef, host params, final SFT loss) of `CHAR` after 100 SFT steps on 256 easy
    synthetic problems (seed 1), from a fixed random init."""
    out = pathlib.Path(tempfile.mkdtemp(prefix="jaxint-warm-"))
    examples = sft_examples(easy_problems(256, seed=1))
    trainer = sft.SFTTrainer(fresh(*init_params(CHAR, seed=0)), examples, WARM_SFT, out)
    summary = trainer.run(rundir.Metrics(out / "metrics.jsonl"), progress=False)
    trainer.checkpoints.close()
    graphdef, params = host_params(trainer.model())
    return graphdef, params, float(summary["train_loss"])
