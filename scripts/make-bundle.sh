#!/usr/bin/env bash
# Make an OCI bundle (config.json + a busybox rootfs) in DIR, running ARGS (default: a greeting).
# Usage: scripts/make-bundle.sh DIR [ARGS...]
set -euo pipefail
dir=${1:?usage: make-bundle.sh DIR [ARGS...]}
shift
busybox=$(command -v busybox) || { echo "make-bundle.sh: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/rootfs"/{bin,proc,sys,dev,etc,tmp,root}
cp "$busybox" "$dir/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$dir/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
"$here/packages/runtime/bin/tsrun" spec -b "$dir"
args_json=$(node -e 'process.stdout.write(JSON.stringify(process.argv.slice(1)))' -- "${@:-sh}")
node -e '
  const fs = require("fs");
  const [file, args, custom] = process.argv.slice(1);
  const c = JSON.parse(fs.readFileSync(file, "utf8"));
  c.process.terminal = false;
  c.hostname = "tsrun-demo";
  if (custom === "1") c.process.args = JSON.parse(args);
  else c.process.args = ["sh", "-c", "echo \"hello from $(hostname): pid $$, $(cat /proc/self/uid_map | tr -s \" \" | head -1), $(ls /dev | wc -l) nodes in /dev\""];
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
' "$dir/config.json" "$args_json" "$([ $# -gt 0 ] && echo 1 || echo 0)"
