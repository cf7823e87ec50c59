#!/usr/bin/env bash
# Installs every Debian 12 package that building, running and testing wsbridge needs.
# Idempotent: when everything is present it only asks dpkg and returns in well under a second.
# Needs root (or sudo) only when something is missing.
#   .ci/install-deps.sh               everything: build, test, fuzz, browsers
#   .ci/install-deps.sh --build-only  what compiling the binaries needs: the list below less the
#                                     tools only tests, fuzzing and CI use (the Dockerfile's
#                                     build stage)
set -euo pipefail

build_only=0
case "${1:-}" in
  "") ;;
  --build-only) build_only=1 ;;
  *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache clang-format
  # the fuzz targets (fuzz/run.sh): clang, and the libFuzzer and sanitizer runtimes it links
  clang libclang-rt-14-dev
  # gRPC (callback API, health, reflection) and Protobuf
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # Boost.Beast / Asio / JSON (header-only parts of 1.81)
  libboost1.81-dev
  # abseil (Status, strings, containers), the GoogleTest/GoogleMock suite
  libabsl-dev libgtest-dev libgmock-dev
  # JWT verification (HS256, RS256, ES256) on OpenSSL; no hand-written crypto
  libjwt-dev libssl-dev
  # structured, leveled logging
  libspdlog-dev
  # permessage-deflate (raw DEFLATE)
  zlib1g-dev
  # cluster mode (--redis_url): hiredis's async API, driven from Asio (bridge/redis/)
  libhiredis-dev
  # the cluster tests: a real redis-server started on a free loopback port (tests/support)
  redis-server
  # /metrics: prometheus-cpp's core (registry, Collectable, text serializer)
  prometheus-cpp-dev
  # the metrics tests: a real Prometheus server scrapes the bridge, and promtool checks the
  # shipped alert rules and scrape config (docs/prometheus)
  prometheus
  # the Python example service (clients/python) and its test: gRPC and Protobuf for
  # /usr/bin/python3 (stubs come from grpc_python_plugin in protobuf-compiler-grpc)
  python3-grpcio python3-protobuf
  # the browser tests (tests/browser): Debian's Chromium, driven headless by npm's playwright-core
  chromium
)

# Left out by --build-only. Everything else counts as a build dependency, so a package added
# above reaches the image's build stage without a second list to keep in step.
not_for_building=(
  ccache clang-format clang libclang-rt-14-dev libgtest-dev libgmock-dev
  python3-grpcio python3-protobuf chromium prometheus redis-server
)
if [ "$build_only" -eq 1 ]; then
  kept=()
  for p in "${packages[@]}"; do
    [[ " ${not_for_building[*]} " == *" $p "* ]] || kept+=("$p")
  done
  packages=("${kept[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
