#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for a bounded time on a
# scratch copy of its seeds (fuzz/corpus/<target>/ is only read). Exits non-zero if any target
# reports a crash, a leak, a sanitizer error, an invariant broken or a hang, and says where the
# input that did it was saved.
#   fuzz/run.sh                 60 seconds per target (what CI runs)
#   fuzz/run.sh 3600            an hour per target
#   fuzz/run.sh 600 fuzz_jwt    only the named targets
# Environment: WSBRIDGE_FUZZ_JOBS targets at once (default: the cores, at most 4).
# Each run's corpus (seeds plus what the fuzzer found) and any crashing input stay in
# build-fuzz/runs/<target>/ until the next run; to replay an input:
#   build-fuzz/fuzz/<target> build-fuzz/runs/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_frame_reader fuzz_upgrade_request fuzz_jwt fuzz_request_validation)
jobs=${WSBRIDGE_FUZZ_JOBS:-$(nproc)}
[ "${jobs}" -le 4 ] || jobs=4

export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
echo "=== configure build-fuzz (clang, libFuzzer + ASan + UBSan)"
# -O1 and line tables, as OSS-Fuzz builds; assertions stay on. Only the fuzz targets are built.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  -DWSBRIDGE_FUZZ=ON -DWSBRIDGE_BUILD_TESTS=OFF -DWSBRIDGE_BUILD_BENCH=OFF >/dev/null
echo "=== build build-fuzz"
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# run_target NAME: fuzzes NAME for $seconds; its output goes to build-fuzz/runs/NAME/log.
run_target() {
  local name=$1 dir=build-fuzz/runs/$1
  rm -rf "${dir}"
  mkdir -p "${dir}/corpus"
  cp fuzz/corpus/"${name}"/* "${dir}/corpus/"
  # -timeout: one input running this long is a hang (a bug), not a slow machine.
  build-fuzz/fuzz/"${name}" "${dir}/corpus" -max_total_time="${seconds}" -timeout=60 \
    -detect_leaks=1 -print_final_stats=1 -artifact_prefix="${dir}/" >"${dir}/log" 2>&1
}

echo "=== fuzz ${targets[*]}: ${seconds} s each, ${jobs} at a time"
declare -A pids
failed=0
report() {
  local name=$1 status=$2 dir=build-fuzz/runs/$1
  if [ "${status}" -eq 0 ]; then
    echo "--- ${name}: ok ($(grep -o 'Done [0-9]* runs' "${dir}/log" || echo '? runs'))"
    return
  fi
  failed=1
  echo "--- ${name}: FAILED (exit ${status}); end of ${dir}/log:"
  tail -n 60 "${dir}/log"
  local saved
  saved=$(grep -o 'Test unit written to .*' "${dir}/log" | sed 's/Test unit written to //' || true)
  if [ -n "${saved}" ]; then
    echo "--- ${name}: the input is saved at ${saved}; replay: build-fuzz/fuzz/${name} ${saved}"
  fi
}
for name in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "${jobs}" ]; do wait -n || true; done
  run_target "${name}" &
  pids[${name}]=$!
done
for name in "${targets[@]}"; do
  status=0
  wait "${pids[${name}]}" || status=$?
  report "${name}" "${status}"
done
exit "${failed}"
