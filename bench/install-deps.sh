#!/usr/bin/env bash
# Installs what bench/run.py needs beyond the build: nginx with the nchan module (the peer it is
# measured against) and gnuplot (the charts). Idempotent: exits at once when all are present.
# Debian would start the system nginx on port 80 on install; the bench runs its own on loopback,
# so service starts are refused for the duration of the install.
set -euo pipefail
packages=(nginx-light libnginx-mod-nchan gnuplot-nox)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("${package}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
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
