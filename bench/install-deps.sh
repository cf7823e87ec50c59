#!/usr/bin/env bash
# Installs what bench/run.py needs beyond the build: nginx with the nchan module (the peer it is
# measured against), gnuplot (the charts) and, for --client=node, the npm package ws in
# bench/node_modules (bench/package-lock.json, `npm ci`). Idempotent: does nothing when all are
# present. Debian would start the system nginx on port 80 on install; the bench runs its own on
# loopback, so service starts are refused for the duration of the install.
set -euo pipefail
bench_dir="$(cd "$(dirname "$0")" && pwd)"

install_debian_packages() {
  local packages=(nginx-light libnginx-mod-nchan gnuplot-nox)
  local missing=()
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("${package}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  # Globals: the EXIT trap reads them after the function has returned.
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "${policy}" ]; then
    printf '#!/bin/sh\nexit 101\n' | ${sudo} tee "${policy}" >/dev/null
    ${sudo} chmod +x "${policy}"
    trap '${sudo} rm -f "${policy}"' EXIT
  fi
  ${sudo} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq "${missing[@]}"
}

# bench/ws_client.mjs's one dependency; skipped (with a note) where node is not installed.
install_node_client() {
  [ -f "${bench_dir}/node_modules/ws/package.json" ] && return 0
  if ! command -v npm >/dev/null; then
    echo "install-deps.sh: npm not found: bench/run.py --client=node will not run" >&2
    return 0
  fi
  (cd "${bench_dir}" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
}

install_debian_packages
install_node_client
