#!/bin/bash
# Runs in the guest, as root under systemd (tsrun-vm-test.service), from a copy in /run: runs
# jest on the checkout that the host put on the work disk, streams its output to the host on
# the second serial port (ttyS1: the kernel and systemd write to ttyS0 only), and leaves the
# exit status and the times in results/ on the work disk, which the host reads after power-off.
# Usage: run-job WORKDIR   (WORKDIR holds job.env and project/)
set -u
work=${1:?usage: run-job WORKDIR}
res=$work/results
mkdir -p "$res"
t_start=$(cut -d' ' -f1 /proc/uptime)

# Raw: no \n -> \r\n, no echo, so that the host's copy is the bytes jest wrote.
out=/dev/ttyS1
stty -F "$out" raw -echo 2>/dev/null || out=/dev/null

# JOB_DIR (where the checkout was on the host: mounted at the same path, so that paths in the
# output read as on the host), JOB_RUNTIME (the tests' RUNTIME, empty for tsrun), JOB_FILES.
. "$work/job.env"

emit() { tee -a "$res/jest.log" >"$out"; }

guest_info() {
  echo "kernel $(uname -r), $(systemctl --version | head -n1), pid 1 $(cat /proc/1/comm), node $(node --version), runc $(runc --version | head -n1 | cut -d' ' -f3)"
  echo "/sys/fs/cgroup: $(stat -f -c %T /sys/fs/cgroup); cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
  echo "root cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
  echo "this job's cgroup: $(cut -d: -f3 /proc/self/cgroup) (controllers: $(cat "/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/cgroup.controllers"))"
}

# What the tests left at the top of the tree, next to systemd's own cgroups.
foreign_cgroups() {
  find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d ! -name '*.slice' ! -name '*.scope' ! -name '*.mount' -printf '%f\n' | sort | tr '\n' ' '
}

mkdir -p "$JOB_DIR"
mount --bind "$work/project" "$JOB_DIR"
cd "$JOB_DIR" || exit 1

{
  guest_info | sed 's/^/@@tsrun-vm guest: /'
  echo "@@tsrun-vm: jest begin (RUNTIME=${JOB_RUNTIME:-tsrun}, $(cut -d' ' -f1 /proc/uptime) s after boot)"
} | emit

t_jest=$(cut -d' ' -f1 /proc/uptime)
# No colour codes in the logs; every test's name and result in them (--verbose).
export HOME=/root CI=true FORCE_COLOR=0 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[ -z "$JOB_RUNTIME" ] || export RUNTIME="$JOB_RUNTIME"
if [ -n "${JOB_CMD:-}" ]; then
  # A shell command instead of jest (TSRUN_VM_CMD on the host), to look around in the guest.
  bash -c "$JOB_CMD" </dev/null 2>&1 | emit
else
  # What `npx jest` would run (the project's jest), without npm in the guest.
  ./node_modules/.bin/jest --runInBand --verbose "${JOB_FILES[@]}" </dev/null 2>&1 | emit
fi
status=${PIPESTATUS[0]}
t_end=$(cut -d' ' -f1 /proc/uptime)

{
  echo "@@tsrun-vm: jest end: exit status $status"
  echo "@@tsrun-vm guest: root cgroup.subtree_control after the tests: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
  echo "@@tsrun-vm guest: cgroups left at the root besides systemd's: $(foreign_cgroups)"
} | emit

guest_info >"$res/guest.txt"
# Seconds since the guest's kernel started, for the host's summary.
printf 'job_start %s\njest_start %s\njest_end %s\n' "$t_start" "$t_jest" "$t_end" >"$res/times"
echo "$status" >"$res/status"

# Leave the disk clean for the host, which reads it after power-off.
cd /
umount "$JOB_DIR"
sync
umount "$work" 2>/dev/null || mount -o remount,ro "$work" 2>/dev/null || true
exit "$status"
