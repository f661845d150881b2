#!/usr/bin/env bash
# jaxint on Cloud TPU VMs: create a TPU VM or pod slice, set up every worker, run the same
# `jaxint run` on all workers (one log file per worker), stop, delete. See launch/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: launch/tpu_vm.sh [FLAGS] COMMAND [ARGS...]

Commands
  create                  create the TPU VM / pod slice NAME
  setup                   copy this checkout (or clone GIT_URL) to every worker, make a venv
                          (Python PYTHON_VERSION via uv) and pip install -e '.[tpu]'
  run CONFIG [k=v ...]    `jaxint run CONFIG k=v ...` on every worker at once (CONFIG relative
                          to the repo root on the workers); each worker's output goes to
                          LOG_DIR/NAME/TIMESTAMP/worker-I.log and, prefixed, to this terminal
  stop                    SIGTERM the runs on every worker (jaxint checkpoints, then exits)
  ssh CMD...              run CMD in the repo directory on every worker
  mount                   mount the GCS bucket BUCKET at MOUNT on every worker (gcsfuse): a
                          directory every worker sees, for multi-host checkpoints
  status                  gcloud's description of the TPU
  delete                  delete the TPU

Settings (environment variables; the flags override them)
  PROJECT  --project   Google Cloud project (default: gcloud's configured project)
  ZONE     --zone      zone, e.g. us-east5-a (v5p), us-west4-a (v5e), us-central2-b (v4); required
  NAME     --name      TPU name (default: jaxint-$USER)
  TYPE     --type      accelerator type: v5p-8, v4-8, v5e-16 (= v5litepod-16), v6e-8, ...
                       (default: v5p-8)
  VERSION  --version   TPU runtime image (default by TYPE: v6e -> v2-alpha-tpuv6e,
                       v5p -> v2-alpha-tpuv5, v5e -> v2-alpha-tpuv5-lite,
                       v2/v3/v4 -> tpu-ubuntu2204-base)
  SPOT=1   --spot      create a Spot TPU (preemptible: jaxint resumes after a SIGTERM)
  GIT_URL  --git-url   clone this repository on the workers instead of copying this checkout
  GIT_REF  --git-ref   branch or tag of GIT_URL (default: main)
  REMOTE_DIR           repo directory under the workers' home (default: jaxint)
  PYTHON_VERSION       Python of the workers' venv (default 3.11; jax needs >= 3.11 and the
                       Ubuntu 22.04 images ship 3.10, so uv fetches it)
  COORDINATOR_PORT     port of the jax.distributed coordinator on worker 0 (default 8476)
  LOG_DIR              local log directory (default: logs/tpu)
  SSH_ARGS             extra gcloud ssh/scp flags, e.g. "--internal-ip" or "--tunnel-through-iap"
  WORKER_IPS           internal IPs of the workers, comma-separated (default: asked from gcloud)
  BUCKET, MOUNT        for `mount`: gs bucket name and mount point (default /mnt/jaxint)
  --dry-run            print the commands instead of running them
EOF
}

die() { echo "tpu_vm.sh: $*" >&2; exit 2; }

PROJECT="${PROJECT:-}"
ZONE="${ZONE:-}"
NAME="${NAME:-jaxint-${USER:-tpu}}"
TYPE="${TYPE:-v5p-8}"
VERSION="${VERSION:-}"
SPOT="${SPOT:-0}"
GIT_URL="${GIT_URL:-}"
GIT_REF="${GIT_REF:-main}"
REMOTE_DIR="${REMOTE_DIR:-jaxint}"
PYTHON_VERSION="${PYTHON_VERSION:-3.11}"
COORDINATOR_PORT="${COORDINATOR_PORT:-8476}"
LOG_DIR="${LOG_DIR:-logs/tpu}"
WORKER_IPS="${WORKER_IPS:-}"
BUCKET="${BUCKET:-}"
MOUNT="${MOUNT:-/mnt/jaxint}"
DRY_RUN=0
read -r -a EXTRA_SSH <<<"${SSH_ARGS:-}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=launch/common.sh
. "$REPO_ROOT/launch/common.sh"
TARBALL_REMOTE="jaxint-src.tar.gz"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --zone) ZONE="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    --type) TYPE="$2"; shift 2 ;;
    --version) VERSION="$2"; shift 2 ;;
    --spot) SPOT=1; shift ;;
    --git-url) GIT_URL="$2"; shift 2 ;;
    --git-ref) GIT_REF="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --*) die "unknown flag $1 (see --help)" ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { usage >&2; exit 2; }
