"""Throughput of ``score_batch`` on a realistic mix of answers (for ``jaxint bench verify``).

The mix imitates graded rollouts: long reasoning text ending in a boxed answer that is right
or wrong in the ways models are: plain integers (some with leading zeros or thousands
separators), fractions against decimals, equivalent LaTeX forms (``2\\sqrt{3}`` vs
``\\sqrt{12}``, expanded polynomials), intervals, sets, text, and completions without a
box. Values are drawn at random so that math-verify's own caches do not flatter the numbers.
"""

from __future__ import annotations

import collections
import random
import time
from collections.abc import Callable

from jaxint.verify import batch, scoring

# A maker draws a problem's gold answer from its first generator (the same for every
# rollout of the problem) and one rollout's answer from the second.
_Maker = Callable[[random.Random, random.Random], tuple[str, str, bool]]
_FILLER = (
    "We consider the quantity $a_{{{k}}} = {k}^2 + {k}$ and compare it with the bound "
    "$\\frac{{{k}}}{{2}} \\le n$. Substituting, the inequality holds for all $n \\ge {k}$.\n\n"
)


def _integer(p: random.Random, r: random.Random) -> tuple[str, str, bool]:
    gold = p.randint(0, 10**6)
    style = r.choice(["same", "zero", "comma", "wrong", "wrong"])
    answer = {
        "same": str(gold),
        "zero": f"0{gold}",
        "comma": f"{gold:,}",
        "wrong": str(gold + r.randint(1, 3)),
    }[style]
    return answer, str(gold), style != "wrong"


def _fraction(p: random.Random, r: random.Random) -> tuple[str, str, bool]:
    q, n = p.choice([2, 4, 5, 8, 10, 16, 20, 25, 40, 50]), p.randint(1, 200)
    as_decimal = p.random() < 0.5
    right = r.random() < 0.5
    shown = n if right else n + r.randint(1, 3)
    if as_decimal:
        return f"{shown / q:g}", f"\\frac{{{n}}}{{{q}}}", right
    return f"\\dfrac{{{shown}}}{{{q}}}", f"{n / q:g}", right


def _radical(p: random.Random, r: random.Random) -> tuple[str, str, bool]:
    a, b = p.randint(2, 30), p.choice([2, 3, 5, 6, 7, 10, 11])
    right = r.random() < 0.5
    inside = a * a * b if right else a * a * b + r.randint(1, 3)
    return f"\\sqrt{{{inside}}}", f"{a}\\sqrt{{{b}}}", right


def _polynomial(p: random.Random, r: random.Random) -> tuple[str, str, bool]:
    a = p.randint(1, 40)
    right = r.random() < 0.5
    c = a * a if right else a * a + r.randint(1, 3)
    return f"x^2 + {2 * a}x + {c}", f"(x+{a})^2", right


def _interval(p: random.Random, r: random.Random) -> tuple[str, str, bool]:
    lo, hi = sorted(p.sample(range(-50, 50), 2))
    right = r.random() < 0.5
    answer = f"\\left( {lo}, {hi} \\right]" if right else f"[{lo}, {hi - r.randint(0, 2)}]"
    return answer, f"({lo},{hi}]", right


def _set(p: random.Random, r: random.Random) -> tuple[str, str, bool]:
    items = p.sample(range(-20, 40), 3)
    right = r.random() < 0.5
    shown = sorted(items) if right else sorted(items[:2] + [items[2] + r.randint(1, 3)])
    gold = "\\{" + ",".join(map(str, items)) + "\\}"
    return "\\{" + ", ".join(map(str, shown)) + "\\}", gold, right


def _text(p: random.Random, r: random.Random) -> tuple[str, str, bool]:
    names = ["Evelyn", "Alice", "Bob", "Carla", "Dmitri", "Esther"]
    gold = p.choice(names)
    shown = gold if r.random() < 0.5 else r.choice([n for n in names if n != gold])
    return (f"\\text{{{shown}}}" if r.random() < 0.5 else shown), f"\\text{{{gold}}}", shown == gold


