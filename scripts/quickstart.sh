#!/usr/bin/env bash
# The README's quick start: install what is missing, build, run a busybox bundle with tsrun,
# then build the example app (examples/static-site) from its Dockerfile with tsbuild and serve
# it with tsrun. Run as root on Debian 12 with Node 20.
set -euo pipefail
cd "$(dirname "$0")/.."
# busybox for the bundles; slirp4netns gives the example's RUN step its own network namespace
need=()
command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -d node_modules ] && [ -f build/Release/tsrun_native.node ] && [ -f build/Release/tsrun-exec ] && [ -f packages/builder/dist/cli/main.js ] || npm ci --no-audit --no-fund
tsrun=packages/runtime/bin/tsrun
tsbuild=packages/builder/bin/tsbuild

work=$(mktemp -d /tmp/tsrun-demo.XXXXXX)
id="site-$$"
cleanup() {
  "$tsrun" delete -f "$id" >/dev/null 2>&1 || true
  [ -d "$work/site" ] && "$tsrun" unbundle "$work/site" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. A container from a hand-made bundle.
scripts/make-bundle.sh "$work/hello"
"$tsrun" run -b "$work/hello" "demo-$$"

# 2. An image built from a Dockerfile, FROM scratch + a busybox rootfs made on this machine.
scripts/make-rootfs.sh examples/static-site/rootfs.tar
echo "== tsbuild -t static-site examples/static-site"
"$tsbuild" -t static-site --progress plain examples/static-site

# 3. The image run by tsrun: a bundle of it (its config.json from the image config), on the
# host's network so the page can be fetched from here.
port=${QUICKSTART_PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}
"$tsrun" bundle static-site "$work/site"
node -e '
  const fs = require("fs");
  const [file, port] = process.argv.slice(1);
  const c = JSON.parse(fs.readFileSync(file, "utf8"));
  c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== "network");
  c.process.env = c.process.env.map((e) => (e.startsWith("PORT=") ? `PORT=${port}` : e));
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
' "$work/site/config.json" "$port"
echo "== tsrun run -d static-site (busybox httpd on 127.0.0.1:$port)"
"$tsrun" run -d -b "$work/site" "$id" </dev/null >"$work/httpd.log" 2>&1
for _ in $(seq 50); do
  busybox wget -qO- "http://127.0.0.1:$port/" >"$work/page.html" 2>/dev/null && break
  sleep 0.1
done
echo "== GET http://127.0.0.1:$port/"
cat "$work/page.html"
"$tsrun" kill "$id" TERM
for _ in $(seq 50); do
  [ "$("$tsrun" state "$id" 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).status)}catch{console.log("gone")}})')" = stopped ] && break
  sleep 0.1
done
echo "== the container's log"
cat "$work/httpd.log"
