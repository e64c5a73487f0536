#!/usr/bin/env bash
# The README's quick start: install what is missing, build, make a busybox bundle and run it
# as a container with tsrun. Run as root on Debian 12 with Node 20.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v busybox >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static >/dev/null
fi
[ -d node_modules ] && [ -f build/Release/tsrun_native.node ] || npm ci --no-audit --no-fund
bundle=$(mktemp -d /tmp/tsrun-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
scripts/make-bundle.sh "$bundle"
npx tsrun run -b "$bundle" "demo-$$"
