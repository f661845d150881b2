"""The slot-refilling engine: a fixed set of batch slots fed from a queue of samples.

Decode runs in chunks of `chunk_steps` device steps. Between chunks the host collects the
new tokens, ends samples (stop strings, budget), and prefills waiting prompts into the freed
slots, so a few 16K-token rollouts never leave the other slots idle. Every compiled shape is
bucketed (prompt length, prompt rows, visible cache length) so compiles stay bounded.

With `sampling.kv_cache: paged` the slots share one pool of KV pages instead of owning a
cache_len-long row each (`jaxint.models.paged_cache` on device, `jaxint.sampling.pages` on
the host). Policy, and why:
  * Lazy allocation: between chunks every running sample gets pages for the positions the
    next chunk can write (its length + chunk_steps, capped at prompt + budget), so memory
    follows actual lengths, not the worst case every dense row is sized for.
  * Admission: a new sample starts only if its shard can give it its prompt pages (or share
    them) plus one chunk; otherwise it waits in the queue, first in line.
  * Sharing: the samples of a forked prompt share its full prompt pages (reference-counted);
    the partly filled last prompt page is each sample's own copy (copy-on-write: each writes
    right after the prompt).
  * Preemption: when a running sample's next chunk does not fit, the most recently started
    sample of its shard gives its pages back and goes to the head of the queue (it has the
    least work to lose, and the oldest sample always keeps room to finish, so the run makes
    progress). It keeps its tokens: when it gets a slot again, its prompt and all its tokens
    but the last are prefilled (one row of its own, recomputing its cache) and it goes on
    from its next step, so no token is decoded twice. A sample's randomness depends only on
    (seed, prompt, sample index, step), never on scheduling.
  * Freeing: a finished sample's pages return to the pool at once.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from jaxint import progress as progress_lib
from jaxint.models import config as model_config
from jaxint.models import paged_cache
from jaxint.parallel import host
from jaxint.sampling import config as sampling_config
from jaxint.sampling import pages as pages_lib
from jaxint.sampling import queue as queue_lib
from jaxint.sampling import results, steps
from jaxint.sampling import state as state_lib
from jaxint.sampling import stops as stops_lib

MIN_PROMPT_BUCKET = 16
MIN_KV_BUCKET = 128


def next_pow2(x: int, minimum: int = 1) -> int:
    return max(minimum, 1 << max(0, math.ceil(math.log2(max(1, x)))))


def row_bucket(x: int) -> int:
    """Prompt rows per prefill call: powers of 2. Each compiled shape costs seconds on a CPU
    (a minute for a 4B model on TPU), but with forking a fill prefills few rows (one per
    prompt, not per sample), and padding 2 rows to 4 or 8 to 16 (powers of 4) would double
    the prefill work of a GRPO group or a batch of long prefixes."""
    return next_pow2(x)


@dataclasses.dataclass
class _Slot:
    """Host-side record of the sample occupying a slot."""

    prompt: int
    sample: int
    prompt_len: int
    budget: int
    tokens: list[int] = dataclasses.field(default_factory=list)
    logprobs: list[float] = dataclasses.field(default_factory=list)
    checked: int = 0
    order: int = 0  # start sequence number (paged: the newest is preempted first)


class Engine:
    """Generates n samples for each prompt with a fixed number of slots.

    Args:
        graphdef: the model's NNX graph definition (static).
        model_cfg: the model's config (cache shapes).
        cfg: sampling settings.
        mesh: the mesh the parameters live on (None: single device).
        tokenizer: needed for stop strings and `Sample.text`.
    """

    def __init__(
        self, graphdef: nnx.GraphDef, model_cfg: model_config.ModelConfig,
        cfg: sampling_config.SamplingConfig, *, mesh: Mesh | None = None, tokenizer: Any = None,
    ):
        if cfg.stop_strings and tokenizer is None:
            raise ValueError("sampling.stop_strings needs a tokenizer")
        self.graphdef = graphdef
        self.model_cfg = model_cfg
        self.cfg = cfg
        self.mesh = mesh
        self.tokenizer = tokenizer
        self.matcher = (stops_lib.StopMatcher(tokenizer, cfg.stop_strings) if cfg.stop_strings
                        else None)
        self.selection = steps.Selection(cfg.temperature, cfg.top_k, cfg.top_p,
                                         tuple(cfg.stop_token_ids))
        self.cache_dtype = str(state_lib.cache_dtype(model_cfg, cfg.cache_dtype))
        self.stats: dict[str, float] = {}
        self.page_pool: pages_lib.PagePool | None = None  # the last paged run's (tests read it)

    # ------------------------------------------------------------------ public
    def run(
        self, params: nnx.State, prompts: Sequence[Sequence[int]], *, seed: int,
        progress: bool = True, desc: str = "sampling",
        max_new_tokens: Sequence[int] | None = None,
    ) -> list[list[results.Sample]]:
        """Samples `cfg.n` continuations of every prompt; results[i][j] is prompt i, sample j.

        `max_new_tokens` optionally gives each prompt its own budget (default: the config's).
        """
        prompts = self._validate(prompts)
        if not prompts:
            return []
        budgets = self._budgets(max_new_tokens, len(prompts))
        self._check_cache(prompts, budgets)
        n = self.cfg.n
        total = len(prompts) * n
        slots = self._num_slots(total)
        cache_len = self._cache_len(max(len(p) for p in prompts), int(budgets.max()))
        keys = self._sample_keys(seed, len(prompts), n)
        pool = self._page_pool(slots, cache_len, prompts, budgets)
        paged = pool is not None
        with self._mesh_context():
            state = steps.allocate(
                self.model_cfg, slots, cache_len, self.cfg.chunk_steps, self.cache_dtype,
                pool.shards * pool.per_shard if paged else 0, self.cfg.page_size if paged else 0,
            )
            state = self._commit(state, params)
            platform = next(iter(jax.tree.leaves(params)[0].devices())).platform
            run = _Run(self, params, prompts, budgets, keys, slots, cache_len, state, pool,
                       paged_cache.kernel_for(platform, self.model_cfg.head_dim))
            bar = progress_lib.Bar(total=total, desc=desc, disable=not progress, unit="sample",
                                   leave=False)
            try:
                out = run.loop(bar)
            finally:
                bar.close()
        self.stats = run.stats()
        return out

    # ------------------------------------------------------------------ helpers
    def _validate(self, prompts: Sequence[Sequence[int]]) -> list[np.ndarray]:
        out = []
        limit = self.cfg.max_prompt_tokens
        V = self.model_cfg.vocab_size
        for i, p in enumerate(prompts):
            arr = np.asarray(p, dtype=np.int64).reshape(-1)
            if arr.size == 0:
                raise ValueError(f"prompt {i} is empty")
            if arr.min() < 0 or arr.max() >= V:
                raise ValueError(f"prompt {i} has token ids outside [0, {V})")
            if limit is not None and arr.size > limit:
                raise ValueError(f"prompt {i} has {arr.size} tokens > max_prompt_tokens={limit}")
            out.append(arr.astype(np.int32))
        return out

    def _budgets(self, max_new_tokens: Sequence[int] | None, count: int) -> np.ndarray:
        if max_new_tokens is None:
            return np.full((count,), self.cfg.max_new_tokens, np.int32)
        budgets = np.asarray(max_new_tokens, np.int32).reshape(-1)
        if budgets.shape != (count,) or budgets.min() < 1:
            raise ValueError(f"max_new_tokens: need {count} positive budgets, got {budgets.shape}")
        return budgets

    def cache_limit(self) -> int | None:
        """The configured KV cache length of one slot (see `SamplingConfig.max_cache_tokens`)."""
        if self.cfg.max_cache_tokens is not None:
            return self.cfg.max_cache_tokens
        if self.cfg.max_prompt_tokens is not None:
            return self._cache_len(self.cfg.max_prompt_tokens, self.cfg.max_new_tokens)
        return None

    def _check_cache(self, prompts: Sequence[np.ndarray], budgets: np.ndarray) -> None:
        """Refuses, by name, a prompt whose cache (prompt bucket + its budget) would not fit
        the configured cache length: every slot's cache is as long as the longest need, so
        one such prompt would size all of them past what the config allows."""
        limit = self.cache_limit()
        if limit is None:
            return
        for i, (p, budget) in enumerate(zip(prompts, budgets, strict=True)):
            need = self._cache_len(p.size, int(budget))
            if need > limit:
                raise ValueError(
                    f"prompt {i} has {p.size} tokens: with {int(budget)} new tokens its KV cache "
                    f"needs {need} positions > the configured cache length {limit} "
                    f"(sampling.max_cache_tokens, or max_prompt_tokens + max_new_tokens)")

    def pool_pages(self, slots: int, cache_len: int) -> tuple[int, int]:
        """(slot shards, pages per shard) of the paged pool: `kv_pool_tokens` (None: what the
        dense cache holds, slots x cache_len) in pages, split evenly over the slot shards."""
        ps = self.cfg.page_size
        shards = self._batch_multiple()
        tokens = self.cfg.kv_pool_tokens or slots * cache_len
        return shards, math.ceil(pages_lib.pages_for(tokens, ps) / shards)

    def _page_pool(self, slots: int, cache_len: int, prompts: Sequence[np.ndarray],
                   budgets: np.ndarray) -> pages_lib.PagePool | None:
        """The host allocator of a paged run (None: dense). Refuses, naming the key, a pool
        whose shard cannot hold the run's largest sample (it could never finish)."""
        if self.cfg.kv_cache != "paged":
            return None
        shards, per_shard = self.pool_pages(slots, cache_len)
        ps = self.cfg.page_size
        need = max(len(p) + int(b) for p, b in zip(prompts, budgets, strict=True))
        if per_shard < pages_lib.pages_for(need, ps):
            raise ValueError(
                f"sampling.kv_pool_tokens={self.cfg.kv_pool_tokens} gives each of {shards} slot "
                f"shard(s) {per_shard * ps} tokens of pages, fewer than one sample needs "
                f"({need}: prompt + max_new_tokens, in pages of {ps})")
        self.page_pool = pages_lib.PagePool(shards, per_shard)
        return self.page_pool

    def _batch_multiple(self) -> int:
        if self.mesh is None:
            return 1
        sizes = dict(zip(self.mesh.axis_names, self.mesh.axis_sizes))
        return sizes.get("data", 1) * sizes.get("fsdp", 1)

    def _num_slots(self, total: int) -> int:
        slots = min(self.cfg.max_batch_slots, total)
        m = self._batch_multiple()
        return int(math.ceil(slots / m) * m)

    def _cache_len(self, max_prompt: int, max_new: int) -> int:
        need = max(next_pow2(max_prompt, MIN_PROMPT_BUCKET), max_prompt + max_new)
        return int(math.ceil(need / 64) * 64)

    def _sample_keys(self, seed: int, num_prompts: int, n: int) -> np.ndarray:
        """[prompts, n, 2] raw keys: fold_in(fold_in(key(seed), prompt), sample)."""
        base = jax.random.key(seed)
        p = jnp.repeat(jnp.arange(num_prompts), n)
        j = jnp.tile(jnp.arange(n), num_prompts)
        keys = jax.vmap(lambda a, b: jax.random.fold_in(jax.random.fold_in(base, a), b))(p, j)
        return np.asarray(jax.random.key_data(keys)).reshape(num_prompts, n, 2)

    def _commit(self, state: state_lib.DecodeState, params: nnx.State) -> state_lib.DecodeState:
        """Without a mesh, `allocate`'s output is uncommitted while every later state (a
        prefill/decode output) is committed to the parameters' device; jit keys executables
        on that, so the run's first prefill would compile a second, identical executable."""
        devices = jax.tree.leaves(params)[0].devices() if self.mesh is None else set()
        return jax.device_put(state, next(iter(devices))) if len(devices) == 1 else state

    def _mesh_context(self):
        if self.mesh is None:
            import contextlib

            return contextlib.nullcontext()
        return jax.set_mesh(self.mesh)

    def kv_bucket(self, need: int, cache_len: int) -> int:
        return min(cache_len, next_pow2(need, MIN_KV_BUCKET))

    def chunk_plan(self, need: int, cache_len: int) -> tuple[int, int]:
        """(decode steps, visible cache bucket) of the next chunk, when the longest running
        sample already fills `need` cache positions.

        A full chunk needs the bucket holding need + chunk_steps. When the bucket half that
        size still holds at least half a chunk, a shorter chunk runs in it instead: its steps
        attend to half as many positions, for one more host round trip. (Prompts end
        anywhere, so the first chunk of a 64-token prompt otherwise read 256 positions for
        its 63 steps that fit in 128: attention is a fifth of a small model's decode step.)
        """
        steps = self.cfg.chunk_steps
        full = self.kv_bucket(need + steps, cache_len)
        low = self.kv_bucket(need + 1, cache_len)
        if low < full and 2 * (low - need) >= steps:
            return low - need, low
        return steps, full


class _Run:
    """One `Engine.run`: the queue, the slots, and the chunk loop."""

    def __init__(self, engine: Engine, params, prompts, budgets, keys, slots, cache_len, state,
                 pool: pages_lib.PagePool | None = None,
                 paging: paged_cache.Paging | None = None):
        self.e = engine
        self.params = params
        self.prompts = prompts
        self.budgets = budgets
        self.keys = keys
        self.num_slots = slots
        self.cache_len = cache_len
        self.state = state
        self.queue = queue_lib.SampleQueue(prompts, budgets, engine.cfg.n, engine.cfg.fork)
        self.width = engine.cfg.n if engine.cfg.fork else 1  # samples per prefill row
        self.held: tuple[int, steps.Prefix] | None = None  # (class, its prefilled prompt)
        self.slots: list[_Slot | None] = [None] * slots
        self.out: list[list[results.Sample | None]] = [[None] * engine.cfg.n for _ in prompts]
        self.tokens_out = 0
        self.t0 = time.perf_counter()
        self.prefill_s = 0.0
        self.decode_s = 0.0
        self.chunks = 0
        self.counts = collections.Counter()  # prefill rows/tokens, forked samples
        # Paged cache (None: dense): the allocator, each slot's pages, the shared full prompt
        # pages of classes still being started ({class: {shard: pages}}, one reference each
        # for the class), and where each just-admitted slot starts copying its prompt.
        self.pool, self.paging = pool, paging
        ps = engine.cfg.page_size
        self.pages = (pages_lib.SlotPages(pool, slots, pages_lib.pages_for(cache_len, ps), ps)
                      if pool is not None else None)
        self.class_pages: dict[int, dict[int, list[int]]] = {}
        self.write_from: dict[int, int] = {}
        self.started = 0
        self.resumed: dict[tuple[int, int], _Slot] = {}  # preempted, waiting to resume
        self.starved = False  # the pool could not admit the head of the queue this round

    def loop(self, bar: progress_lib.Bar) -> list[list[results.Sample]]:
        refill = self.e.cfg.refill
        while self.queue or self._busy():
            free = [i for i, s in enumerate(self.slots) if s is None]
            self.starved = False
            if self.queue and free and (refill or len(free) == self.num_slots):
                self._fill(free, bar)
                if (refill and self.queue and not self.starved
                        and any(s is None for s in self.slots)):
                    continue  # samples that ended at their first token freed slots again
            if self._busy():
                self._decode(bar)
            elif self.starved:
                raise RuntimeError("page pool: nothing runs and no sample can be admitted")
        self._drop_class_pages(keep=None)
        return self.out  # type: ignore[return-value]

    def _busy(self) -> bool:
        return any(s is not None for s in self.slots)

    # -------------------------------------------------------------- prefill / fork
    def _fill(self, free: list[int], bar: progress_lib.Bar) -> None:
        """Gives free slots to queued samples: first more samples of the held prompt
        (forked), then new prompts (one prefill row per class), then the overflow of the
        class now held (forked). Drops the held prompt once its class has all started."""
        self._fork_held(free, bar)
        if not self.starved:
            self._fill_rows(free, bar)
        if not self.starved:
            self._fork_held(free, bar)
        if self.held is not None and self.held[0] != self.queue.head_class():
            self.held = None
        self._drop_class_pages(keep=self.held[0] if self.held is not None else None)

    def _order_free(self, free: list[int], cls: int | None) -> None:
        """Paged runs split the pool per shard: free slots are taken (in place) from the
        shard with the most pages a sample of class `cls` could use (its free pages, plus
        the prompt pages that class already holds there), slots of one shard together so a
        forked class stays in one shard. In slot order, the head of the queue waited for
        pages in the first free slot's shard while another shard had both a free slot and
        pages (`stats["admission_waits"]` counts such waits)."""
        if self.pages is None or self.pool.shards == 1 or len(free) < 2:
            return
        held = self.class_pages.get(cls, {}) if cls is not None else {}

        def room(shard: int) -> int:
            return self.pool.free_pages(shard) + len(held.get(shard, ()))

        free.sort(key=lambda i: (-room(self.pages.shard(i)), self.pages.shard(i), i))

    def _fill_rows(self, free: list[int], bar: progress_lib.Bar) -> None:
        """New prompts into free slots, one prefill row per class, bucketed by length."""
        self._order_free(free, self.queue.head_class())
        rows = self._admit_rows(self.queue.take_rows(free, self.width))
        groups: dict[int, list[list[queue_lib.Start]]] = collections.defaultdict(list)
        for row in rows:
            groups[self._prompt_bucket(len(self._prefix(row[0])))].append(row)
        for bucket, rlist in sorted(groups.items()):
            per_call = max(1, self.e.cfg.prefill_tokens // bucket)
            for k in range(0, len(rlist), per_call):
                self._prefill_call(bucket, rlist[k : k + per_call], bar)

    def _fork_held(self, free: list[int], bar: progress_lib.Bar) -> None:
        """Starts queued samples of the held prompt's class in free slots, no prefill."""
        if self.held is None:
            return
        self._order_free(free, self.held[0])
        starts = self._admit(self.queue.take_class(self.held[0], free))
        if not starts:
            return
        p = starts[0].prompt
        m = next_pow2(len(starts))
        dest = np.full((1, m), self.num_slots, np.int32)
        keys = np.zeros((1, m, 2), np.uint32)
        for c, st in enumerate(starts):
            dest[0, c], keys[0, c] = st.slot, self.keys[st.prompt, st.sample]
        t = time.perf_counter()
        self.state, first, logprob = steps.fork(
            self.e.selection, self.state, self.held[1], np.asarray([len(self.prompts[p])],
            np.int32), dest, keys, np.asarray([self.budgets[p]], np.int32),
            self._page_write({st.slot: 0 for st in starts}))
        self.counts["forked"] += len(starts)
        self._started([starts], first, logprob, t, bar)

    def _prefix(self, st: queue_lib.Start) -> np.ndarray:
        """What a start prefills: its prompt, or for a sample resuming after preemption its
        prompt and all its tokens but the last (that one is its next input)."""
        prompt = self.prompts[st.prompt]
        gone = self.resumed.get((st.prompt, st.sample))
        if gone is None:
            return prompt
        return np.concatenate([prompt, np.asarray(gone.tokens[:-1], np.int32)])

    def _prompt_bucket(self, length: int) -> int:
        """Prefill length: a power of 2, never past the cache (a resumed prefix can be
        longer than any prompt; its power of 2 could pass the slots' page tables)."""
        return min(next_pow2(length, MIN_PROMPT_BUCKET), self.cache_len)

    def _prefill_call(
        self, bucket: int, rows: list[list[queue_lib.Start]], bar: progress_lib.Bar
    ) -> None:
        """One prefill of len(rows) prompts; holds the row of the class left partly started."""
        b = row_bucket(len(rows))
        tokens = np.zeros((b, bucket), np.int32)
        lens = np.ones((b,), np.int32)
        dest = np.full((b, self.width), self.num_slots, np.int32)
        keys = np.zeros((b, self.width, 2), np.uint32)
        budgets = np.ones((b,), np.int32)
        resume_tokens = np.zeros((b,), np.int32)
        resume_steps = np.zeros((b,), np.int32)
        pending = self.queue.head_class()
        hold = None
        for r, row in enumerate(rows):
            prompt = self._prefix(row[0])
            tokens[r, : len(prompt)] = prompt
            lens[r] = len(prompt)
            budgets[r] = self.budgets[row[0].prompt]
            gone = self.resumed.get((row[0].prompt, row[0].sample))
            if gone is not None:  # a class of its own: a row of one
                resume_tokens[r], resume_steps[r] = gone.tokens[-1], len(gone.tokens)
            for c, st in enumerate(row):
                dest[r, c], keys[r, c] = st.slot, self.keys[st.prompt, st.sample]
            if self.queue.class_of(row[0].prompt, row[0].sample) == pending:
                hold = r
        t = time.perf_counter()
        self.state, first, logprob, prefix = steps.prefill(
            self.e.graphdef, self.e.selection, self.params, self.state,
            tokens, lens, dest, keys, budgets, np.int32(hold or 0),
            self._page_write({st.slot: r for r, row in enumerate(rows) for st in row}),
            steps.Resume(resume_tokens, resume_steps),
        )
        if hold is not None:
            self.held = (pending, prefix)
        self.counts["prefill_rows"] += len(rows)
        self.counts["prefill_tokens"] += int(lens[: len(rows)].sum())
        self.counts["prefill_tokens_padded"] += b * bucket
        self._started(rows, first, logprob, t, bar)

    def _started(
        self, rows: list[list[queue_lib.Start]], first: jax.Array, logprob: jax.Array,
        t: float, bar: progress_lib.Bar,
    ) -> None:
        """Records new samples and their first tokens ([rows, width] device arrays)."""
        first, logprob = host.fetch((first, logprob))
        self.prefill_s += time.perf_counter() - t
        done = np.zeros(self.num_slots, bool)
        for r, row in enumerate(rows):
            for c, st in enumerate(row):
                p = st.prompt
                gone = self.resumed.pop((p, st.sample), None)
                if gone is not None:  # goes on with its tokens (its last one is on device)
                    gone.order = self.started
                    self.slots[st.slot] = gone
                    self.started += 1
                    self.tokens_out += len(gone.tokens)
                    self.counts["resumed"] += 1
                    continue
                self.slots[st.slot] = _Slot(p, st.sample, len(self.prompts[p]),
                                            int(self.budgets[p]), order=self.started)
                self.started += 1
                self._append(st.slot, [int(first[r, c])], [float(logprob[r, c])])
                done[st.slot] = self._maybe_finish(st.slot, device_active=None, bar=bar)
        self._release(done)

    # -------------------------------------------------------------- decode
    def _decode(self, bar: progress_lib.Bar) -> None:
        table = None
        if self.pages is not None:
            self._grow_pages()
            if not self._busy():
                return
            table = self.pages.table.copy()
        busy = [i for i, s in enumerate(self.slots) if s is not None]
        need = max(self.slots[i].prompt_len + len(self.slots[i].tokens) for i in busy)
        limit, kv_len = self.e.chunk_plan(need, self.cache_len)
        t = time.perf_counter()
        self.state = steps.decode_chunk(
            self.e.graphdef, self.e.selection, kv_len, self.params, self.state, table,
            paging=self.paging, limit=np.int32(limit),
        )
        out_tokens, out_logprobs, count, active = host.fetch((
            self.state.out_tokens, self.state.out_logprobs, self.state.out_count, self.state.active
        ))
        self.decode_s += time.perf_counter() - t
        self.chunks += 1
        self.counts["attended_positions"] += limit * kv_len
        done = np.zeros(self.num_slots, bool)
        for i in busy:
            c = int(count[i])
            self.counts["decoded_tokens"] += c
            self._append(i, out_tokens[i, :c].tolist(), out_logprobs[i, :c].tolist())
            done[i] = self._maybe_finish(i, device_active=bool(active[i]), bar=bar)
        self._release(done & active)

    # -------------------------------------------------------------- bookkeeping
    def _append(self, slot: int, tokens: list[int], logprobs: list[float]) -> None:
        s = self.slots[slot]
        s.tokens.extend(tokens)
        s.logprobs.extend(logprobs)
        self.tokens_out += len(tokens)

    def _maybe_finish(
        self, slot: int, *, device_active: bool | None, bar: progress_lib.Bar
    ) -> bool:
        """Ends the slot's sample if a stop token, stop string or the budget ended it."""
        s = self.slots[slot]
        cfg = self.e.cfg
        stop: int | str | None = None
        reason = None
        if self.e.matcher is not None:
            cut = self.e.matcher.find(s.tokens, s.checked)
            s.checked = len(s.tokens)
            if cut is not None:
                del s.tokens[cut:], s.logprobs[cut:]
                reason = "stop"
        if reason is None and s.tokens and s.tokens[-1] in cfg.stop_token_ids:
            reason, stop = "stop", s.tokens[-1]
        if reason is None and len(s.tokens) >= s.budget:
            reason = "length"
        if reason is None:
            if device_active is False:
                raise RuntimeError(f"slot {slot}: device ended a sample the host did not")
            return False
        text = None
        if self.e.tokenizer is not None:
            text = self.e.tokenizer.decode(s.tokens, skip_special_tokens=True)
            if self.e.matcher is not None:
                text, hit = self.e.matcher.cut_text(text)
                stop = hit if hit is not None else stop
        self.out[s.prompt][s.sample] = results.Sample(
            s.prompt, s.sample, np.asarray(s.tokens, np.int32),
            np.asarray(s.logprobs, np.float32), reason, stop, text,
        )
        self.slots[slot] = None
        if self.pages is not None:
            self.pages.clear(slot)
        bar.update(1)
        bar.set_postfix(tok_s=f"{self.tokens_out / (time.perf_counter() - self.t0):.0f}")
        return True

    def _release(self, mask: np.ndarray) -> None:
        if mask.any():
            self.state = steps.release(self.state, mask)

    def stats(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        return {
            "wall_s": wall, "prefill_s": self.prefill_s, "decode_s": self.decode_s,
            "tokens": float(self.tokens_out), "tokens_per_s": self.tokens_out / max(wall, 1e-9),
            "chunks": float(self.chunks), "slots": float(self.num_slots),
            **{k: float(self.counts[k]) for k in (
                "prefill_rows", "prefill_tokens", "prefill_tokens_padded", "forked",
                "preempted", "resumed", "decoded_tokens", "attended_positions")},
            **({"pages_peak": float(self.pool.peak_in_use),
                "admission_waits": float(self.counts["admission_waits"]),
                "page_refs_max": float(self.pool.max_refs)} if self.pool is not None else {}),
        }

    # -------------------------------------------------------------- paged cache
    def _target(self, cache_len: int, prompt_len: int, budget: int) -> int:
        """Positions a slot must hold pages for before its next chunk: what the chunk can
        write, never more than its whole sample."""
        return min(cache_len + self.e.cfg.chunk_steps, prompt_len + budget)

    def _admit(self, starts: list[queue_lib.Start]) -> list[queue_lib.Start]:
        """Gives pages to samples just taken from the queue, in order; the first that does
        not fit goes back with all after it (queue order is kept) and ends this fill."""
        if self.pages is None:
            return starts
        for k, st in enumerate(starts):
            if not self._admit_one(st):
                self.queue.put_back(starts[k:])
                self.starved = True
                self.counts["admission_waits"] += 1
                return starts[:k]
        return starts

    def _admit_rows(self, rows: list[list[queue_lib.Start]]) -> list[list[queue_lib.Start]]:
        flat = self._admit([st for row in rows for st in row])
        out, k = [], 0
        for row in rows:
            kept = row[: max(0, len(flat) - k)]
            k += len(row)
            if kept:
                out.append(kept)
        return out

    def _admit_one(self, st: queue_lib.Start) -> bool:
        """Prompt pages (shared within the shard when forking) + one chunk for a new sample;
        when short, first frees the pages other classes hold for later forks."""
        cls = self.queue.class_of(st.prompt, st.sample)
        if self._try_admit(st, cls):
            return True
        return self._drop_class_pages(keep=cls) and self._try_admit(st, cls)

    def _try_admit(self, st: queue_lib.Start, cls: int) -> bool:
        ps = self.pages.page_size
        plen, budget = len(self._prefix(st)), int(self.budgets[st.prompt])
        first = len(self.prompts[st.prompt])  # where the sample's own tokens begin
        shard = self.pages.shard(st.slot)
        full = plen // ps if self.e.cfg.fork else 0  # full prompt pages: shared
        shared = self.class_pages.get(cls, {}).get(shard)
        fresh = shared is None and full > 0
        if fresh:
            shared = self.pool.alloc(shard, full)
            if shared is None:
                return False
        own = self.pool.alloc(shard, pages_lib.pages_for(self._target(plen, first, budget), ps)
                              - full)
        if own is None:
            if fresh:
                self.pool.release(shard, shared)
            return False
        if fresh:
            self.class_pages.setdefault(cls, {})[shard] = shared
        shared = shared or []
        self.pool.share(shard, shared)
        self.pages.assign(st.slot, shared, own)
        self.write_from[st.slot] = 0 if fresh else full * ps
        return True

    def _drop_class_pages(self, keep: int | None) -> bool:
        """Lets go of the shared prompt pages kept for classes other than `keep` (their
        samples keep their own references); drops the held prompt if it is one of them."""
        dropped = False
        for cls in [c for c in self.class_pages if c != keep]:
            for shard, pages in self.class_pages.pop(cls).items():
                self.pool.release(shard, pages)
            dropped = True
        if self.held is not None and self.held[0] != keep and dropped:
            self.held = None
        return dropped

    def _page_write(self, src: dict[int, int]) -> steps.PageWrite | None:
        """Where the new samples (slot -> prompt row) copy their prompt (paged runs)."""
        if self.pages is None:
            return None
        row = np.full((self.num_slots,), np.iinfo(np.int32).max, np.int32)
        start = np.zeros((self.num_slots,), np.int32)
        for slot, r in src.items():
            row[slot], start[slot] = r, self.write_from.pop(slot)
        return steps.PageWrite(self.pages.table.copy(), row, start)

    def _grow_pages(self) -> None:
        """Pages for every running sample's next chunk, oldest first; preempts the newest
        sample of a shard that runs short (see the module docstring)."""
        busy = sorted((i for i, s in enumerate(self.slots) if s is not None),
                      key=lambda i: self.slots[i].order)
        preempted = np.zeros(self.num_slots, bool)
        for slot in busy:
            s = self.slots[slot]
            if s is None:
                continue
            target = self._target(s.prompt_len + len(s.tokens) - 1, s.prompt_len, s.budget)
            while not self.pages.grow(slot, target):
                if self._drop_class_pages(keep=None):
                    continue
                shard = self.pages.shard(slot)
                victim = max((i for i, v in enumerate(self.slots)
                              if v is not None and self.pages.shard(i) == shard),
                             key=lambda i: self.slots[i].order)
                self._preempt(victim)
                preempted[victim] = True
                if victim == slot:
                    break
        self._release(preempted)

    def _preempt(self, slot: int) -> None:
        """Frees the slot; the sample waits at the head of the queue with its tokens (one
        token only: it just restarts, which draws that token again)."""
        s = self.slots[slot]
        self.pages.clear(slot)
        self.slots[slot] = None
        keep = len(s.tokens) > 1
        if keep:
            self.resumed[(s.prompt, s.sample)] = s
        self.queue.requeue(s.prompt, s.sample, alone=keep)
        self.tokens_out -= len(s.tokens)
        self.counts["preempted"] += 1
