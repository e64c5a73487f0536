#!/usr/bin/env bash
# The VM test tier: run jest test files in a Debian 12 guest booted with its own kernel and
# systemd as pid 1, where /sys/fs/cgroup is a pure cgroup2 tree (real hosts), against the
# checkout this is run from, as it is built (npm ci first). Without files: the default set,
# scripts/vm/v2-tests.txt, the test files whose cgroup v2 parts a v1 or hybrid host skips.
#
# Usage: bash scripts/vm/run-tests.sh [jest test files...]     (as root)
#   RUNTIME=runc ...     the tests' RUNTIME inside the guest, as with npm test
#   TSRUN_VM_CACHE       where the base image and the last runs' logs are (/var/cache/tsrun-vm)
#   TSRUN_VM_TIMEOUT     hard limit of the VM run, boot to power-off, in seconds (2700: the
#                        default set takes 15-25 minutes under software emulation)
#   TSRUN_VM_MEM, TSRUN_VM_CPUS, TSRUN_VM_ACCEL (kvm|tcg), TSRUN_VM_MIRROR
#   TSRUN_VM_CMD         a shell command to run in the guest (cwd the checkout) instead of jest
# Exit status: jest's in the guest; 124 if the run timed out, 125 if the guest gave none.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

checkout=$(pwd -P)
[ "$(id -u)" = 0 ] || vm_die "run as root (the tests run as root; debootstrap and mkfs too)"
# What a fresh Debian 12 machine lacks for this tier, from Debian's archive.
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v qemu-img >/dev/null || ! command -v debootstrap >/dev/null || ! command -v debugfs >/dev/null; then
  vm_log "installing qemu-system-x86, qemu-utils, debootstrap and e2fsprogs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils debootstrap e2fsprogs >/dev/null ||
    vm_die "could not install the VM tools"
fi
[ -f "$checkout/package.json" ] && grep -q '"name": "tsrun-monorepo"' "$checkout/package.json" ||
  vm_die "run from the root of a checkout"
for built in build/Release/tsrun_native.node packages/runtime/dist node_modules/.bin/jest; do
  [ -e "$checkout/$built" ] || vm_die "$built is missing: build the checkout first (npm ci)"
done

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$here/v2-tests.txt")
fi
for f in "${files[@]}"; do
  case $f in -*) continue ;; esac # jest options pass through
  [ -e "$checkout/$f" ] || vm_die "no such test file in the checkout: $f"
done
runtime=${RUNTIME:-}

t0=$(vm_now)
run=$(mktemp -d "${TMPDIR:-/var/tmp}/tsrun-vm.XXXXXX")
trap 'vm_forward; rm -rf --one-file-system "$run"' EXIT
vm_trap_signals

# 1. The base image, built once per recipe.
# (Not in $(...): a subshell's child would not get our forwarded signals.)
vm_run bash "$here/build-image.sh" >"$run/base"
base=$(cat "$run/base")
t_image=$(vm_now)
image_note="cached"
if [ "$(stat -c %Y "$base/ready")" -ge "${t0%.*}" ]; then
  image_note="built in $(sed -n 's/^built .* in \([0-9.]*\) s$/\1/p' "$base/recipe") s"
fi

# 2. This checkout and the job, on the work disk.
{
  printf 'JOB_DIR=%q\n' "$checkout"
  printf 'JOB_RUNTIME=%q\n' "$runtime"
  printf 'JOB_FILES=(%s)\n' "$(printf '%q ' "${files[@]}")"
  printf 'JOB_CMD=%q\n' "${TSRUN_VM_CMD:-}"
} >"$run/job.env"
vm_run bash "$here/make-work-disk.sh" "$checkout" "$run/job.env" "$run/work.img"
t_disk=$(vm_now)

# 3. Boot, run, power off; the job's output streams here meanwhile.
what="${#files[@]} test files"
[ -z "${TSRUN_VM_CMD:-}" ] || what="TSRUN_VM_CMD instead of jest"
vm_log "booting the guest ($what, RUNTIME=${runtime:-tsrun}; image $image_note)"
boot_rc=0
vm_run bash "$here/boot.sh" "$base" "$run/work.img" "$run" || boot_rc=$?

# 4. The results, read off the work disk without mounting it.
mkdir -p "$run/out"
debugfs -R "rdump /results $run/out" "$run/work.img" >/dev/null 2>&1 || true
status=$(cat "$run/out/results/status" 2>/dev/null || true)

logs=$VM_CACHE/logs/last-${runtime:-tsrun}
rm -rf "$logs"
mkdir -p "$logs"
cp "$run/console.log" "$run/stream.log" "$logs/" 2>/dev/null || true
cp -r "$run/out/results/." "$logs/" 2>/dev/null || true

if [ "$boot_rc" = 124 ]; then
  status=124
elif [ -z "$status" ]; then
  vm_log "the guest gave no exit status (qemu exited $boot_rc); the end of its console:"
  tail -n 40 "$run/console.log" >&2 || true
  status=125
fi

# 5. The summary: guest boot (qemu start to jest start), tests (jest, as the guest's clock
# measures it), shutdown, and the whole run from this script's start.
get() { sed -n "s/^$1 //p" "$2" 2>/dev/null || true; }
q0=$(get qemu_start "$run/host-times")
qb=$(get jest_begin_seen "$run/host-times")
q1=$(get qemu_end "$run/host-times")
js=$(get jest_start "$run/out/results/times")
je=$(get jest_end "$run/out/results/times")
boot=${qb:+$(vm_secs "$q0" "$qb") s}
tests=${je:+$(vm_secs "$js" "$je") s}
vm_log "console and job logs: $logs"
vm_log "summary: RUNTIME=${runtime:-tsrun}, $what, exit status $status | image $image_note | work disk $(vm_secs "$t_image" "$t_disk") s | boot ${boot:-?} | tests ${tests:-?} | VM total ${q1:+$(vm_secs "$q0" "$q1") s} ($(get accel "$run/host-times")) | total $(vm_secs "$t0" "$(vm_now)") s"
exit "$status"