COMMAND="$1"
shift

# gcloud calls the v5e types v5litepod-N; accept the v5e-N spelling too.
if [[ "$TYPE" == v5e-* ]]; then TYPE="v5litepod-${TYPE#v5e-}"; fi

default_version() {
  case "$TYPE" in
    v6e-*) echo v2-alpha-tpuv6e ;;
    v5p-*) echo v2-alpha-tpuv5 ;;
    v5litepod-*) echo v2-alpha-tpuv5-lite ;;
    v2-* | v3-* | v4-*) echo tpu-ubuntu2204-base ;;
    *) die "no default runtime image for TYPE=$TYPE: set VERSION" ;;
  esac
}

tpu() {
  local sub="$1"
  shift
  [[ -n "$ZONE" ]] || die "set ZONE (or --zone)"
  run gcloud compute tpus tpu-vm "$sub" "$@" --zone="$ZONE" ${PROJECT:+--project="$PROJECT"}
}

worker_ips() {
  if [[ -n "$WORKER_IPS" ]]; then
    tr ',' '\n' <<<"$WORKER_IPS"
  elif [[ "$DRY_RUN" == 1 ]]; then
    # Without gcloud the worker count is unknown; show the query and assume one worker.
    echo "# worker IPs from: gcloud compute tpus tpu-vm describe $NAME --zone=$ZONE" \
      "--flatten=networkEndpoints[] --format=csv[no-heading](networkEndpoints.ipAddress)" >&2
    echo "WORKER0_IP"
  else
    gcloud compute tpus tpu-vm describe "$NAME" --zone="$ZONE" ${PROJECT:+--project="$PROJECT"} \
      --flatten="networkEndpoints[]" --format="csv[no-heading](networkEndpoints.ipAddress)"
  fi
}

cmd_create() {
  local version="${VERSION:-$(default_version)}"
  local spot=()
  [[ "$SPOT" == 1 ]] && spot=(--spot)
  tpu create "$NAME" --accelerator-type="$TYPE" --version="$version" "${spot[@]}"
}

# The script each worker runs in `setup`: unpack or clone the source, then a uv venv with
# jaxint[tpu]. uv brings its own Python, because the TPU images' 3.10 is too old for jax.
remote_setup() {
  local src
  if [[ -n "$GIT_URL" ]]; then
    src="if [ -d ~/$REMOTE_DIR/.git ]; then git -C ~/$REMOTE_DIR fetch -q --depth 1 origin $(quote "$GIT_REF") && git -C ~/$REMOTE_DIR checkout -q FETCH_HEAD; else git clone -q --depth 1 --branch $(quote "$GIT_REF") $(quote "$GIT_URL") ~/$REMOTE_DIR; fi"
  else
    src="mkdir -p ~/$REMOTE_DIR && tar -xzf ~/$TARBALL_REMOTE -C ~/$REMOTE_DIR"
  fi
  cat <<EOF
set -euo pipefail
$src
cd ~/$REMOTE_DIR
export PATH="\$HOME/.local/bin:\$PATH"
command -v uv >/dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh
uv venv -q --allow-existing --python $PYTHON_VERSION .venv
uv pip install -q --python .venv/bin/python -e '.[tpu]'
.venv/bin/python -c 'import jax, jaxint; print("worker ready: jax", jax.__version__)'
EOF
}

cmd_setup() {
  if [[ -z "$GIT_URL" ]]; then
    local tmp="${TMPDIR:-/tmp}"
    [[ "$DRY_RUN" == 1 ]] || tmp="$(mktemp -d)"
    local tarball="$tmp/$TARBALL_REMOTE"
    # Tracked and untracked-but-not-ignored files: what `git status` would call the
    # checkout, without .venv, runs/ or caches. Deleted tracked files are skipped.
    if [[ "$DRY_RUN" == 1 ]]; then
      echo "$(show git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard) |" \
        "$(show tar -C "$REPO_ROOT" --null --ignore-failed-read -T - -czf "$tarball")"
    else
      git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard |
        tar -C "$REPO_ROOT" --null --ignore-failed-read -T - -czf "$tarball"
    fi
    tpu scp "$tarball" "$NAME:$TARBALL_REMOTE" --worker=all "${EXTRA_SSH[@]}"
    [[ "$DRY_RUN" == 1 ]] || rm -r "$tmp"
  fi
  tpu ssh "$NAME" --worker=all --command="$(remote_setup)" "${EXTRA_SSH[@]}"
}

