"""`jaxint bench {sampler,train,verify}`: prints a table and writes JSON (--json PATH)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jaxint bench")
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("sampler", help="jaxint vs transformers.generate; engine vs static")
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--chunk", type=int, default=64)
    s.add_argument("--no-hf", action="store_true", help="skip the transformers baseline")
    s.add_argument("--tail-requests", type=int, default=256,
                   help="long-tail queue length (16 slots): InT's continuation workloads queue "
                   "many times the slot count; a queue of 4x the slots is dominated by its "
                   "single longest request")
    s.add_argument("--roofline", action="store_true",
                   help="also the Qwen3-1.7B decode roofline (GPU/TPU only)")
    s.add_argument("--roofline-batches", default="1,32,128,256",
                   help="with --roofline: decode batch sizes, comma-separated")
    s.add_argument("--kv-cache", choices=("dense", "paged"), default="dense",
                   help="with --roofline: the engine's KV cache (sampling.kv_cache)")
    s.add_argument("--model-dir", help="a real HF directory (e.g. from `jaxint fetch "
                   "qwen2.5-coder-0.5b`) instead of the fixed random workload")
    s.add_argument("--batch", type=int, default=8, help="with --model-dir")
    s.add_argument("--prompt-len", type=int, default=128, help="with --model-dir")
    s.add_argument("--new-tokens", type=int, default=128, help="with --model-dir")
    s.add_argument("--modes", default="greedy,sample", help="with --model-dir: greedy,sample")
    s.add_argument("--workload", choices=("peers", "groups"), default="peers",
                   help="peers: the fixed jaxint-vs-transformers workload (default); groups: "
                   "shared-prefix forking on and off on GRPO groups and long prefixes")
    g = s.add_argument_group("--workload groups (sizes; smaller runs for a quick look)")
    g.add_argument("--grpo-prompts", type=int, default=64)
    g.add_argument("--grpo-len", type=int, default=512, help="prompt tokens")
    g.add_argument("--grpo-n", type=int, default=8, help="samples per prompt")
    g.add_argument("--prefixes", type=int, default=8)
    g.add_argument("--prefix-len", type=int, default=1536)
    g.add_argument("--continuations", type=int, default=32, help="samples per prefix")
    g.add_argument("--group-new-tokens", type=int, default=128)
    g.add_argument("--slots", type=int, default=64)
    s.add_argument("--json")
    t = sub.add_parser("train", help="SFT/GRPO step tokens/s (and MFU on accelerators)")
    t.add_argument("--step", choices=("sft", "grpo"), default="sft")
    t.add_argument("--model", choices=("bench", "qwen3-1.7b"), default="bench")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--seq-len", type=int, default=512)
    t.add_argument("--remat", default="none")
    t.add_argument("--attention-impl", default=None,
                   help="model.attention_impl (default: the model's; qwen3-1.7b: auto = "
                        "cuDNN on GPU, splash on TPU)")
    t.add_argument("--json")
    v = sub.add_parser("verify", help="score_batch pairs/s")
    v.add_argument("--pairs", type=int, default=2000)
    v.add_argument("--json")
    return p


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    if args.what == "sampler" and args.workload == "groups":
        from jaxint.bench import groups

        result = groups.run(
            groups=groups.default_groups(
                grpo_prompts=args.grpo_prompts, grpo_len=args.grpo_len, grpo_n=args.grpo_n,
                prefixes=args.prefixes, prefix_len=args.prefix_len,
                continuations=args.continuations),
            new_tokens=args.group_new_tokens, slots=args.slots, repeats=args.repeats,
            chunk=args.chunk)
        print(groups.format_table(result))
    elif args.what == "sampler":
        from jaxint.bench import sampler

        if args.model_dir:
            result = sampler.run_model_dir(
                args.model_dir, repeats=args.repeats, batch=args.batch,
                prompt_len=args.prompt_len, new_tokens=args.new_tokens, chunk=args.chunk,
                with_hf=not args.no_hf, modes=tuple(args.modes.split(",")))
        else:
            result = sampler.run(repeats=args.repeats, chunk=args.chunk, with_hf=not args.no_hf,
                                 tail_requests=args.tail_requests)
        if args.roofline:
            from jaxint.bench import roofline

            batches = tuple(int(b) for b in args.roofline_batches.split(","))
            result["roofline"] = roofline.run(batches, kv_cache=args.kv_cache)
        print(sampler.format_table(result))
    elif args.what == "train":
        from jaxint.bench import train

        result = train.run(model=args.model, batch=args.batch, seq_len=args.seq_len,
                           remat=args.remat, step_kind=args.step,
                           attention_impl=args.attention_impl)
        print(json.dumps(result, indent=2))
    else:
        from jaxint.verify import bench as verify_bench

        result = verify_bench.bench_score_batch(n_pairs=args.pairs)
        print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, default=str)
    return 0
