#!/usr/bin/env bash
# Build the guest's base image once and cache it; print its directory (vmlinuz, initrd.img,
# rootfs.img) on stdout. The guest is Debian 12 with its own kernel and systemd as pid 1, so
# that /sys/fs/cgroup is a pure cgroup2 tree owned by systemd, as on real hosts (the lab host
# is cgroup v1 hybrid without systemd).
#
# The cache key hashes everything the image is made of (this script, the unit it installs,
# the package list, the host's node binary): change any of them and the next run rebuilds.
# Usage: build-image.sh   (as root; TSRUN_VM_CACHE, TSRUN_VM_MIRROR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# Bump to force a rebuild when something outside the hashed inputs changes (e.g. the mirror).
RECIPE_VERSION=1

# The issue's recipe, plus what the chosen tests use in the guest: busybox-static (the tests'
# rootfs), runc (RUNTIME=runc comparisons), uidmap and a user for the rootless tests, python3
# (test helpers), libstdc++6 (the host's node links it); the managers of test/managers/, which
# on a systemd host run with their systemd cgroup driver: podman (with netavark, aardvark-dns
# and iptables for -p), containerd (ctr), docker.io; bsdutils (script), tar; apparmor (the
# kernel has it on, as on Debian hosts, and dockerd loads its docker-default profile);
# libpam-systemd and dbus-user-session: a user manager (user@UID.service) with its user bus,
# as a login on a real host gets, for the rootless tests of the systemd delegation; criu, for
# checkpoint and restore (test/integration/checkpoint.test.ts), which the guest's Debian kernel
# supports (the lab host's kernel fails `criu check`).
PACKAGES=(
  systemd systemd-sysv udev dbus linux-image-cloud-amd64 initramfs-tools kmod iproute2 procps
  busybox-static runc uidmap python3 libstdc++6
  podman netavark aardvark-dns iptables containerd docker.io bsdutils tar apparmor
  libpam-systemd dbus-user-session criu
)
SUITE=bookworm

# The guest runs the tests with the host's node (Node 20; Debian 12's nodejs is 18).
node_bin=$(readlink -f "$(command -v node)") || vm_die "node not found"

key() {
  {
    echo "$RECIPE_VERSION ${PACKAGES[*]} $SUITE"
    cat "$here/build-image.sh" "$here/guest/tsrun-vm-test.service"
    sha256sum <"$node_bin"
  } | sha256sum | cut -c1-16
}

# The Debian mirror this host's apt uses for $SUITE (deb822 .sources or one-line lists), so the
# guest comes from the same archive; TSRUN_VM_MIRROR overrides.
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() { if (uri != "" && ok) { print uri; found = 1; exit } uri = ""; ok = 0 }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
      END { if (!found) flush() }' "$f"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk -v suite="$SUITE" '$1 == "deb" { u = ($2 ~ /^\[/) ? 3 : 2; if ($(u + 1) == suite) print $u }'
}

# Configure the unpacked root: boot fast, run the test unit, power off. Everything here is
# offline (files written, systemctl --root), except useradd, which runs in the chroot.
configure_guest() {
  local root=$1
  printf 'LABEL=tsrun-root / ext4 rw,noatime 0 0\n' >"$root/etc/fstab"
  # The per-run work disk (the checkout, the job, the results): systemd waits for it.
  printf 'LABEL=tsrun-work /mnt/work ext4 rw,noatime,x-systemd.device-timeout=60s 0 0\n' >>"$root/etc/fstab"
  mkdir -p "$root/mnt/work"
  echo tsrun-vm >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 tsrun-vm\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

  # /dev/loop0 is one of the devices the device-filter tests open.
  echo loop >"$root/etc/modules-load.d/tsrun-vm.conf"

  # The rootless tests run as this user, with subordinate ids for newuidmap (as .ci/run does).
  chroot "$root" useradd -m tsrun-rootless
  chroot "$root" usermod --add-subuids 100000-165535 --add-subgids 100000-165535 tsrun-rootless

  install -m 0755 "$node_bin" "$root/usr/local/bin/node"
  chroot "$root" /usr/local/bin/node --version >/dev/null || vm_die "the host's node does not run in the guest (missing libraries?)"

  install -m 0644 "$here/guest/tsrun-vm-test.service" "$root/etc/systemd/system/tsrun-vm-test.service"
  systemctl --root="$root" enable tsrun-vm-test.service >/dev/null 2>&1
  # Nothing logs in, nothing is scheduled: fewer units, a faster boot under emulation.
  systemctl --root="$root" mask serial-getty@ttyS0.service getty@tty1.service apt-daily.timer \
    apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer >/dev/null 2>&1
  # The manager tests start daemons of their own (own roots and sockets): the packaged ones
  # would only slow the boot and hold the default paths.
  systemctl --root="$root" disable docker.service docker.socket containerd.service >/dev/null 2>&1 || true
  # A unit that hangs on shutdown must not eat the run's time budget.
  mkdir -p "$root/etc/systemd/system.conf.d"
  printf '[Manager]\nDefaultTimeoutStopSec=10s\n' >"$root/etc/systemd/system.conf.d/tsrun-vm.conf"

  # The packages' downloads are not needed in the image.
  rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
}

