# Helpers shared by launch/tpu_vm.sh and launch/multihost.sh (sourced, not run).
# shellcheck shell=bash

# One argument as a shell would need it, readably: bare when safe, else single-quoted (a
# --flag=value keeps its flag outside the quotes).
show_arg() {
  local arg="$1" flag=""
  if [[ "$arg" =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
    printf '%s' "$arg"
    return
  fi
  if [[ "$arg" =~ ^(--[a-z-]+=)(.*)$ ]]; then
    flag="${BASH_REMATCH[1]}"
    arg="${BASH_REMATCH[2]}"
  fi
  printf "%s'%s'" "$flag" "${arg//\'/\'\\\'\'}"
}

# A command line as one string that can be pasted into a shell.
show() {
  local out=() arg
  for arg in "$@"; do out+=("$(show_arg "$arg")"); done
  echo "${out[*]}"
}

# Arguments quoted for a remote shell (ssh and gcloud ssh --command take one string).
quote() { printf '%q ' "$@" | sed 's/ $//'; }

# Runs a command, or prints it when DRY_RUN=1.
run() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then show "$@"; else "$@"; fi
}
