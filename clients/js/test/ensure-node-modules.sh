#!/usr/bin/env bash
# Installs clients/js's devDependencies (ws, @grpc/grpc-js, @grpc/proto-loader) with `npm ci`, only
# when node_modules is missing or older than package-lock.json, so repeated test runs cost nothing.
# npm ci writes node_modules/.package-lock.json last; its age says when the install finished.
# The module itself (wsbridge.js) and its unit tests need none of this.
set -euo pipefail
cd "$(dirname "$0")/.."

installed=node_modules/.package-lock.json
if [ -f "$installed" ] && [ ! package-lock.json -nt "$installed" ]; then
  exit 0
fi
# Two test runs starting at once must not both unpack into node_modules.
exec 9>"${TMPDIR:-/tmp}/wsbridge-clients-js-npm.lock"
command -v flock >/dev/null && flock 9
if [ -f "$installed" ] && [ ! package-lock.json -nt "$installed" ]; then
  exit 0
fi
echo "clients/js: npm ci (node_modules missing or older than package-lock.json)" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
