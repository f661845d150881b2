#!/usr/bin/env bash
# One short accelerator benchmark run (issue 8): fills the README's performance table.
#
#   launch/gpu_bench.sh [OUT_DIR]        (default OUT_DIR: bench_out; $OUT when set)
#
# On a GPU box or TPU VM with jaxint installed (`pip install -e '.[gpu]'` or '.[tpu]'). Runs,
# on a Qwen3-1.7B-shaped model with random weights in bfloat16:
#   1. decode tokens/s at batch 1, 32, 128, 256 with the fraction of the HBM roofline
#      (weights + KV bytes per step over the card's peak bandwidth) and prefill tokens/s;
#      the small-model jaxint-vs-static-batch comparison comes with it;
#   2. the same decode with the paged KV cache (sampling.kv_cache: paged) at batch 128, 256;
#   3. SFT and GRPO update step MFU at 4K tokens (remat full, 2 sequences per step) with the
#      platform's fused attention (attention_impl auto: cuDNN on GPU, splash on TPU), and the
#      SFT step with plain XLA attention for comparison.
# Writes OUT_DIR/{sampler,sampler_paged,train_sft,train_sft_xla,train_grpo}.json and
# OUT_DIR/table.md. Sized to finish in about 10 minutes on one H100 (most of it compiling);
# every part has its own timeout so one hung part cannot eat the rest.
set -uo pipefail

out="${1:-${OUT:-bench_out}}"
mkdir -p "$out"
jaxint_cmd=(python -m jaxint.cli)
status=0

run_part() {  # run_part NAME TIMEOUT_S ARGS...
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s)"
  local start=$SECONDS
  timeout "$limit" "${jaxint_cmd[@]}" bench "$@" 2>"$out/$name.err" | tee "$out/$name.txt"
  local rc=${PIPESTATUS[0]}
  echo "   $name: rc=$rc in $((SECONDS - start)) s"
  [ "$rc" -eq 0 ] || { status=1; tail -5 "$out/$name.err"; }
}

python - <<'EOF'
import jax
print("devices:", [d.device_kind for d in jax.devices()])
EOF

run_part sampler 300 sampler --no-hf --repeats 2 --roofline --json "$out/sampler.json"
run_part sampler_paged 240 sampler --no-hf --repeats 2 --roofline --roofline-batches 128,256 \
  --kv-cache paged --json "$out/sampler_paged.json"
run_part train_sft 120 train --model qwen3-1.7b --batch 2 --seq-len 4096 --remat full \
  --step sft --attention-impl auto --json "$out/train_sft.json"
run_part train_sft_xla 120 train --model qwen3-1.7b --batch 2 --seq-len 4096 --remat full \
  --step sft --attention-impl xla --json "$out/train_sft_xla.json"
run_part train_grpo 120 train --model qwen3-1.7b --batch 2 --seq-len 4096 --remat full \
  --step grpo --attention-impl auto --json "$out/train_grpo.json"

python - "$out" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
lines = []
header = ["| KV cache | batch | decode tok/s | % of HBM roofline | prefill tok/s |",
          "|---|---|---|---|---|"]
for name in ("sampler", "sampler_paged"):
    path = out / f"{name}.json"
    if not path.is_file():
        continue
    r = json.loads(path.read_text())
    if not lines:
        lines += [f"Device: {r.get('device', '?')}", "", *header]
    for row in r.get("roofline", []):
        lines.append(f"| {row.get('kv_cache', 'dense')} | {row['batch']} | "
                     f"{row['tokens_per_s']:.0f} | {100 * row['fraction_of_peak']:.0f}% | "
                     f"{row['prefill_tokens_per_s']:.0f} |")
lines += ["", "| step | attention | tokens/s | MFU | step s |", "|---|---|---|---|---|"]
for name in ("train_sft", "train_sft_xla", "train_grpo"):
    path = out / f"{name}.json"
    if path.is_file():
        t = json.loads(path.read_text())
        mfu = f"{100 * t['mfu']:.0f}%" if "mfu" in t else "n/a"
        lines.append(f"| {t['step']} ({t['batch']} x {t['seq_len']}) | "
                     f"{t.get('attention_impl', '?')} | {t['tokens_per_s']:.0f} | {mfu} | "
                     f"{t['step_s']:.3f} |")
(out / "table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
exit $status
