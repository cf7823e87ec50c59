#!/usr/bin/env python3
"""Compose smoke test: the image and compose.yaml, driven from outside the containers.

Builds the image, brings the stack of compose.yaml up under a project name of its own on free host
ports, waits until the bridge is healthy, then from the host:
  - opens a WebSocket (a raw RFC 6455 client, below) with a JWT for a user and topic "prices";
  - pushes to that user and to that session through the published gRPC port (the host's
    bridgectl) and receives both, and receives a price the ticker container broadcast;
  - fetches the demo page, and the browser client it imports, from the published WebSocket port;
  - checks the bridge container runs as a non-root user with wsbridge as PID 1;
  - runs `compose stop` and checks the connected WebSocket gets a close frame with code 1001 and
    the bridge exits 0 (drained, not killed);
then the cluster profile (`--profile cluster`: Redis and the nodes node-a and node-b):
  - waits until both nodes are healthy, opens a WebSocket to node-b;
  - pushes to its user and, after finding the session through node-a's ListSessions (the
    cluster's directory), to the session itself, both through node-a's gRPC port, and receives
    both on node-b;
and always brings the stack down again (`down -v`), also on failure or interrupt.

Needs a Docker engine and docker-compose (v1) or `docker compose` (v2): in CI it runs through
../shared/container/with-engine.sh (see tests/run-all.sh), e.g.
    ../shared/container/with-engine.sh tests/compose/smoke_test.py --bridgectl build/bridgectl
Python 3 standard library only. Prints the duration of each step; exits 1 with the failing
step's message (and the containers' logs) on failure.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER_ID = "smoke-user"
# Generous: the machine running CI is loaded, and a first start pays for everything.
HEALTHY_DEADLINE_S = 120
RECEIVE_DEADLINE_S = 60
STOP_DEADLINE_S = 60
DRAIN_SECONDS = 5


class SmokeFailure(Exception):
    """A check failed; the message says which and what was seen."""


def log(message):
    print(f"[compose-smoke] {message}", flush=True)


class Step:
    """Times one step and prints it: `with Step("build"): ...`."""

    timings = []

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.start = time.monotonic()
        log(f"--- {self.name}")
        return self

    def __exit__(self, exc_type, exc, tb):
        elapsed = time.monotonic() - self.start
        Step.timings.append((self.name, elapsed, exc_type is None))
        log(f"    {self.name}: {'ok' if exc_type is None else 'FAILED'} in {elapsed:.1f}s")
        return False


# --- Docker and compose -------------------------------------------------------------------------


def compose_command():
    """docker-compose (v1, what with-engine.sh installs) or the docker CLI's compose plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    raise SmokeFailure("neither docker-compose nor `docker compose` is available")


