"""A hand-written run directory in the layout the loop and the demo write, for report tests.

Numbers are chosen to be recognisable in the page (no rounding ties), and some text is
hostile on purpose: model output and problem text go into the page and must stay inert.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

HOSTILE_PROBLEM = 'What is 2+2? <script>alert("pwned")</script>'
HOSTILE_STEP = "so x = 3 </pre><b>bold</b>"
HOSTILE_INTERVENTION = '</pre><img src=x onerror=alert(1)> Wait, 2+2 is 4 & "not" 5.'
NUM_PROBLEMS = 4


def _jsonl(path: pathlib.Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _json(path: pathlib.Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))


def problems(n: int = NUM_PROBLEMS) -> list[dict[str, Any]]:
    out = [{"id": "p0", "problem": HOSTILE_PROBLEM, "answer": "4",
            "solution": "2 + 2 = 4\n\n\\boxed{4}", "source": "fake", "meta": {}}]
    out += [{"id": f"p{i}", "problem": f"Compute {i} + {i}.", "answer": str(2 * i),
             "solution": f"{i} + {i} = {2 * i}\n\n\\boxed{{{2 * i}}}", "source": "fake",
             "meta": {}} for i in range(1, n)]
    return out


def intervention(pid: str, sample: int, steps: list[str], location: int, content: str,
                 **extra: Any) -> dict[str, Any]:
    prefix = "\n\n".join(steps[: location - 1]) + ("\n\n" if location > 1 else "")
    return {"problem_id": pid, "sample_index": sample, "proposal_index": 0,
            "location": location, "content": content, "num_steps": len(steps),
            "steps": steps, "prefix": prefix, "intervention": content,
            "target": prefix + content, **extra}


def sft_lines(steps: int, start: float) -> list[dict[str, Any]]:
    rows = []
    for s in range(1, steps + 1):
        row = {"time": "t", "step": s, "loss": start / s, "grad_norm": 1.0 / s, "lr": 1e-3,
               "trained_tokens": 100.0, "tokens_per_s": 500.0 + s}
        if s % 2 == 0:
            row["eval_loss"] = start / s + 0.1
        rows.append(row)
    rows.append({"time": "t", "final": True, "steps": steps, "train_loss": start / steps,
                 "eval_loss": 0.4321, "tokens_per_s": 512.0})
    return rows


def rl_lines(steps: int, reward0: float, slope: float, zero: float) -> list[dict[str, Any]]:
    return [{"time": "t", "step": s, "reward_mean": reward0 + slope * s,
             "pass_rate": min(1.0, 2 * (reward0 + slope * s)), "zero_adv_frac": zero,
             "response_len_mean": 60.0 + s, "truncated_frac": 0.05, "entropy": 0.3 + 0.01 * s,
             "sampler_logprob_gap": 0.001, "rollout_tokens_per_s": 900.0,
             "train_tokens_per_s": 1500.0, "time_rollout_s": 2.0, "time_scoring_s": 0.1,
             "time_training_s": 1.0, "loss": 0.01, "grad_norm": 0.5, "clip_frac": 0.02,
             "kl": 0.0, "ratio_mean": 1.0} for s in range(1, steps + 1)]


def build(root: pathlib.Path, *, n_interventions: int = NUM_PROBLEMS,
          filter_keeps: bool = True) -> pathlib.Path:
    """A finished demo-like run: every stage done, every file present."""
    probs = problems(max(NUM_PROBLEMS, n_interventions))
    _jsonl(root / "data" / "train.jsonl", probs)
    (root / "config.yaml").write_text(
        "name: fake<run>\nstages: [generate, verify, intervene, filter, sft, rl]\n"
        f"rl_baseline: true\ndata:\n  path: {root / 'data' / 'train.jsonl'}\n"
        "  require_solution: true\nmodel:\n  path: /models/base\n")
    stage_names = ["base", "generate", "verify", "intervene", "filter", "sft", "rl",
                   "rl_baseline", "eval_base", "eval_rl_only", "eval_int_rl"]
    manifest = {"stages": {s: {"status": "done", "updated": "2026-01-01T00:00:00+00:00",
                               "wall_s": 10.0 + i, "summary": {"records": i}}
                           for i, s in enumerate(stage_names)}}
    manifest["stages"]["sft"]["summary"] = {"steps": 6, "examples": n_interventions}
    _json(root / "manifest.json", manifest)
    _json(root / "summary.json", {
        "accuracy": {"base": 0.25, "rl_only": 0.406, "int_rl": 0.578},
        "zero_adv_frac": {"rl_only": 0.7188, "int_rl": 0.3438},
        "reward_mean": {"rl_only": 0.111, "int_rl": 0.222},
        "interventions": {"proposals": 16, "accepted": 12, "filter": {"kept": 3}},
        "sft_examples": 3, "wall_s": 432.1, "heldout_problems": 128, "eval_samples": 4,
    })
    _jsonl(root / "base" / "metrics.jsonl", sft_lines(8, 4.0))
    _jsonl(root / "sft" / "metrics.jsonl", sft_lines(6, 2.0))
    _jsonl(root / "rl" / "metrics.jsonl", rl_lines(5, 0.2, 0.01, 0.3438))
    _jsonl(root / "rl_baseline" / "metrics.jsonl", rl_lines(5, 0.1, 0.005, 0.7188))
    for name, acc in (("base", 0.25), ("rl_only", 0.406), ("int_rl", 0.578)):
        _json(root / "eval" / name / "summary.json",
              {"dataset": "heldout.jsonl", "n": 4, "problems": 128, "pass@1": acc,
               "solved": 77, "pass@4": acc + 0.1})

    steps0 = ["Let me add.", HOSTILE_STEP, "\\boxed{3}"]
    rows = [intervention("p0", 1, steps0, 2, HOSTILE_INTERVENTION)]
    for i in range(1, n_interventions):
        steps = [f"step one of p{i}", f"wrong step of p{i}", f"later step of p{i}",
                 f"\\boxed{{{2 * i + 1}}}"]
        rows.append(intervention(f"p{i}", 0, steps, 2, f"fix for p{i}: {i} + {i} = {2 * i}"))
    _jsonl(root / "verify" / "shard-00000.jsonl", [
        {"problem_id": r["problem_id"], "sample_index": r["sample_index"],
         "completion": "\n\n".join(r["steps"]), "num_tokens": 42, "finish_reason": "stop",
         "reward": 0.0, "extracted": "3", "reason": "wrong"} for r in rows
    ] + [{"problem_id": "p1", "sample_index": 5, "completion": "\\boxed{2}", "num_tokens": 9,
          "finish_reason": "stop", "reward": 1.0, "extracted": "2", "reason": "correct"}])
    _jsonl(root / "intervene" / "proposals-00000.jsonl", [
        {"problem_id": r["problem_id"], "sample_index": r["sample_index"], "num_steps":
         r["num_steps"], "true_location": 2, "proposal_index": 0,
         "raw": f"<intervention>{json.dumps({'content': r['content'], 'location': 2})}"
                "</intervention>", "content": r["content"], "location": 2, "rejected": None,
         "detail": ""} for r in rows])
    _jsonl(root / "intervene" / "interventions.jsonl", rows)
    _json(root / "intervene" / "stats.json", {
        "proposals": 16, "attempts": 16, "problems": 4, "accepted": 12,
        "rejected": {"no_block": 1, "unparseable": 1, "location_out_of_range": 0,
                     "empty_content": 0, "answer_leaked": 2, "prompt_too_long": 0,
                     "no_reference": 0, "no_steps": 0},
        "parse_rate": 0.9375, "accept_rate": 0.75, "leak_rate": 0.1429,
        "location_hist": {"1": 3, "2": 7, "3": 2}, "relative_location_hist": [0, 1, 2, 3, 6,
                                                                            0, 0, 0, 0, 0],
        "location_match_rate": 0.8333, "interventions": 12, "problems_with_intervention": 4})
    scores = [{"problem_id": r["problem_id"], "sample_index": r["sample_index"],
               "location": 2, "num_samples": 4, "num_correct": 3 if i % 2 == 0 else 0,
               "kept": filter_keeps and i % 2 == 0, "rewards": [1, 1, 1, 0],
               "lengths": [10] * 4, "first_correct": 0} for i, r in enumerate(rows)]
    _jsonl(root / "filter" / "shard-00000.jsonl", scores)
    kept = [{**r, "num_samples": s["num_samples"], "num_correct": s["num_correct"]}
            for r, s in zip(rows, scores, strict=True) if s["kept"]]
    _jsonl(root / "filter" / "kept.jsonl", kept)
    n_kept = len(kept)
    _json(root / "filter" / "stats.json", {
        "enabled": True, "interventions": len(rows), "kept": n_kept,
        "pass_rate": n_kept / len(rows), "num_samples": 4 * len(rows),
        "num_correct": sum(s["num_correct"] for s in scores), "mean_accuracy": 0.0123,
        "problems": len(rows), "problems_kept": n_kept})
    _json(root / "conditioning" / "summary.json", {
        "num_interventions": 4, "num_problems": 4,
        "conditions": {"problem": {"problems_solved": 1, "num_correct": 2, "num_samples": 128,
                                   "mean_accuracy": 0.0156},
                       "original_step": {"problems_solved": 0, "num_correct": 0,
                                         "num_samples": 128, "mean_accuracy": 0.0},
                       "intervention": {"problems_solved": 3, "num_correct": 9,
                                        "num_samples": 128, "mean_accuracy": 0.0703}},
        "items": [{"problem_id": "p0", "sample_index": 1, "problem": 0, "original_step": 0,
                   "intervention": 7}]})
    return root
