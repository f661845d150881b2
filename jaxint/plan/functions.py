"""The steps a plan compiles, each with the inputs a run would give it.

Every builder returns a `Job`: the real jitted function (built by the same factories the
trainers and the engine use), its abstract arguments, and what else stays on the device
while it runs (`resident`: e.g. the train state during GRPO rollouts). Sizes follow the
run's own rules: the engine's slot count and cache length, the GRPO trainer's sequence
bucket, the SFT accumulation split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from jaxint.models import config as model_config
from jaxint.models import paged_cache
from jaxint.plan import abstract
from jaxint.plan import config as plan_config
from jaxint.sampling import engine as engine_lib
from jaxint.sampling import pages as pages_lib
from jaxint.sampling import steps as sampling_steps
from jaxint.stages import generate as generate_stage
from jaxint.train import grpo_step, loop_utils, optim, rl, rollouts, sft_step
from jaxint.train.credit import registry as credit

INT = jnp.int32
FLOAT = jnp.float32


@dataclasses.dataclass
class Job:
    """One function to compile.

    Attributes:
        name, shape: the table's row label and a readable shape ("A=8 x 8 x 16384").
        fn: the jitted function; args: its arguments (static ones as Python values).
        resident: other arrays live on the device meanwhile (abstract, sharded).
        while_trips: iterations assumed for `while` loops when counting FLOPs.
        weight_reads: per-device bytes of weights streamed from HBM beyond the arguments'
            single read (a pass per micro-batch or decode step), for the bandwidth bound.
        kv: decode rows: per-device KV bytes (`kv_bytes`), what one more sample costs
            (`sample_bytes`: a dense row, or a paged sample's pages at `expected_len`) and
            the compiled `slots_per_device`, for `report.kv_table`.
    """

    name: str
    shape: str
    fn: Callable
    args: tuple
    resident: Any = ()
    while_trips: int = 1
    weight_reads: float = 0.0
    kv: dict | None = None


@dataclasses.dataclass(frozen=True)
class Context:
    cfg: plan_config.PlanConfig
    model_cfg: model_config.ModelConfig
    mesh: Mesh
    graphdef: nnx.GraphDef
    params: nnx.State  # abstract, unsharded

    @property
    def tensor(self) -> int:
        return dict(zip(self.mesh.axis_names, self.mesh.axis_sizes, strict=True)).get("tensor", 1)

    def weight_pass_bytes(self, dtype: str) -> float:
        """Bytes of weights one device reads per pass: FSDP gathers them, tensor splits them."""
        return self.model_cfg.num_params() * jnp.dtype(dtype).itemsize / self.tensor


def rl_seq_len(cfg: plan_config.PlanConfig) -> int:
    """GRPO's training sequence length: the trainer's bucket of prompt + completion."""
    return rollouts.bucket(cfg.plan.prompt_tokens + cfg.rl.sampling.max_new_tokens)


def _grpo_tx(cfg: plan_config.PlanConfig):
    rl_cfg = cfg.rl
    updates = rl_cfg.steps * rl_cfg.update_epochs * (
        rl_cfg.prompts_per_step // rl_cfg.mini_batch_prompts)
    return optim.make(rl_cfg.optimizer, updates)


def _ref_params(ctx: Context) -> Any:
    return abstract.params(ctx.params, ctx.mesh) if ctx.cfg.rl.kl_coef > 0 else ()


def sft(ctx: Context) -> Job:
    cfg = ctx.cfg.sft
    tx = optim.make(cfg.optimizer, cfg.max_steps or 1000)
    state = abstract.train_state(ctx.params, tx, ctx.mesh)
    A, T = cfg.accumulation, cfg.seq_len
    m = cfg.batch_size // A
    fields = {k: ((A, m, T), INT) for k in ("tokens", "positions", "segment_ids")}
    fields["loss_mask"] = ((A, m, T), FLOAT)
    batch = abstract.batch(fields, ctx.mesh, batch_dim=1)
    fn = loop_utils.jit_train_step(sft_step.make_train_step(ctx.graphdef, tx), state, ctx.mesh)
    return Job("sft_step", f"A={A} x {m} x {T}", fn, (state, batch),
               weight_reads=3 * A * ctx.weight_pass_bytes(ctx.model_cfg.param_dtype))


def grpo_update(ctx: Context) -> Job:
    cfg = ctx.cfg.rl
    tx = _grpo_tx(ctx.cfg)
    state = abstract.train_state(ctx.params, tx, ctx.mesh)
    A, T = cfg.accumulation, rl_seq_len(ctx.cfg)
    m = cfg.mini_batch_prompts * cfg.samples_per_prompt // A
    fields = {k: ((A, m, T), INT) for k in ("tokens", "positions", "segment_ids")}
    per_token = cfg.credit in credit.PER_TOKEN  # one advantage per token, not per sequence
    fields.update(loss_mask=((A, m, T), FLOAT), old_logp=((A, m, T - 1), FLOAT),
                  advantages=((A, m, T - 1) if per_token else (A, m), FLOAT))
    if cfg.kl_coef > 0:
        fields["ref_logp"] = ((A, m, T - 1), FLOAT)
    batch = abstract.batch(fields, ctx.mesh, batch_dim=1)
    fn = loop_utils.jit_train_step(grpo_step.make_update_fn(ctx.graphdef, tx, cfg), state,
                                   ctx.mesh)
    return Job("grpo_update", f"A={A} x {m} x {T}", fn, (state, batch),
               resident=_ref_params(ctx),
               weight_reads=3 * A * ctx.weight_pass_bytes(ctx.model_cfg.param_dtype))


def grpo_score(ctx: Context) -> Job:
    """Old (and, with KL, reference) log-probs: one compile serves both; either way the
    train state and the reference copy are on the device together."""
    cfg = ctx.cfg.rl
    state = abstract.train_state(ctx.params, _grpo_tx(ctx.cfg), ctx.mesh)
    B = cfg.micro_batch_size or cfg.prompts_per_step * cfg.samples_per_prompt
    T = rl_seq_len(ctx.cfg)
    batch = abstract.batch({k: ((B, T), INT) for k in ("tokens", "positions", "segment_ids")},
                           ctx.mesh, batch_dim=0)
    fn = jax.jit(grpo_step.make_score_fn(ctx.graphdef, cfg.logprob_chunk))
    resident = (state.opt_state, state.step, _ref_params(ctx))
    return Job("grpo_score", f"{B} x {T}", fn, (state.params, batch), resident=resident)


@dataclasses.dataclass(frozen=True)
class _Sampler:
    """The engine's compiled sizes for one sampling workload."""

    engine: engine_lib.Engine
    slots: int
    cache_len: int
    bucket: int
    rows: int


def _sampler(ctx: Context, sampling_cfg, num_prompts: int) -> _Sampler:
    """The sizes `Engine.run` would compile for `num_prompts` prompts of the planned length
    (the engine's own sizing helpers; worst case: every prompt at full length and budget)."""
    engine = engine_lib.Engine(ctx.graphdef, ctx.model_cfg, sampling_cfg, mesh=ctx.mesh)
    prompt = ctx.cfg.plan.prompt_tokens
    slots = engine._num_slots(num_prompts * sampling_cfg.n)
    cache_len = engine._cache_len(prompt, sampling_cfg.max_new_tokens)
    bucket = engine_lib.next_pow2(prompt, engine_lib.MIN_PROMPT_BUCKET)
    per_call = max(1, sampling_cfg.prefill_tokens // bucket)
    fill = -(-slots // sampling_cfg.n)  # prompts whose samples fit the free slots at once
    rows = engine_lib.row_bucket(min(per_call, num_prompts, fill))
    return _Sampler(engine, slots, cache_len, bucket, rows)


def _sampling_jobs(ctx: Context, prefix: str, sampling_cfg, num_prompts: int, resident):
    s = _sampler(ctx, sampling_cfg, num_prompts)
    e, mesh, n = s.engine, ctx.mesh, sampling_cfg.n
    params = abstract.params(ctx.params, mesh, ctx.model_cfg.dtype)
    state = abstract.decoder_state(ctx.model_cfg, s.slots, s.cache_len, sampling_cfg.chunk_steps,
                                   e.cache_dtype, mesh)
    b, P = s.rows, s.bucket
    host = lambda shape, dtype=INT: abstract.replicated(shape, dtype, mesh)  # noqa: E731
    prefill_args = (ctx.graphdef, e.selection, params, state, host((b, P)), host((b,)),
                    host((b, n)), host((b, n, 2), jnp.uint32), host((b,)))
    C = sampling_cfg.chunk_steps
    kv = abstract.device_bytes((state.cache_k, state.cache_v))
    pass_bytes = ctx.weight_pass_bytes(ctx.model_cfg.dtype)
    return [
        _paged_decode(ctx, prefix, s, sampling_cfg, params, resident, pass_bytes),
        Job(f"{prefix}_prefill", f"{b} x {P} -> {b}x{n} of {s.slots} slots", sampling_steps.prefill,
            prefill_args, resident=resident, weight_reads=pass_bytes),
        Job(f"{prefix}_decode", f"{s.slots} slots x {s.cache_len}, {C} steps",
            sampling_steps.decode_chunk, (ctx.graphdef, e.selection, s.cache_len, params, state),
            resident=resident, while_trips=C, weight_reads=C * (pass_bytes + kv),
            kv=_kv_info(ctx, kv, s.slots, s.cache_len)),
    ]


def paged_pool_tokens(sampling_cfg, slots: int, cache_len: int) -> int:
    """The pool a paged plan compiles: `kv_pool_tokens`, else every slot at `expected_len`
    (whole pages), else (worst case) every slot at the dense cache length."""
    if sampling_cfg.kv_pool_tokens is not None:
        return sampling_cfg.kv_pool_tokens
    ps = sampling_cfg.page_size
    each = min(sampling_cfg.expected_len or cache_len, cache_len)
    return slots * pages_lib.pages_for(each, ps) * ps


def _paged_decode(ctx: Context, prefix: str, s: _Sampler, sampling_cfg, params, resident,
                  pass_bytes: float) -> Job:
    """The decode chunk over a paged pool (the TPU kernel on a TPU mesh)."""
    ps, C = sampling_cfg.page_size, sampling_cfg.chunk_steps
    tokens = paged_pool_tokens(sampling_cfg, s.slots, s.cache_len)
    shards, per_shard = _pool_split(ctx, tokens, ps)
    state = abstract.decoder_state(ctx.model_cfg, s.slots, s.cache_len, C, s.engine.cache_dtype,
                                   ctx.mesh, shards * per_shard, ps)
    width = pages_lib.pages_for(s.cache_len, ps)
    table = abstract.batch({"t": ((s.slots, width), INT)}, ctx.mesh, batch_dim=0)["t"]
    platform = next(iter(ctx.mesh.devices.flat)).platform
    kv = abstract.device_bytes(state.cache_k)
    expected = sampling_cfg.expected_len or "worst case"
    return Job(f"{prefix}_decode_paged",
               f"{s.slots} slots, pool {shards * per_shard * ps} tokens (expected_len "
               f"{expected}), {C} steps", sampling_steps.decode_chunk,
               (ctx.graphdef, s.engine.selection, s.cache_len, params, state, table,
                paged_cache.kernel_for(platform, ctx.model_cfg.head_dim)),
               resident=resident, while_trips=C, weight_reads=C * (pass_bytes + kv),
               kv=_kv_info(ctx, kv, s.slots, shards * per_shard * ps / s.slots,
                           pages_lib.pages_for(min(sampling_cfg.expected_len or s.cache_len,
                                                   s.cache_len), ps) * ps))


def _kv_info(ctx: Context, kv_bytes: int, slots: int, tokens_per_slot: float,
             sample_tokens: int | None = None) -> dict:
    shards = _pool_split(ctx, 1, 1)[0]
    token_bytes = kv_bytes * shards / (slots * tokens_per_slot)
    return {"kv_bytes": kv_bytes, "slots_per_device": slots / shards,
            "sample_bytes": token_bytes * (sample_tokens or tokens_per_slot)}


def _pool_split(ctx: Context, tokens: int, page_size: int) -> tuple[int, int]:
    sizes = dict(zip(ctx.mesh.axis_names, ctx.mesh.axis_sizes, strict=True))
    shards = sizes.get("data", 1) * sizes.get("fsdp", 1)
    return shards, -(-pages_lib.pages_for(tokens, page_size) // shards)


def rl_sampling(ctx: Context) -> list[Job]:
    """GRPO rollouts: the train state (and reference copy) stay on the device meanwhile."""
    cfg = ctx.cfg.rl
    state = abstract.train_state(ctx.params, _grpo_tx(ctx.cfg), ctx.mesh)
    sampling_cfg = rl.sampler_config(cfg)
    return _sampling_jobs(ctx, "rl", sampling_cfg, cfg.prompts_per_step,
                          resident=(state, _ref_params(ctx)))


def gen_sampling(ctx: Context) -> list[Job]:
    """The generate stage: the loaded model stays alive beside its compute-dtype copy when
    `param_dtype` differs from `dtype`."""
    cfg = ctx.cfg.generate
    sampling_cfg = generate_stage.sampler_config(cfg)
    cast = ctx.model_cfg.param_dtype != ctx.model_cfg.dtype
    resident = abstract.params(ctx.params, ctx.mesh) if cast else ()
    return _sampling_jobs(ctx, "gen", sampling_cfg, cfg.shard_size, resident)


def jobs(ctx: Context, wanted: tuple[str, ...]) -> list[Job]:
    """The jobs named in `wanted` (see `plan_config.FUNCTIONS`), in that table order."""
    builders: dict[str, Callable[[], list[Job]]] = {
        "sft_step": lambda: [sft(ctx)],
        "grpo_update": lambda: [grpo_update(ctx)],
        "grpo_score": lambda: [grpo_score(ctx)],
        "rl_prefill": lambda: rl_sampling(ctx),
        "rl_decode": lambda: rl_sampling(ctx),
        "gen_prefill": lambda: gen_sampling(ctx),
        "gen_decode": lambda: gen_sampling(ctx),
        "rl_decode_paged": lambda: rl_sampling(ctx),
        "gen_decode_paged": lambda: gen_sampling(ctx),
    }
    out: list[Job] = []
    for name in plan_config.FUNCTIONS:
        if name in wanted:
            out += [j for j in builders[name]() if j.name == name]
    return out
