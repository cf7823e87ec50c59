#!/bin/bash
# The image's HEALTHCHECK: exits 0 when the bridge's admin endpoint answers GET /healthz with
# 200, 1 otherwise. Plain bash (/dev/tcp) so the image needs no curl or wget.
# Reads the same settings as the bridge: WSBRIDGE_ADMIN_PORT (default 9090) and WSBRIDGE_BIND
# (a specific address is asked there; the wildcard addresses mean loopback).
set -u
port=${WSBRIDGE_ADMIN_PORT:-9090}
host=${WSBRIDGE_BIND:-0.0.0.0}
case "$host" in
  0.0.0.0 | "") host=127.0.0.1 ;;
  :: | "[::]") host=::1 ;;
esac
host=${host#[}
host=${host%]}

exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 4 status_line <&3 || exit 1
[[ $status_line =~ ^HTTP/1\.[01]\ 200 ]] || { echo "healthz: ${status_line%$'\r'}" >&2; exit 1; }
