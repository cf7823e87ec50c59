#!/usr/bin/env bash
# Installs what is missing, checks formatting, builds, and runs every test twice: a normal build,
# then the whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer. Between the two,
# the container image and compose.yaml are smoke-tested in a private Docker engine
# (tests/compose/), and the fuzz targets (fuzz/, built with clang) run for 60 seconds each. Exits
# non-zero on any failure.
#   tests/run-all.sh            everything
#   WSBRIDGE_SKIP_FUZZ=1 tests/run-all.sh   without the fuzz stage
#   WSBRIDGE_SKIP_ASAN=1 tests/run-all.sh   without the sanitizer pass (quicker while iterating)
#   WSBRIDGE_SKIP_COMPOSE=1 tests/run-all.sh   without the container image + compose smoke test
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/install-deps.sh

echo "=== clang-format"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror
else
  find bridge tests bench clients fuzz -name '*.cc' -o -name '*.h' 2>/dev/null | xargs -r clang-format --dry-run -Werror
fi

# The compose smoke test (after the normal pass) needs a Docker engine and a base image made from
# Debian's packages (../shared/container/with-engine.sh). Getting them is mostly downloading, so
# it starts now, in the background, while the normal pass compiles; the test waits for it.
if [ "${WSBRIDGE_SKIP_COMPOSE:-0}" != 1 ]; then
  with_engine=${WSBRIDGE_WITH_ENGINE:-}
  for candidate in ../shared/container/with-engine.sh /work/shared/container/with-engine.sh; do
    [ -z "$with_engine" ] && [ -x "$candidate" ] && with_engine="$(cd "$(dirname "$candidate")" && pwd)/with-engine.sh"
  done
  if [ -z "$with_engine" ]; then
    echo "no ../shared/container/with-engine.sh: set WSBRIDGE_WITH_ENGINE, or WSBRIDGE_SKIP_COMPOSE=1" >&2
    exit 1
  fi
  mkdir -p build
  "$with_engine" true >build/engine-warmup.log 2>&1 &
  engine_warmup=$!
fi

jobs=$(nproc)
# Share compiled objects across clones and build folders (CI builds a fresh clone each time).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
# Line tables are enough for test failures and sanitizer reports, and build much faster.
debug_info="-g1"
run_pass() {
  local dir=$1; shift
  echo "=== configure ${dir} ($*)"
  cmake -S . -B "${dir}" -G Ninja "$@" >/dev/null
  echo "=== build ${dir}"
  cmake --build "${dir}" -j "${jobs}"
  echo "=== test ${dir}"
  ctest --test-dir "${dir}" --output-on-failure -j "${jobs}" --timeout 300
}

run_pass build -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 ${debug_info} -DNDEBUG"
if [ "${WSBRIDGE_SKIP_COMPOSE:-0}" != 1 ]; then
  # Once, here: the Dockerfile and compose.yaml built and run in a private engine (it drives the
  # product from outside, so the sanitizer pass below has nothing to add to it).
  echo "=== compose smoke test"
  wait "$engine_warmup" || { echo "preparing the Docker engine failed:" >&2; tail -30 build/engine-warmup.log >&2; exit 1; }
  "$with_engine" tests/compose/smoke_test.py --bridgectl build/bridgectl
fi
if [ "${WSBRIDGE_SKIP_FUZZ:-0}" != 1 ]; then
  # Once, here: the fuzz targets carry their own sanitizers, so the pass below does not repeat it.
  fuzz/run.sh 60
fi
if [ "${WSBRIDGE_SKIP_ASAN:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_pass build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSBRIDGE_SANITIZE=ON \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 ${debug_info}"
fi
