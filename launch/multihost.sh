#!/usr/bin/env bash
# jaxint across several processes without a cluster manager (GPU nodes reachable by ssh, or N
# local CPU processes for trying the multi-host path on one machine). Each process runs the
# same `jaxint run CONFIG ...`; they join one jax.distributed job through the JAXINT_COORDINATOR,
# JAXINT_NUM_PROCESSES and JAXINT_PROCESS_ID variables that jaxint reads at start-up.
# See launch/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage:
  launch/multihost.sh [OPTIONS] --coordinator HOST:PORT --num-processes N --process-id I \
      CONFIG [k=v ...]
      On each node yourself: this node's process of the job (exec's `jaxint run`).
  launch/multihost.sh [OPTIONS] --hosts HOST0,HOST1,... CONFIG [k=v ...]
      From one machine: starts process I on HOSTI over ssh (HOST0 is the coordinator).
  launch/multihost.sh [OPTIONS] --local N [--devices K] CONFIG [k=v ...]
      N processes on this machine, each with K fake CPU devices (default 4): the multi-host
      code path on one CPU.

Options
  --port P          coordinator port (default 8476; --local picks a free one)
  --remote-dir DIR  --hosts: the jaxint checkout on the nodes (default: this checkout's path)
  --log-dir DIR     --hosts/--local: per-process logs go to DIR/TIMESTAMP/ (default logs/multihost)
  --dry-run         print the commands instead of running them
Environment
  JAXINT_CMD        how to start jaxint (default: jaxint, else python3 -m jaxint.cli); on the
                    nodes for --hosts the default is REMOTE_DIR/.venv/bin/jaxint
  SSH               ssh command for --hosts (default: ssh -o BatchMode=yes)
EOF
}

die() { echo "multihost.sh: $*" >&2; exit 2; }

COORDINATOR="" NUM_PROCESSES="" PROCESS_ID="" HOSTS="" LOCAL="" DEVICES=4 PORT=""
DRY_RUN=0
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/common.sh
. "$REPO_ROOT/launch/common.sh"
REMOTE_DIR="$REPO_ROOT"
LOG_DIR="logs/multihost"
read -r -a SSH_CMD <<<"${SSH:-ssh -o BatchMode=yes}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --coordinator) COORDINATOR="$2"; shift 2 ;;
    --num-processes) NUM_PROCESSES="$2"; shift 2 ;;
    --process-id) PROCESS_ID="$2"; shift 2 ;;
    --hosts) HOSTS="$2"; shift 2 ;;
    --local) LOCAL="$2"; shift 2 ;;
    --devices) DEVICES="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --remote-dir) REMOTE_DIR="$2"; shift 2 ;;
    --log-dir) LOG_DIR="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    --*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { usage >&2; exit 2; }

if [[ -n "${JAXINT_CMD:-}" ]]; then
  read -r -a JAXINT <<<"$JAXINT_CMD"
elif command -v jaxint >/dev/null; then
  JAXINT=(jaxint)
else
  JAXINT=(python3 -m jaxint.cli)
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

PIDS=()
NAMES=()

kill_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}

# Waits for every started process. When one fails the others are stopped: they would
# otherwise block in their next collective until jax's timeouts (minutes) give up.
wait_all() {
  local failed=0 running i
  while :; do
    running=0
    for i in "${!PIDS[@]}"; do
      [[ -n "${PIDS[$i]}" ]] || continue
      if kill -0 "${PIDS[$i]}" 2>/dev/null; then
        running=1
        continue
      fi
      if ! wait "${PIDS[$i]}"; then
        echo "multihost.sh: ${NAMES[$i]} failed; stopping the others" >&2
        failed=1
        PIDS[i]=""
        kill_all
      fi
      PIDS[i]=""
    done
    [[ $running == 1 ]] || break
    sleep 1
  done
  return $failed
}

# Starts one process in the background; its output goes to LOG and, prefixed, here.
start() {
  local name="$1" log="$2"
  shift 2
  if [[ "$DRY_RUN" == 1 ]]; then
    echo "$(show "$@") > $(show "$log") 2>&1 &"
    return
  fi
  ("$@" 2>&1 | tee "$log" | sed -u "s/^/[$name] /") &
  PIDS+=($!)
  NAMES+=("$name")
}

trap 'kill_all; exit 130' INT TERM

if [[ -n "$LOCAL" ]]; then
  [[ "$LOCAL" =~ ^[1-9][0-9]*$ ]] || die "--local needs a process count, got $LOCAL"
  port="${PORT:-$(free_port)}"
  dir="$LOG_DIR/$(date +%Y%m%d-%H%M%S)"
  run mkdir -p "$dir"
  for ((i = 0; i < LOCAL; i++)); do
    start "process $i" "$dir/process-$i.log" env JAX_PLATFORMS=cpu \
      XLA_FLAGS="--xla_force_host_platform_device_count=$DEVICES" \
      JAXINT_COORDINATOR="localhost:$port" JAXINT_NUM_PROCESSES="$LOCAL" JAXINT_PROCESS_ID="$i" \
      "${JAXINT[@]}" run "$@"
  done
  [[ "$DRY_RUN" == 1 ]] || { wait_all; echo "logs: $dir"; }
elif [[ -n "$HOSTS" ]]; then
  IFS=',' read -r -a hosts <<<"$HOSTS"
  n=${#hosts[@]}
  coordinator="${COORDINATOR:-${hosts[0]}:${PORT:-8476}}"
  remote_jaxint="${JAXINT_CMD:-$REMOTE_DIR/.venv/bin/jaxint}"
  dir="$LOG_DIR/$(date +%Y%m%d-%H%M%S)"
  run mkdir -p "$dir"
  for ((i = 0; i < n; i++)); do
    remote="cd $(quote "$REMOTE_DIR") && JAXINT_COORDINATOR=$(quote "$coordinator")"
    remote+=" JAXINT_NUM_PROCESSES=$n JAXINT_PROCESS_ID=$i exec $remote_jaxint run $(quote "$@")"
    start "${hosts[$i]}" "$dir/host-$i.log" "${SSH_CMD[@]}" "${hosts[$i]}" "$remote"
  done
  [[ "$DRY_RUN" == 1 ]] || { wait_all; echo "logs: $dir"; }
else
  [[ -n "$COORDINATOR" && -n "$NUM_PROCESSES" && -n "$PROCESS_ID" ]] ||
    die "give --coordinator, --num-processes and --process-id (or --hosts, or --local N)"
  run env JAXINT_COORDINATOR="$COORDINATOR" JAXINT_NUM_PROCESSES="$NUM_PROCESSES" \
    JAXINT_PROCESS_ID="$PROCESS_ID" "${JAXINT[@]}" run "$@"
fi
