#!/usr/bin/env bash
# Make the per-run work disk: an ext4 image holding the checkout as it is built (packages/*/dist,
# build/Release, node_modules, test/ and the rest, without .git) under project/, the job
# (job.env) and the guest's runner (run-job.sh). The guest kernel (Debian's cloud kernel) has
# no 9p, and virtiofs would need a daemon on the host: a disk image is simplest, and the guest
# cannot change the checkout.
# Usage: make-work-disk.sh CHECKOUT JOB_ENV OUT.img
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

checkout=${1:?usage: make-work-disk.sh CHECKOUT JOB_ENV OUT.img}
job_env=${2:?}
img=${3:?}
vm_need mkfs.ext4

stage=$(mktemp -d "$(dirname "$img")/stage.XXXXXX")
trap 'rm -rf --one-file-system "$stage"' EXIT
mkdir "$stage/project" "$stage/results"
# Hard links when the checkout is on the same filesystem (no copying: mkfs only reads them),
# else a copy.
for entry in "$checkout"/* "$checkout"/.[!.]*; do
  [ -e "$entry" ] || continue
  [ "$(basename "$entry")" = .git ] && continue
  cp -al "$entry" "$stage/project/" 2>/dev/null || cp -a "$entry" "$stage/project/"
done
install -m 0644 "$job_env" "$stage/job.env"
install -m 0755 "$here/guest/run-job.sh" "$stage/run-job.sh"

# Room for what the tests write next to the checkout. No journal: the disk lives for one run,
# and the host reads the results with debugfs, which does not replay a journal.
used_kb=$(du -sk "$stage" | cut -f1)
mkfs.ext4 -q -F -O ^has_journal -L tsrun-work -d "$stage" "$img" "$((used_kb * 13 / 10 / 1024 + 256))M" >/dev/null