cmd_run() {
  [[ $# -ge 1 ]] || die "run: give CONFIG (a path relative to the repo root) [key=value ...]"
  local ips=() line
  while IFS= read -r line; do [[ -n "$line" ]] && ips+=("$line"); done < <(worker_ips)
  local n=${#ips[@]}
  [[ $n -ge 1 ]] || die "no workers found for $NAME"
  local log_dir
  log_dir="$LOG_DIR/$NAME/$(date +%Y%m%d-%H%M%S)"
  run mkdir -p "$log_dir"
  local pids=() i
  # Ctrl-C ends the local ssh sessions; the remote processes may outlive them.
  trap 'kill "${pids[@]}" 2>/dev/null; echo "tpu_vm.sh: interrupted; remote runs may go on:" \
    "launch/tpu_vm.sh stop" >&2; exit 130' INT TERM
  for ((i = 0; i < n; i++)); do
    # Every worker joins one jax.distributed job through jaxint's JAXINT_* variables
    # (explicit, so it does not depend on how a TPU VM advertises its pod).
    local dist=""
    if [[ $n -gt 1 ]]; then
      dist="JAXINT_COORDINATOR=${ips[0]}:$COORDINATOR_PORT JAXINT_NUM_PROCESSES=$n JAXINT_PROCESS_ID=$i "
    fi
    local remote log="$log_dir/worker-$i.log"
    remote="cd ~/$REMOTE_DIR && ${dist}exec .venv/bin/jaxint run $(quote "$@")"
    if [[ "$DRY_RUN" == 1 ]]; then
      echo "$(tpu ssh "$NAME" --worker="$i" --command="$remote" "${EXTRA_SSH[@]}") > $log"
    else
      (tpu ssh "$NAME" --worker="$i" --command="$remote" "${EXTRA_SSH[@]}" 2>&1 |
        tee "$log" | sed -u "s/^/[worker $i] /") &
      pids+=($!)
    fi
  done
  local failed=0 pid
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  trap - INT TERM
  [[ "$DRY_RUN" == 1 ]] || echo "logs: $log_dir"
  [[ $failed -eq 0 ]] || die "$failed of $n workers failed (see $log_dir)"
}

cmd_mount() {
  [[ -n "$BUCKET" ]] || die "mount: set BUCKET (a gs bucket name, without gs://)"
  local script
  script=$(cat <<EOF
set -euo pipefail
if ! command -v gcsfuse >/dev/null; then
  echo "deb [signed-by=/usr/share/keyrings/cloud.google.asc] https://packages.cloud.google.com/apt gcsfuse-\$(lsb_release -cs) main" | sudo tee /etc/apt/sources.list.d/gcsfuse.list >/dev/null
  curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo tee /usr/share/keyrings/cloud.google.asc >/dev/null
  sudo apt-get update -qq && sudo apt-get install -y -qq gcsfuse
fi
sudo mkdir -p $(quote "$MOUNT") && sudo chown "\$USER" $(quote "$MOUNT")
mountpoint -q $(quote "$MOUNT") || gcsfuse --implicit-dirs $(quote "$BUCKET") $(quote "$MOUNT")
EOF
)
  tpu ssh "$NAME" --worker=all --command="$script" "${EXTRA_SSH[@]}"
}

case "$COMMAND" in
  create) cmd_create ;;
  setup) cmd_setup ;;
  run) cmd_run "$@" ;;
  stop)
    tpu ssh "$NAME" --worker=all "${EXTRA_SSH[@]}" \
      --command="pkill -TERM -f '[.]venv/bin/jaxint run' || true" ;;
  ssh)
    [[ $# -ge 1 ]] || die "ssh: give a command"
    tpu ssh "$NAME" --worker=all --command="cd ~/$REMOTE_DIR && $*" "${EXTRA_SSH[@]}" ;;
  mount) cmd_mount ;;
  status) tpu describe "$NAME" ;;
  delete) tpu delete "$NAME" --quiet ;;
  *) die "unknown command $COMMAND (see --help)" ;;
esac