class Stack:
    """The compose project under test: its name, environment and host ports."""

    def __init__(self, project, ports, jwt_secret):
        self.project = project
        self.ports = ports
        # --profile cluster: commands also see redis, node-a and node-b (a plain `up` of the
        # default services does not start them; the cluster step names them).
        self.compose = compose_command() + ["-p", project, "-f", os.path.join(REPO, "compose.yaml"),
                                            "--profile", "cluster"]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WSBRIDGE_")}
        self.env.update({
            "WSBRIDGE_GRPC_PORT": str(ports["grpc"]),
            "WSBRIDGE_WS_PORT": str(ports["ws"]),
            "WSBRIDGE_ADMIN_PORT": str(ports["admin"]),
            "WSBRIDGE_NODE_A_GRPC_PORT": str(ports["node_a_grpc"]),
            "WSBRIDGE_NODE_A_WS_PORT": str(ports["node_a_ws"]),
            "WSBRIDGE_NODE_A_ADMIN_PORT": str(ports["node_a_admin"]),
            "WSBRIDGE_NODE_B_GRPC_PORT": str(ports["node_b_grpc"]),
            "WSBRIDGE_NODE_B_WS_PORT": str(ports["node_b_ws"]),
            "WSBRIDGE_NODE_B_ADMIN_PORT": str(ports["node_b_admin"]),
            "WSBRIDGE_JWT_SECRET": jwt_secret,
            "WSBRIDGE_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "WSBRIDGE_STOP_GRACE_PERIOD": f"{DRAIN_SECONDS + 15}s",
            "BUILDKIT_PROGRESS": "plain",
        })

    def run(self, *args, check=True, capture=True, timeout=600):
        command = self.compose + list(args)
        result = subprocess.run(command, cwd=REPO, env=self.env, text=True, timeout=timeout,
                                stdout=subprocess.PIPE if capture else None,
                                stderr=subprocess.STDOUT if capture else None)
        if check and result.returncode != 0:
            output = (result.stdout or "").strip()
            raise SmokeFailure(f"`{' '.join(command)}` exited {result.returncode}\n{output}")
        return (result.stdout or "").strip()

    def popen(self, *args):
        return subprocess.Popen(self.compose + list(args), cwd=REPO, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def container(self, service):
        container_id = self.run("ps", "-q", service)
        if not container_id:
            raise SmokeFailure(f"service {service} has no container")
        return container_id.splitlines()[0]


def docker_inspect(container_id, template):
    result = subprocess.run(["docker", "inspect", "--format", template, container_id],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SmokeFailure(f"docker inspect {container_id}: {result.stderr.strip()}")
    return result.stdout.strip()


def free_ports(names):
    """Ports free on every interface now (compose publishes the ws and grpc ports on all)."""
    sockets = []
    try:
        for _ in names:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("", 0))
            sockets.append(s)
        return {name: s.getsockname()[1] for name, s in zip(names, sockets)}
    finally:
        for s in sockets:
            s.close()


# --- Browser side: a JWT and a raw WebSocket client ---------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(secret, subject):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": subject, "exp": int(time.time()) + 3600}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(signature)}"


class WebSocketClient:
    """An RFC 6455 client over a plain socket: no extensions offered, so frames arrive as sent.

    recv() returns ("text", str), ("binary", bytes) or ("close", code); it answers pings.
    """

    def __init__(self, host, port, path):
        self.sock = socket.create_connection((host, port), timeout=10)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SmokeFailure(f"WebSocket upgrade: connection closed after {self.buffer!r}")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 101 " not in status_line + " ":
            raise SmokeFailure(f"WebSocket upgrade answered {status_line!r}, expected 101")
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if f"sec-websocket-accept: {accept}".lower() not in head.decode().lower():
            raise SmokeFailure("WebSocket upgrade: wrong or missing Sec-WebSocket-Accept")

    def _read_exactly(self, count, deadline):
        while len(self.buffer) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError from None
            if not chunk:
                raise SmokeFailure("the bridge closed the TCP connection without a close frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _read_frame(self, deadline):
        first, second = self._read_exactly(2, deadline)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exactly(2, deadline))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exactly(8, deadline))
        if second & 0x80:
            raise SmokeFailure("the bridge sent a masked frame")
        return first & 0x80, first & 0x0F, self._read_exactly(length, deadline)

    def send_frame(self, opcode, payload):
        mask = secrets.token_bytes(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv(self, deadline):
        """The next message, or TimeoutError once `deadline` (time.monotonic()) passes."""
        fragments, message_opcode = [], None
        while True:
            fin, opcode, payload = self._read_frame(deadline)
            if opcode == 0x9:
                self.send_frame(0xA, payload)
            elif opcode == 0xA:
                pass
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                try:
                    self.send_frame(0x8, payload[:2])  # the closing handshake's answer
                except OSError:
                    pass
                return "close", code
            else:
                if opcode != 0x0:
                    message_opcode = opcode
                fragments.append(payload)
                if fin:
                    data = b"".join(fragments)
                    return ("text", data.decode()) if message_opcode == 0x1 else ("binary", data)

    def close(self):
        self.sock.close()


# --- The checks ---------------------------------------------------------------------------------


def bridgectl(binary, grpc_port, *args):
    command = [binary, f"--target=127.0.0.1:{grpc_port}", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSBRIDGE_")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    if result.returncode != 0:
        raise SmokeFailure(f"`{' '.join(command)}` exited {result.returncode}: "
                           f"{result.stderr.strip()}")
    return json.loads(result.stdout)


def wait_until_healthy(stack, service="bridge"):
    deadline = time.monotonic() + HEALTHY_DEADLINE_S
    bridge = stack.container(service)
    status = ""
    while time.monotonic() < deadline:
        state = docker_inspect(bridge, "{{.State.Status}} {{.RestartCount}}").split()
        if state[0] in ("exited", "dead") or state[1] != "0":
            raise SmokeFailure(f"the {service} container stopped before it was healthy "
                               f"(state {state[0]}, restarts {state[1]})")
        status = docker_inspect(bridge, "{{if .State.Health}}{{.State.Health.Status}}{{end}}")
        if status == "healthy":
            return bridge
        time.sleep(0.5)
    raise SmokeFailure(f"{service} was not healthy within {HEALTHY_DEADLINE_S}s "
                       f"(health: {status or 'none'})")


def wait_until_running(stack, service):
    deadline = time.monotonic() + HEALTHY_DEADLINE_S
    while time.monotonic() < deadline:
        container_id = stack.run("ps", "-q", service)
        if container_id and docker_inspect(container_id, "{{.State.Status}}") == "running":
            return container_id
        time.sleep(0.5)
    raise SmokeFailure(f"service {service} was not running within {HEALTHY_DEADLINE_S}s")


def receive_until(client, wanted, description):
    """Reads messages until `wanted(seen)` is true for the texts seen so far; returns them."""
    deadline = time.monotonic() + RECEIVE_DEADLINE_S
    seen = []
    while not wanted(seen):
        try:
            kind, data = client.recv(deadline)
        except TimeoutError:
            raise SmokeFailure(f"no {description} within {RECEIVE_DEADLINE_S}s; received: "
                               f"{seen[-5:]}") from None
        if kind == "close":
            raise SmokeFailure(f"the bridge closed the WebSocket ({data}) while waiting for "
                               f"{description}")
        if kind == "text":
            seen.append(data)
    return seen


def is_price(text):
    try:
        update = json.loads(text)
    except ValueError:
        return False
    return isinstance(update, dict) and {"symbol", "price", "time"} <= update.keys()


def http_get(port, path):
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        raise SmokeFailure(f"GET {url}: {error}") from None


def smoke(stack, bridgectl_binary, skip_build):
    if not skip_build:
        with Step("build the image (compose build)"):
            stack.run("build", capture=False, timeout=3600)

    with Step("compose up -d"):
        stack.run("up", "-d", "bridge", "ticker")

    with Step("wait for the bridge's healthcheck"):
        bridge = wait_until_healthy(stack)
        wait_until_running(stack, "ticker")

    with Step("bridge container: non-root, wsbridge is PID 1"):
        configured_user = docker_inspect(bridge, "{{.Config.User}}")
        uid = stack.run("exec", "-T", "bridge", "id", "-u")
        if not uid.isdigit() or int(uid) == 0:
            raise SmokeFailure(f"the bridge runs as uid {uid!r} (image user {configured_user!r})")
        pid1 = stack.run("exec", "-T", "bridge", "cat", "/proc/1/cmdline").split("\0")[0]
        if os.path.basename(pid1) != "wsbridge":
            raise SmokeFailure(f"PID 1 in the bridge container is {pid1!r}, not wsbridge: "
                               "SIGTERM would not reach it")
        log(f"    uid {uid} (image user {configured_user}), PID 1 {pid1}")

    with Step("demo page over the published WebSocket port"):
        status, body = http_get(stack.ports["ws"], "/")
        if status != 200 or b"<title>wsbridge demo</title>" not in body:
            raise SmokeFailure(f"GET / answered {status}, expected 200 with the demo page: "
                               f"{body[:200]!r}")
        status, served_client = http_get(stack.ports["ws"], "/wsbridge.js")
        with open(os.path.join(REPO, "clients", "js", "wsbridge.js"), "rb") as f:
            expected_client = f.read()
        if status != 200 or served_client != expected_client:
            raise SmokeFailure(f"GET /wsbridge.js answered {status} with {len(served_client)} "
                               f"bytes, expected clients/js/wsbridge.js ({len(expected_client)})")

    token = hs256_token(stack.env["WSBRIDGE_JWT_SECRET"], USER_ID)
    with Step("WebSocket from the host (user + topic prices)"):
        client = WebSocketClient("127.0.0.1", stack.ports["ws"], f"/ws?token={token}&topics=prices")
    try:
        with Step("receive a ticker price on topic prices"):
            seen = receive_until(client, lambda seen: any(map(is_price, seen)), "price update")
            log(f"    {next(filter(is_price, seen))}")

        with Step("Push through the published gRPC port (host bridgectl), to user and session"):
            by_user = f"to-user-{secrets.token_hex(4)}"
            response = bridgectl(bridgectl_binary, stack.ports["grpc"], "push",
                                 f"--user={USER_ID}", f"--text={by_user}")
            if response.get("matched") != 1 or response.get("queued") != 1:
                raise SmokeFailure(f"push to user {USER_ID}: {response}, expected 1 matched and "
                                   "queued")
            sessions = bridgectl(bridgectl_binary, stack.ports["grpc"], "sessions", "list",
                                 f"--user={USER_ID}").get("sessions", [])
            if len(sessions) != 1:
                raise SmokeFailure(f"sessions of {USER_ID}: {sessions}, expected exactly ours")
            by_session = f"to-session-{secrets.token_hex(4)}"
            response = bridgectl(bridgectl_binary, stack.ports["grpc"], "push",
                                 f"--session={sessions[0]['sessionId']}", f"--text={by_session}")
            if response.get("queued") != 1:
                raise SmokeFailure(f"push to session: {response}, expected 1 queued")
            receive_until(client, lambda seen: by_user in seen and by_session in seen,
                          "pushed messages")

        with Step("compose stop: the WebSocket gets 1001, the bridge exits 0"):
            stopping = stack.popen("stop", "bridge", "ticker")
            deadline = time.monotonic() + STOP_DEADLINE_S
            code = None
            try:
                while code is None:
                    kind, data = client.recv(deadline)
                    if kind == "close":
                        code = data
            except TimeoutError:
                raise SmokeFailure(f"no close frame within {STOP_DEADLINE_S}s of compose stop") \
                    from None
            if code != 1001:
                raise SmokeFailure(f"compose stop closed the WebSocket with {code}, expected 1001")
            output, _ = stopping.communicate(timeout=STOP_DEADLINE_S)
            if stopping.returncode != 0:
                raise SmokeFailure(f"compose stop exited {stopping.returncode}: {output}")
            exit_code = docker_inspect(bridge, "{{.State.ExitCode}}")
            if exit_code != "0":
                raise SmokeFailure(f"the bridge exited {exit_code} on SIGTERM, expected 0 "
                                   "(137 = killed after the stop grace period)")
    finally:
        client.close()


def smoke_cluster(stack, bridgectl_binary):
    """The cluster profile: a Push called on node-a reaches a WebSocket on node-b."""
    with Step("cluster profile: up -d redis node-a node-b"):
        stack.run("up", "-d", "redis", "node-a", "node-b")

    with Step("wait for node-a and node-b to be healthy"):
        wait_until_healthy(stack, "node-a")
        wait_until_healthy(stack, "node-b")

    user = f"{USER_ID}-cluster"
    token = hs256_token(stack.env["WSBRIDGE_JWT_SECRET"], user)
    with Step("WebSocket to node-b"):
        client = WebSocketClient("127.0.0.1", stack.ports["node_b_ws"], f"/ws?token={token}")
    try:
        with Step("Push on node-a to the user and to the session on node-b"):
            by_user = f"cluster-user-{secrets.token_hex(4)}"
            deadline = time.monotonic() + RECEIVE_DEADLINE_S
            # The session reaches the directory a moment after its upgrade.
            sessions = []
            while not sessions and time.monotonic() < deadline:
                sessions = bridgectl(bridgectl_binary, stack.ports["node_a_grpc"], "sessions",
                                     "list", f"--user={user}").get("sessions", [])
                if not sessions:
                    time.sleep(0.2)
            if len(sessions) != 1:
                raise SmokeFailure(f"node-a lists {sessions} for {user}, expected node-b's session")
            response = bridgectl(bridgectl_binary, stack.ports["node_a_grpc"], "push",
                                 f"--user={user}", f"--text={by_user}")
            if response.get("matched") != 1:
                raise SmokeFailure(f"push on node-a to {user}: {response}, expected 1 matched")
            by_session = f"cluster-session-{secrets.token_hex(4)}"
            response = bridgectl(bridgectl_binary, stack.ports["node_a_grpc"], "push",
                                 f"--session={sessions[0]['sessionId']}", f"--text={by_session}")
            if response.get("matched") != 1 or response.get("unknownSessionIds"):
                raise SmokeFailure(f"push on node-a to node-b's session: {response}")
            receive_until(client, lambda seen: by_user in seen and by_session in seen,
                          "messages pushed on node-a")
    finally:
        client.close()


def interrupt(signal_number, frame):
    raise KeyboardInterrupt


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bridgectl", default=os.path.join(REPO, "build", "bridgectl"),
                        help="the host's bridgectl (default: build/bridgectl)")
    parser.add_argument("--project", default=f"wsbridge-smoke-{os.getpid()}",
                        help="compose project name (default: wsbridge-smoke-PID)")
    parser.add_argument("--skip-build", action="store_true",
                        help="use the image already built (compose build not run)")
    args = parser.parse_args()
    if not os.access(args.bridgectl, os.X_OK):
        log(f"FAILED: no bridgectl at {args.bridgectl} (build it, or pass --bridgectl)")
        return 1

    # SIGTERM (CI's timeout, a ctrl-C'd parent) unwinds like ctrl-C, so the stack comes down.
    signal.signal(signal.SIGTERM, interrupt)
    stack = Stack(args.project,
                  free_ports(["grpc", "ws", "admin", "node_a_grpc", "node_a_ws", "node_a_admin",
                              "node_b_grpc", "node_b_ws", "node_b_admin"]),
                  jwt_secret=secrets.token_hex(16))
    log(f"project {stack.project}, host ports {stack.ports}")
    started = time.monotonic()
    failure = None
    try:
        smoke(stack, os.path.abspath(args.bridgectl), args.skip_build)
        smoke_cluster(stack, os.path.abspath(args.bridgectl))
    except (SmokeFailure, subprocess.TimeoutExpired) as error:
        failure = str(error)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        if failure:
            log("logs of the stack:")
            stack.run("logs", "--no-color", "--tail=100", "bridge", check=False, capture=False)
            stack.run("logs", "--no-color", "--tail=5", "ticker", check=False, capture=False)
            stack.run("logs", "--no-color", "--tail=50", "node-a", "node-b", "redis", check=False,
                      capture=False)
        with Step("compose down -v"):
            stack.run("down", "-v", "--remove-orphans", check=False)
    log("timings: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds, _ in Step.timings))
    total = time.monotonic() - started
    if failure:
        log(f"FAILED after {total:.1f}s: {failure}")
        return 1
    log(f"PASSED in {total:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
