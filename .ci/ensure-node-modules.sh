#!/usr/bin/env bash
# Installs the npm devDependencies of one folder of ours (clients/js, clients/web, proto/tools) with
# `npm ci`, only when its node_modules is missing or older than its package-lock.json, so repeated
# test runs cost nothing. npm's registry is the only download (no browsers: clients/web drives
# Debian's /usr/bin/chromium). npm ci writes node_modules/.package-lock.json last; its age says
# when the install finished. Tests that may start together serialize on a lock per folder.
#   .ci/ensure-node-modules.sh DIR              install if stale
#   .ci/ensure-node-modules.sh DIR COMMAND...   then run COMMAND in DIR (how CTest runs npm scripts)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DIR [COMMAND...]" >&2; exit 2; }
cd "$1"
shift
[ -f package-lock.json ] || { echo "$0: no package-lock.json in $PWD" >&2; exit 2; }

installed=node_modules/.package-lock.json
fresh() { [ -f "$installed" ] && [ ! package-lock.json -nt "$installed" ]; }
run() { [ $# -eq 0 ] && exit 0; exec "$@"; }
fresh && run "$@"
lock="${TMPDIR:-/tmp}/wsbridge-npm-$(printf '%s' "$PWD" | cksum | cut -d' ' -f1).lock"
exec 9>"$lock"
command -v flock >/dev/null && flock 9
fresh && { exec 9>&-; run "$@"; }
echo "$PWD: npm ci (node_modules missing or older than package-lock.json)" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
exec 9>&-
run "$@"
