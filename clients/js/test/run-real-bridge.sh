#!/usr/bin/env bash
# Runs the tests of wsbridge.js against the real bridge: installs the devDependencies if needed,
# then node's test runner. WSBRIDGE_BINARY names the wsbridge executable (CTest sets it).
set -euo pipefail
here="$(dirname "$0")"
"$here/ensure-node-modules.sh"
exec node --test "$here/real_bridge.test.js"
