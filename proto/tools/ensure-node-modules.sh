#!/usr/bin/env bash
# Installs proto/tools' npm packages (buf, protoc-gen-es, ws) with `npm ci` when node_modules is
# missing or older than package-lock.json; otherwise returns at once. Every proto test calls it
# first, so a fresh checkout needs no manual step. npm's registry is the only download.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.package-lock.json  # npm rewrites it on every install
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
