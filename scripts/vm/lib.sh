# Shared by the scripts of scripts/vm/ (sourced, not run): messages, clocks, the cache
# directory, and running a child so that a signal to us reaches it.

# The base image and the logs of the last runs live outside the checkout: the image is large,
# is built once per recipe, and must not end up in a commit or in the work disk of a run.
VM_CACHE=${TSRUN_VM_CACHE:-/var/cache/tsrun-vm}

vm_log() { printf 'tsrun-vm: %s\n' "$*" >&2; }
vm_die() { vm_log "error: $*"; exit 1; }

# Seconds since the epoch with fractions, and the difference of two of them (for the summary).
vm_now() { date +%s.%N; }
vm_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

vm_need() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 ||
      vm_die "$cmd not found (apt-get install qemu-system-x86 qemu-utils debootstrap e2fsprogs)"
  done
}

# A non-interactive shell starts background children with SIGINT ignored, and does not pass
# SIGTERM on to a foreground child: so children run in the background and we wait for them,
# and the traps below forward TERM to the one that runs (which then cleans up after itself).
vm_child=
vm_run() {
  local rc=0
  "$@" &
  vm_child=$!
  wait "$vm_child" || rc=$?
  vm_child=
  return "$rc"
}
vm_forward() {
  if [ -n "$vm_child" ]; then
    kill -TERM "$vm_child" 2>/dev/null || true
    wait "$vm_child" 2>/dev/null || true
  fi
}
vm_trap_signals() {
  trap 'vm_forward; exit 130' INT
  trap 'vm_forward; exit 143' TERM
  trap 'vm_forward; exit 129' HUP
}
