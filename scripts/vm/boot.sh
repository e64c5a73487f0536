#!/usr/bin/env bash
# Boot the guest once: its base image (read-only, under a qcow2 overlay in RUNDIR) and the work
# disk; stream the job's output (the guest's second serial port) to stdout while it runs; stop
# qemu after TSRUN_VM_TIMEOUT seconds, or on INT/TERM. The guest's console (kernel, systemd)
# goes to RUNDIR/console.log. Times go to RUNDIR/host-times.
# Exit status: qemu's (0 after the guest powered off), 124 on timeout.
# Usage: boot.sh BASEDIR WORK.img RUNDIR   (TSRUN_VM_TIMEOUT, TSRUN_VM_MEM, TSRUN_VM_CPUS, TSRUN_VM_ACCEL)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

base=${1:?usage: boot.sh BASEDIR WORK.img RUNDIR}
work=${2:?}
run=${3:?}
timeout=${TSRUN_VM_TIMEOUT:-2700}
mem=${TSRUN_VM_MEM:-4096}
cpus=${TSRUN_VM_CPUS:-2}
vm_need qemu-system-x86_64 qemu-img

# KVM only with hardware virtualisation: a /dev/kvm without vmx/svm in the CPU flags (a
# paravirtual KVM in a nested VM) cannot run Debian's stock kernel. Else TCG, one host thread
# per vCPU.
accel=${TSRUN_VM_ACCEL:-}
if [ -z "$accel" ]; then
  if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi
case $accel in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
  *) vm_die "TSRUN_VM_ACCEL must be kvm or tcg" ;;
esac

qemu_pid=
tail_pid=
stop_qemu() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -TERM "$qemu_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  qemu_pid=
}
stop() {
  stop_qemu
  [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
  rm -f "$run/root.qcow2"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Writes of the run go to the overlay; the cached image stays as built.
qemu-img create -q -f qcow2 -F raw -b "$base/rootfs.img" "$run/root.qcow2"
: >"$run/stream.log"
: >"$run/console.log"

# panic=-1 with -no-reboot: a guest that panics ends qemu instead of hanging until the timeout.
# mitigations=off: the guest is a throwaway test machine, and emulated mitigations cost time.
t0=$(vm_now)
qemu-system-x86_64 -name tsrun-vm "${accel_args[@]}" -smp "$cpus" -m "$mem" \
  -kernel "$base/vmlinuz" -initrd "$base/initrd.img" \
  -append "root=LABEL=tsrun-root rw console=ttyS0 panic=-1 mitigations=off" \
  -drive file="$run/root.qcow2",if=virtio,format=qcow2 \
  -drive file="$work",if=virtio,format=raw \
  -display none -monitor none -nic none -no-reboot \
  -serial file:"$run/console.log" -serial file:"$run/stream.log" </dev/null &
qemu_pid=$!

tail -n +1 -F --pid="$qemu_pid" "$run/stream.log" 2>/dev/null &
tail_pid=$!

t_begin=
deadline=$(awk -v t="$t0" -v d="$timeout" 'BEGIN { printf "%d", t + d }')
rc=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  if [ -z "$t_begin" ] && grep -q '^@@tsrun-vm: jest begin' "$run/stream.log"; then t_begin=$(vm_now); fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    vm_log "timeout: the VM run took more than $timeout s; stopping qemu"
    rc=124
    break
  fi
  sleep 0.5
done
if [ "$rc" = 0 ]; then
  wait "$qemu_pid" || rc=$?
  qemu_pid=
else
  stop_qemu
fi
t_end=$(vm_now)
# Let tail print the last of the stream (it exits once qemu is gone).
wait "$tail_pid" 2>/dev/null || true
tail_pid=
printf 'accel %s\nqemu_start %s\njest_begin_seen %s\nqemu_end %s\n' "$accel" "$t0" "${t_begin:-}" "$t_end" >"$run/host-times"
exit "$rc"