# Unmount whatever an interrupted debootstrap left mounted in the build tree (its /proc, /sys),
# deepest first, then remove the tree without ever crossing into a mount.
remove_tree() {
  local dir=$1 mp
  [ -d "$dir" ] || return 0
  for mp in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$mp" 2>/dev/null || true
  done
  rm -rf --one-file-system "$dir"
}

main() {
  [ "$(id -u)" = 0 ] || vm_die "build-image.sh must run as root (debootstrap, chroot)"
  mkdir -p "$VM_CACHE"
  local k dir
  k=$(key)
  dir=$VM_CACHE/base-v$RECIPE_VERSION-$k
  if [ -f "$dir/ready" ]; then
    echo "$dir"
    return 0
  fi

  # One build at a time; a second caller waits and then finds the image ready.
  exec 9>"$VM_CACHE/.lock"
  flock 9
  if [ -f "$dir/ready" ]; then
    echo "$dir"
    return 0
  fi
  vm_need debootstrap mkfs.ext4

  local mirror=${TSRUN_VM_MIRROR:-$(host_mirror | head -n1)}
  mirror=${mirror:-http://deb.debian.org/debian}
  build=$(mktemp -d "$VM_CACHE/.build-XXXXXX")
  trap 'remove_tree "$build"' EXIT
  vm_trap_signals

  local t0 includes
  t0=$(vm_now)
  includes=$(IFS=,; echo "${PACKAGES[*]}")
  vm_log "building the guest image (debootstrap $SUITE from $mirror; about 2 minutes)"
  # debootstrap is bounded: a stalled mirror must not hold the run forever. In the background
  # (vm_run): a signal to us then reaches it at once, instead of after it has finished.
  if ! vm_run timeout 900 debootstrap --variant=minbase --include="$includes" "$SUITE" "$build/root" "$mirror" >"$build/debootstrap.log" 2>&1; then
    tail -n 30 "$build/debootstrap.log" >&2
    vm_die "debootstrap failed"
  fi
  configure_guest "$build/root"

  local kernel initrd
  kernel=$(ls "$build/root/boot/"vmlinuz-* | sort -V | tail -n1)
  initrd=$(ls "$build/root/boot/"initrd.img-* | sort -V | tail -n1)
  mkdir "$build/out"
  cp "$kernel" "$build/out/vmlinuz"
  cp "$initrd" "$build/out/initrd.img"
  # A sparse file: the room is for the tests' /tmp (runs write to a qcow2 overlay, never here).
  mkfs.ext4 -q -L tsrun-root -d "$build/root" "$build/out/rootfs.img" 6G >/dev/null
  { echo "recipe v$RECIPE_VERSION $k"; echo "mirror $mirror"; echo "kernel $(basename "$kernel")"; echo "node $("$node_bin" --version)";
    echo "packages ${PACKAGES[*]}"; echo "built $(date -u +%FT%TZ) in $(vm_secs "$t0" "$(vm_now)") s"; } >"$build/out/recipe"

  rm -rf "$dir"
  mv "$build/out" "$dir"
  touch "$dir/ready"
  # Older recipes' images are not needed any more.
  for old in "$VM_CACHE"/base-*; do
    [ "$old" = "$dir" ] || rm -rf --one-file-system "$old"
  done
  vm_log "guest image built in $(vm_secs "$t0" "$(vm_now)") s: $dir"
  echo "$dir"
}

main "$@"
