#!/usr/bin/env bash
# Runs one script of package.json (`test:bridge`, `typecheck`) after installing the
# devDependencies if needed. CTest calls it; WSBRIDGE_BINARY passes through the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
test/ensure-node-modules.sh
exec npm run --silent "$1"
