# wsbridge container image: the bridge (`wsbridge`, the entrypoint), the command-line client
# (`bridgectl`, e.g. the compose demo's ticker) and the demo page (/usr/share/wsbridge/web).
#
#   docker build -t wsbridge .
#   docker run --rm -p 50051:50051 -p 8080:8080 -p 9090:9090 \
#     -e WSBRIDGE_JWT_SECRET=change-me wsbridge
#
# Configuration: every flag --NAME is also read from the environment variable WSBRIDGE_NAME
# (`docker run --rm wsbridge --help` lists them); flags given as arguments win.
# Stop: SIGTERM drains (sessions closed with 1001 over --drain_seconds, default 10); give the
# container that long plus a few seconds (`docker stop -t 20`, compose's stop_grace_period).

# --- Build stage: the project's own install script, then only the two binaries. ----------------
FROM debian:bookworm-slim AS build

# What the build packages merely recommend (docs, extra tools) is not needed to compile.
RUN echo 'APT::Install-Recommends "false";' >/etc/apt/apt.conf.d/90no-recommends
COPY .ci/install-deps.sh /src/.ci/install-deps.sh
RUN /src/.ci/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*

COPY . /src
WORKDIR /src
# Release at -O2 (what CI tests), no debug info; no tests, benchmarks or fuzzers.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
      -DWSBRIDGE_BUILD_TESTS=OFF -DWSBRIDGE_BUILD_BENCH=OFF \
 && cmake --build /build -j "$(nproc)" --target wsbridge bridgectl \
 && mkdir -p /out/bin \
 && strip -o /out/bin/wsbridge /build/wsbridge \
 && strip -o /out/bin/bridgectl /build/bridgectl

# The demo page with its symlinked client (clients/web/wsbridge.js -> ../js/wsbridge.js) resolved
# into a real file: the runtime image has no clients/js beside it.
RUN cp -rL clients/web /out/web

# The Debian packages that hold the shared libraries the binaries load, found with ldd, so the
# runtime stage installs exactly those (and their own dependencies) and stays right when a
# dependency is added to the build.
RUN set -e; \
    for lib in $(ldd /out/bin/wsbridge /out/bin/bridgectl | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do \
      real=$(realpath "$lib"); \
      owner=$(dpkg-query --search "*/$(basename "$(dirname "$real")")/$(basename "$real")"); \
      echo "${owner%%:*}" >>/tmp/owners; \
    done; \
    sort -u /tmp/owners >/out/runtime-packages; \
    echo "runtime packages: $(tr '\n' ' ' </out/runtime-packages)"

# --- Runtime stage: the binaries, their shared libraries, the demo page, a non-root user. -----
FROM debian:bookworm-slim

COPY --from=build /out/runtime-packages /usr/share/wsbridge/runtime-packages
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      $(cat /usr/share/wsbridge/runtime-packages) >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log

# A fixed numeric uid/gid, so orchestrators can check "runs as non-root" without /etc/passwd.
RUN groupadd --system --gid 10001 wsbridge \
 && useradd --system --uid 10001 --gid wsbridge --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin wsbridge

COPY --from=build /out/bin/wsbridge /out/bin/bridgectl /usr/local/bin/
COPY --from=build /out/web /usr/share/wsbridge/web

# Listen on every interface of the container, on the standard ports. The demo page is not served
# unless WSBRIDGE_STATIC_DIR=/usr/share/wsbridge/web is set (compose.yaml does).
ENV WSBRIDGE_BIND=0.0.0.0 \
    WSBRIDGE_GRPC_PORT=50051 \
    WSBRIDGE_WS_PORT=8080 \
    WSBRIDGE_ADMIN_PORT=9090
# gRPC API, WebSocket (and the static page), admin HTTP (/healthz, /readyz, /metrics).
EXPOSE 50051 8080 9090

USER 10001:10001
# GET /healthz on the admin port must answer 200. Plain bash (/dev/tcp), so the image needs no
# curl; it reads the bridge's own settings (WSBRIDGE_ADMIN_PORT, WSBRIDGE_BIND: a wildcard bind
# is asked on loopback).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/bin/bash", "-c", "h=${WSBRIDGE_BIND:-0.0.0.0}; h=${h//[][]/}; case $h in 0.0.0.0|::|'') h=127.0.0.1;; esac; exec 3<>/dev/tcp/$h/${WSBRIDGE_ADMIN_PORT:-9090} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && IFS= read -r -t 4 line <&3 && [[ $line =~ ^HTTP/1\\.[01]\\ 200 ]]"]

# Exec form: wsbridge is PID 1 and receives SIGTERM itself (it waits for it with sigwait, which
# PID 1 gets like any process: a blocked signal is never discarded), then drains and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/wsbridge"]
