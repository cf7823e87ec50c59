#!/usr/bin/env bash
# Installs every Debian 12 package that building, running and testing wsbridge needs.
# Idempotent: when everything is present it only asks dpkg and returns in well under a second.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

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
