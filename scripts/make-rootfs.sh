#!/usr/bin/env bash
# Make a busybox root filesystem tarball (for `FROM scratch` + `ADD rootfs.tar /`) from the
# host's busybox-static: no network, no registry. The tarball is reproducible: fixed owners
# and mtimes, sorted entries.
# Usage: scripts/make-rootfs.sh OUT.tar
set -euo pipefail
out=${1:?usage: make-rootfs.sh OUT.tar}
busybox=$(command -v busybox) || { echo "make-rootfs.sh: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r="$tmp/rootfs"
mkdir -p "$r"/{bin,dev,etc,proc,sys,tmp,root,var/www,home}
chmod 1777 "$r/tmp"
chmod 700 "$r/root"
cp "$busybox" "$r/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\nwww:x:33:\nnobody:x:65534:\n' > "$r/etc/group"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$r" -cf "$out" .