# Shares of answer shapes, close to MATH-500's gold answers (67% numbers, 11% fractions,
# 11% other expressions, 5% intervals/sets/tuples, 4% radicals, 2% text).
MIX: dict[str, tuple[float, _Maker]] = {
    "integer": (0.60, _integer),
    "fraction_vs_decimal": (0.12, _fraction),
    "latex_radical": (0.05, _radical),
    "latex_polynomial": (0.08, _polynomial),
    "interval": (0.04, _interval),
    "set": (0.04, _set),
    "text": (0.07, _text),
}
NO_BOX_RATE = 0.15  # rollouts that end without a box (truncated or unformatted)


def make_pairs(
    n_pairs: int, *, seed: int = 0, group_size: int = 8, filler_chars: int = 20_000
) -> tuple[list[tuple[str, str]], list[str], list[bool]]:
    """Builds ``n_pairs`` (completion, gold) pairs, their kinds and their true labels.

    Pairs come in groups of ``group_size`` rollouts of one problem (one gold answer), as in
    GRPO; the kind of a rollout (e.g. no box) varies within a group.
    """
    rng = random.Random(seed)
    pairs, kinds, labels = [], [], []
    for i in range(n_pairs):
        if i % group_size == 0:
            problem_seed = rng.getrandbits(64)
            kind = rng.choices(list(MIX), weights=[w for w, _ in MIX.values()])[0]
        rollout_kind = "no_box" if rng.random() < NO_BOX_RATE else kind
        answer, gold, right = MIX[kind][1](random.Random(problem_seed), rng)
        text = _filler(rng, filler_chars)
        if rollout_kind == "no_box":
            pairs.append((text + f"So the answer is {answer}.", gold))
        else:
            pairs.append((text + f"Therefore the answer is $\\boxed{{{answer}}}$.", gold))
        kinds.append(rollout_kind)
        labels.append(right and rollout_kind != "no_box")
    return pairs, kinds, labels


def _filler(rng: random.Random, chars: int) -> str:
    parts, size = [], 0
    while size < chars:
        parts.append(_FILLER.format(k=rng.randint(2, 99)))
        size += len(parts[-1])
    return "".join(parts)


def bench_score_batch(
    n_pairs: int = 2000,
    *,
    seed: int = 0,
    timeout_s: float = scoring.DEFAULT_TIMEOUT_S,
    num_workers: int | None = None,
    group_size: int = 8,
    filler_chars: int = 20_000,
    warmup_pairs: int = 64,
) -> dict:
    """Measures pairs/s through ``score_batch`` with a warm worker pool and a cold cache.

    Returns:
        A dict: pairs, seconds, pairs_per_s, cold_start_s (first call, pool start-up
        included), need_math_verify (pairs the parent could not decide), distinct_jobs
        (those after de-duplication: what the workers ran), mismatches (verdicts that
        disagree with how the pair was built; should be 0), mix and reasons (counts).
    """
    pairs, kinds, labels = make_pairs(
        n_pairs, seed=seed, group_size=group_size, filler_chars=filler_chars
    )
    warm_pairs, _, _ = make_pairs(warmup_pairs, seed=seed + 1, filler_chars=filler_chars)
    started = time.perf_counter()
    batch.score_batch(warm_pairs, timeout_s=timeout_s, num_workers=num_workers)
    cold = time.perf_counter() - started
    batch.clear_cache()
    started = time.perf_counter()
    verdicts = batch.score_batch(pairs, timeout_s=timeout_s, num_workers=num_workers)
    seconds = time.perf_counter() - started
    prepared = [scoring.prepare(c, g) for c, g in pairs]
    pending = [(p.answer, p.gold) for p in prepared if isinstance(p, scoring.Pending)]
    return {
        "pairs": n_pairs,
        "seconds": round(seconds, 3),
        "pairs_per_s": round(n_pairs / seconds, 1),
        "cold_start_s": round(cold, 3),
        "num_workers": batch.resolve_workers(num_workers),
        "need_math_verify": len(pending),
        "distinct_jobs": len(set(pending)),
        "mismatches": sum(
            (v.reward == 1.0) != right for v, right in zip(verdicts, labels, strict=True)
        ),
        "mix": dict(collections.Counter(kinds)),
        "reasons": dict(collections.Counter(v.reason for v in verdicts)),
    }
