#!/usr/bin/env python3
"""wsbridge benchmark driver: wsbridge against nginx+nchan and a minimal Beast "floor" server.

Usage: bench/run.py [--build=build] [--wsbridge=PATH] [--rounds=3] [--quick] [--out=bench/out]
                    [--only=a,b,c,d,e] [--servers=wsbridge,nchan,floor,cluster,wsbridge1,grpcfloor-cb,
                    grpcfloor-cq] [--charts_from=FILE.json]
                    [--keep_temp] [--deflate] [--payload=x|json] [--message_size=N] [--tls]
                    [--client=loadgen|node]

Each round starts every server fresh (wsbridge, then nginx+nchan, then the floor server), each with
two worker threads/processes on loopback, runs the workloads against it and stops it:

  (d) memory     server RSS per idle session (15k sessions), first, on the fresh server
  (e) handshakes handshakes/s and server CPU per handshake while (d) connects
  (a) fan-out    one topic with 1k/5k/15k subscribers, 100-byte messages, published in order as
                 fast as the server answers; deliveries/s and server CPU per delivery. wsbridge:
                 one gRPC BroadcastStream with 256 requests un-answered (the stream keeps their
                 order); nchan and floor: HTTP POST, one at a time. The message count aims at ~4 s
                 of deliveries, estimated from the server's previous point (the first point sends
                 1M deliveries), at least 100. One extra wsbridge point, "1000 unary", publishes
                 to 1k subscribers with unary gRPC Broadcast, one call at a time (concurrent unary
                 calls need not keep order), so both paths are on record.
  (c) latency    fan-out to 1k subscribers at 50, 100, 150, 200 and 300 messages/s, the same rates
                 for every server (identical load; about 15-95% of nchan's and the floor's maximum
                 here), ~3 s each, paced on an absolute schedule; p50/p99/p99.9 publish-to-receive,
                 and the rate as a percentage of that server's own (a) maximum at 1k. wsbridge
                 publishes on one BroadcastStream (up to 1024 un-answered), nchan and floor by HTTP
                 POST one at a time.
  (b) unicast    10k sessions of distinct users, 20 messages each; publisher calls/s, CPU per call
                 (wsbridge: gRPC Push with 16 and 64 in flight, PushStream with 1024, PushBatch of
                 100 pushes with 16 requests in flight; calls are pushes; nchan and floor: HTTP
                 publish over 16 and 64 keep-alive connections)

gRPC floors: --servers=wsbridge,grpcfloor-cb,grpcfloor-cq --only=b puts wsbridge's publisher path
beside bench/grpc_floor_server.cc, which answers the same Push, PushStream and PushBatch calls
(the same publisher flags and points) with no bridge work: "grpcfloor-cb" on gRPC's callback API (the one
the bridge uses), "grpcfloor-cq" on two completion queues with a polling thread each. They have no
WebSocket side, so they run only (b), with the publisher alone (no sessions, no delivery check; the
publisher still checks every answer says queued=1); summary.md adds wsbridge/grpcfloor-cb and
wsbridge/grpcfloor-cq ratios. Not in the default --servers.

--quick: 1 round, 200/1000 subscribers, 2k users, 3k idle sessions (well under a minute).

wss: --tls (with --servers=wsbridge) starts the bridge with --ws_tls_cert/--ws_tls_key (a
self-signed ECDSA P-256 certificate made with openssl in the server's temp dir) and the load
generator clients speak TLS 1.3 to it (OpenSSL on the socket, certificate not verified, ~no buffers
while idle), so `--servers=wsbridge --only=d --tls` gives "(d) idle memory, wss": server RSS per
idle TLS session. The other workloads run over wss too.

Cluster mode: --servers=wsbridge,cluster runs the single node and, beside it in the same rounds,
"cluster": a redis-server and two wsbridge nodes (--redis_url, one I/O thread each, so the pair has
the single node's two threads), subscribers spread over both nodes, publishers on node A. Every
workload runs unchanged; summary.md adds cluster/wsbridge ratios (deliveries/s, CPU per delivery,
latency), the cost of going through Redis (docs/benchmarks.md "Cluster"). "wsbridge1" is the single
node with one I/O thread, what each cluster node has: (a) reports "deliveries/s per node" (the
cluster's deliveries/s over its two nodes) and its cluster/wsbridge1 ratio.

Per node, fairly: on this machine the nodes, Redis and the tools share two cores, so what one node
of "cluster" delivers is not what it would on a machine of its own. `--servers=wsbridge1,cluster-b
--pin --node_cores=0.3` measures it: "cluster-b" is the cluster with every subscriber on node B
and the publisher on node A (each Broadcast crosses Redis once, node B delivers all of it); --pin
gives the delivering process (node B, or wsbridge1) CPU 1 to itself and puts everything else (load
generators, publisher, node A, redis-server) on CPU 0 (taskset); --node_cores holds the delivering
process to that share of its core during (a) (a cgroup v1 CPU quota; needs root) so that it, and
not the load generator on the other core, is the limit. (a) then gives deliveries/s per node and
"delivering node's CPU us/delivery" (that process alone); (c) runs without the quota, the
delivering node on its own core. Only wsbridge1 and cluster-b can be pinned.

permessage-deflate: --deflate makes every load generator client offer it (Beast's client, as a
browser does; wsbridge accepts it by default, the floor server and nchan do not); --payload=json
pads messages with JSON rows that compress like real data instead of 'x' runs; --message_size
sets the message size (default 100, below wsbridge's --compression_min_bytes of 256). Every (a)
and (c) point records "wire_bytes_per_delivery": the bytes the subscribers' sockets received over
the run (TCP payload: frame headers and bodies, compressed or not) per delivered message. Compare
two runs, e.g. `--servers=wsbridge --only=d,a,c --payload=json --message_size=1024` with and
without --deflate: (d) gives idle RSS per session with deflate negotiated.

Subscribers of another stack: --client=node runs the subscribers of (a) and (c) in ONE Node.js
process per WebSocket port (bench/ws_client.mjs, npm ws 8; bench/install-deps.sh installs it), a
single-threaded event loop reading all 1,000-15,000 sockets, as an application on another stack
would, instead of the loadgen. It takes the loadgen's flags, checks every message the same way
and reports the same READY/RESULT lines (same latency histogram), so the points compare: what it
measures is the server as such a client sees it, where one event loop pays for every socket's
reads and every message's parse (its cores are "loadgen_cores"; near one core it, not the server,
is the limit, and its p99 includes its own queueing). With --deflate it inflates on libuv's thread
pool (ws: at most 10 at a time) and is the limit early; with --tls it decrypts on the event loop.
(b), (d) and (e) keep the loadgen. The client is recorded in meta and in every point ("client"),
summary.md and the charts name it. Example, the issue-13 comparison with both clients:
`--servers=wsbridge,nchan --only=a,c` once with --client=loadgen and once with --client=node.

Before and after: --wsbridge_flags="--coalesce_gap=0" adds flags to every wsbridge process (here:
no stream coalescing, every frame sent at once); the flags are recorded in the result's meta.plan.

Every message is checked by the load generator (every subscriber gets every seq, in order); a point
that fails the check is reported loudly and left out of the medians. Server CPU is the sum over
all threads of all the server's processes of /proc/<pid>/task/<tid>/schedstat (ns on CPU).

Results: <out>/results-<timestamp>.json and <out>/latest.json (raw points and per-point medians
over rounds with the ratios of RATIOS: wsbridge/nchan, wsbridge/floor, ...), <out>/summary.md, and gnuplot charts
<out>/fanout_deliveries.png, fanout_cpu.png, latency.png, paced_cpu.png. `--charts_from=FILE.json` redraws the
charts (and summary.md) from a saved result file.

Python standard library only. Every process it starts is stopped by PID on exit, Ctrl-C included.
"""

import argparse
import atexit
import base64
import datetime
import hashlib
import hmac
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVERS = ["wsbridge", "nchan", "floor", "cluster", "cluster-b", "wsbridge1", "grpcfloor-cb",
           "grpcfloor-cq"]
# What runs without --servers; "cluster" (two wsbridge nodes and a redis-server), "wsbridge1" and
# the gRPC floors are asked for.
DEFAULT_SERVERS = ["wsbridge", "nchan", "floor"]
# The ratios summary.md gives, (numerator, denominator) server names, for every metric where both
# have a median: wsbridge against each floor and nchan, the cluster against its single nodes.
RATIOS = [("wsbridge", "nchan"), ("wsbridge", "floor"), ("wsbridge", "grpcfloor-cb"),
          ("wsbridge", "grpcfloor-cq"), ("cluster", "wsbridge"), ("cluster", "wsbridge1"),
          ("cluster-b", "wsbridge1")]
# What --pin may measure: one delivering node on a core of its own.
PINNABLE_SERVERS = ["wsbridge1", "cluster-b"]
WORKLOADS = ["a", "b", "c", "d", "e"]
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
JWT_SECRET = "bench-secret-not-for-production"
BUILD_HINT = ("cmake --build {build} --target wsbridge wsbridge_bench_loadgen "
              "wsbridge_bench_publisher wsbridge_bench_floor wsbridge_bench_grpc_floor")
NCHAN_HINT = "apt-get install nginx-light libnginx-mod-nchan"


class BenchError(Exception):
    """A setup problem that ends the run (a server did not start, a tool is missing)."""


# --- Sizes -------------------------------------------------------------------------------------

class Plan:
    """What one run measures. Plain attributes; --quick shrinks them for a smoke test."""

    def __init__(self, quick, deflate=False, payload="x", message_size=None, tls=False,
                 pin=False, node_cores=None, client="loadgen", wsbridge_flags=()):
        self.quick = quick
        # --client: the subscribers of (a) and (c), "loadgen" (bench/loadgen.cc) or "node" (one
        # bench/ws_client.mjs event loop per port); (b), (d) and (e) always use the loadgen.
        self.client = client
        # --node_cores: (a) holds the delivering node to this share of its core (CpuQuota).
        self.node_cores = node_cores
        # --wsbridge_flags: added to every wsbridge process (e.g. --coalesce_gap=0 for "before").
        self.wsbridge_flags = list(wsbridge_flags)
        # --pin: the delivering node alone on CPU 1, everything else (load generators, publisher,
        # a cluster's other node and redis-server) on CPU 0. None: anywhere.
        self.node_cpus = "1" if pin else None
        self.tool_cpus = "0" if pin else None
        self.deflate = deflate          # load generator clients offer permessage-deflate
        self.tls = tls                  # wss: the bridge has a certificate, the clients speak TLS
        self.payload = payload          # publisher padding: "x" or "json"
        if quick:
            self.fanout_subscribers = [200, 1000]
            self.fanout_first_deliveries = 200_000
            self.fanout_target_seconds = 1.0
            self.fanout_min_messages = 50
            self.unicast_users = 2000
            self.unicast_messages_per_user = 10
            self.latency_subscribers = 1000
            self.latency_seconds = 1.0
            self.idle_sessions = 3000
            self.loadgen_timeout = 5
        else:
            self.fanout_subscribers = [1000, 5000, 15000]
            self.fanout_first_deliveries = 1_000_000
            self.fanout_target_seconds = 4.0
            self.fanout_min_messages = 100
            self.unicast_users = 10_000
            self.unicast_messages_per_user = 20
            self.latency_subscribers = 1000
            self.latency_seconds = 3.0
            self.idle_sessions = 15_000
            self.loadgen_timeout = 10
        # Messages/s to latency_subscribers, the same for every server (identical load): they span
        # about 15-95% of the maximum that nchan and the floor reach at 1k subscribers here.
        self.latency_rates = [50, 100, 150, 200, 300]
        self.unicast_in_flight = [16, 64]
        self.pushstream_in_flight = 1024
        # PushBatch: pushes per request, and requests in flight (the publisher also keeps the
        # requests in flight to disjoint users, at most users / batch of them, for order).
        self.pushbatch_size = 100
        self.pushbatch_in_flight = 16
        # wsbridge fan-out publishes on one BroadcastStream. Flat out, the window stays modest so
        # that no session's send queue can overflow; paced (c), the schedule is the limit.
        self.broadcaststream_in_flight = 256
        self.broadcaststream_latency_in_flight = 1024
        self.fanout_unary_subscribers = 1000    # the one extra (a) point with unary Broadcast
        self.message_size = message_size or 100
        self.connections_per_loadgen = 10_000   # above this, two load generator processes
        self.connect_concurrency = 200           # over all load generator processes
        self.send_queue_messages = 100_000       # wsbridge: nothing may be dropped as slow
        self.send_queue_bytes = "64MiB"

    def fanout_messages(self, subscribers, previous_deliveries_per_sec=None):
        """Messages for a fan-out point: about fanout_target_seconds of deliveries, estimated from
        the server's previous (smaller) point in this run, or fanout_first_deliveries for the
        first one. Never so many that a wsbridge send queue could overflow."""
        if previous_deliveries_per_sec:
            # Larger fan-outs are rarely faster per delivery: aim a little short.
            deliveries = 0.8 * previous_deliveries_per_sec * self.fanout_target_seconds
        else:
            deliveries = self.fanout_first_deliveries
        messages = max(self.fanout_min_messages, int(deliveries // subscribers))
        return min(messages, self.send_queue_messages)


# --- Processes ---------------------------------------------------------------------------------

class Child:
    """A started process: stdout lines are collected by a reader thread, stderr goes to a log file.

    Thread-safety: lines are appended by the reader thread under `cond`; wait_line and lines may be
    called from the main thread.
    """

    def __init__(self, name, argv, log_dir, stdin_pipe=False, cpus=None):
        self.name = name
        # `cpus` ("0", "1"): run on those CPUs only (taskset execs the program: same pid).
        self.argv = (["taskset", "-c", cpus] if cpus else []) + [str(a) for a in argv]
        self.log_path = Path(log_dir) / f"{name}.stderr"
        self._log = open(self.log_path, "wb")
        self.lines = []
        self.cond = threading.Condition()
        self.rusage = None  # resource usage once reaped (CPU time of the tool itself)
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=self._log,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid
        LIVE_CHILDREN[self.pid] = self
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, prefix, timeout):
        """The first stdout line starting with `prefix`; None on timeout or when the process ends."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                if not self._reader.is_alive():
                    return None  # stdout closed: the process has ended
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))

    def json_line(self, prefix, timeout):
        line = self.wait_line(prefix + " ", timeout)
        if line is None:
            return None
        try:
            return json.loads(line[len(prefix) + 1:])
        except ValueError:
            return None

    def close_stdin(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def wait(self, timeout):
        """Exit code, or None if still running after `timeout` s. Reaps with wait4 to keep the
        child's CPU usage (Popen would discard it)."""
        deadline = time.monotonic() + timeout
        while self.proc.returncode is None:
            try:
                pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.proc.returncode = -1
                break
            if pid == self.pid:
                self.rusage = usage
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
        return self.proc.returncode

    def running(self):
        return self.wait(0) is None

    def cpu_seconds(self):
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else None

    def stop(self, sig=signal.SIGTERM, grace=10.0):
        """Signals the process (by PID), waits up to `grace` s, then SIGKILLs it."""
        if self.running():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(grace) is None:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait(60)
        self._reader.join(timeout=2)
        self.close_stdin()
        self._log.close()
        LIVE_CHILDREN.pop(self.pid, None)
        return self.proc.returncode

    def stderr_tail(self, lines=8):
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    " + line for line in text[-lines:])


class CpuQuota:
    """A cgroup of the v1 cpu controller holding one process (all its threads) to a share of a
    core per 10 ms period: with --node_cores the delivering node, not the load generator that
    shares the machine, is the limit of (a), the same limit for every pinnable server. Needs
    root and a writable /sys/fs/cgroup/cpu. Main thread only."""

    ROOT = Path("/sys/fs/cgroup/cpu")
    PERIOD_US = 10_000

    def __init__(self, name, pid):
        self.path = self.ROOT / f"wsbridge-bench-{name}-{pid}"
        try:
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.path / "cgroup.procs").write_text(str(pid))
        except OSError as error:
            self.remove()
            raise BenchError(f"--node_cores: cannot make a cpu cgroup at {self.path} "
                             f"({error}); it needs root and the cgroup v1 cpu controller")
        LIVE_CGROUPS.add(self)

    def limit(self, cores):
        """Holds the process to `cores` (e.g. 0.5) from now on; None lifts the limit."""
        quota = -1 if cores is None else max(1000, int(cores * self.PERIOD_US))
        (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def remove(self):
        """Moves what is left back to the root group and removes the cgroup."""
        try:
            for pid in (self.path / "cgroup.procs").read_text().split():
                (self.ROOT / "cgroup.procs").write_text(pid)
        except OSError:
            pass
        try:
            self.path.rmdir()
        except OSError:
            pass
        LIVE_CGROUPS.discard(self)


LIVE_CGROUPS = set()   # CpuQuota groups that cleanup must remove
LIVE_CHILDREN = {}     # pid -> Child, for cleanup
EXTRA_PIDS = set()     # pids started indirectly (nginx workers) that cleanup must also kill


def stop_everything():
    for child in list(LIVE_CHILDREN.values()):
        try:
            child.stop(signal.SIGKILL, grace=2)
        except Exception:  # cleanup must go on
            pass
    for group in list(LIVE_CGROUPS):
        group.remove()
    for pid in list(EXTRA_PIDS):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        EXTRA_PIDS.discard(pid)


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# --- /proc readings ----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ns(pids):
    """CPU time of every thread of `pids` in ns (schedstat), and utime+stime in ns (/proc/pid/stat,
    which also counts threads that have exited, but at clock-tick resolution)."""
    schedstat_total = 0
    stat_total = 0
    for pid in pids:
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                        schedstat_total += int(f.read().split()[0])
                except (OSError, ValueError, IndexError):
                    pass
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            stat_total += (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLOCK_TICKS
        except OSError:
            pass
    return schedstat_total, stat_total


def cpu_delta_ns(before, after):
    """Server CPU between two cpu_ns readings. schedstat unless threads that exited in between make
    the tick counters clearly larger."""
    sched = after[0] - before[0]
    ticks = after[1] - before[1]
    tolerance = 3 * 1_000_000_000 // CLOCK_TICKS + sched // 20
    return ticks if ticks > sched + tolerance else sched


def tcp_segments_sent():
    """TCP segments this machine has sent (/proc/net/snmp Tcp OutSegs): on loopback, what the
    servers sent plus the clients' ACKs. None where it cannot be read."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Tcp:")]
        return int(rows[1][rows[0].index("OutSegs")])
    except (OSError, ValueError, IndexError):
        return None


def rss_kib(pids):
    """(VmRSS summed, Pss summed) in KiB."""
    rss = 0
    pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Servers -----------------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(secret, user_id):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = b64url(json.dumps({"sub": user_id}, separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}".encode()
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(signature)}"


class Server:
    """One server under test. Subclasses start it and know its URL shapes and publisher flags."""

    name = ""
    node_count = 1  # bridge processes sharing the subscribers
    # False for the gRPC floors: no WebSocket side, so only (b) runs, with the publisher alone.
    has_websocket = True

    def __init__(self, tools, work_dir):
        self.tools = tools
        self.work_dir = Path(work_dir)
        self.child = None
        self.ws_port = 0

    def pids(self):
        return [self.child.pid] if self.child else []

    def delivering_pid(self):
        """The process that writes to the subscribers (--pin, --node_cores)."""
        return self.child.pid

    def ws_ports(self):
        """WebSocket ports the subscribers spread over (one per node)."""
        return [self.ws_port]

    def cpu(self):
        return cpu_ns(self.pids())

    def rss(self):
        return rss_kib(self.pids())

    def topic_path(self, topic):
        return f"/sub/{topic}"

    def user_paths(self, user_template, users):
        """(path_template, paths_file) for the loadgen: one session per user."""
        return f"/sub/{user_template}", None

    def fanout_publisher(self, plan, topic, paced=False, unary=False):
        """Publisher flags for one topic, in order: one HTTP POST at a time."""
        return ["--mode=http", f"--http=127.0.0.1:{self.ws_port}", f"--topic={topic}",
                "--in_flight=1"]

    def unicast_publishers(self, plan):
        """[(point name, flags without --users/--messages)]."""
        return [(f"k{k}", ["--mode=http", f"--http=127.0.0.1:{self.ws_port}", f"--in_flight={k}"])
                for k in plan.unicast_in_flight]

    def stop(self):
        if self.child:
            self.child.stop(signal.SIGTERM, grace=10)
            self.child = None


def grpc_unicast_publishers(plan, grpc_port):
    """(b) over gRPC, for wsbridge and the gRPC floors alike: unary Push with k16/k64 in flight,
    PushStream with 1024 un-answered and PushBatch of 100 pushes with 16 requests in flight, each
    push to one user whose one session must take it."""
    target = f"--target=127.0.0.1:{grpc_port}"
    points = [(f"k{k}", ["--mode=grpc-push", target, f"--in_flight={k}", "--expect_queued=1"])
              for k in plan.unicast_in_flight]
    k = plan.pushstream_in_flight
    points.append((f"stream{k}", ["--mode=grpc-pushstream", target, f"--in_flight={k}",
                                  "--expect_queued=1"]))
    b = plan.pushbatch_size
    points.append((f"batch{b}", ["--mode=grpc-pushbatch", target, f"--batch={b}",
                                 f"--in_flight={plan.pushbatch_in_flight}", "--expect_queued=1"]))
    return points


def self_signed_certificate(work_dir):
    """(certificate, key) files in `work_dir`: a throw-away ECDSA P-256 certificate for
    127.0.0.1, made with the openssl command."""
    cert, key = Path(work_dir) / "ws.crt", Path(work_dir) / "ws.key"
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BenchError(f"openssl could not make a certificate: {error}")
    if result.returncode != 0:
        raise BenchError(f"openssl could not make a certificate:\n{result.stderr.strip()}")
    return cert, key


class WsbridgeServer(Server):
    name = "wsbridge"
    io_threads = 2

    def start(self, plan, topics):
        argv = [self.tools["wsbridge"], "--bind=127.0.0.1", "--grpc_port=0", "--ws_port=0",
                "--admin_port=0", f"--io_threads={self.io_threads}", "--allow_anonymous",
                "--public_topics=" + ",".join(topics), f"--jwt_secret={JWT_SECRET}",
                f"--send_queue_messages={plan.send_queue_messages}",
                f"--send_queue_bytes={plan.send_queue_bytes}", "--ping_interval=0",
                "--idle_timeout=0", "--drain_seconds=2", "--log_level=warn"] + plan.wsbridge_flags
        if plan.tls:
            cert, key = self_signed_certificate(self.work_dir)
            argv += [f"--ws_tls_cert={cert}", f"--ws_tls_key={key}"]
        self.child = Child("wsbridge", argv, self.work_dir, cpus=plan.node_cpus)
        line = self.child.wait_line("wsbridge listening", 20)
        if line is None:
            raise BenchError("wsbridge did not start:\n" + self.child.stderr_tail())
        ports = dict(re.findall(r"(\w+)=(\S+)", line))
        self.ws_port = int(ports["ws_port"])
        self.grpc_port = int(ports["grpc_port"])

    def topic_path(self, topic):
        return f"/ws?topics={topic}"

    def user_paths(self, user_template, users):
        path_file = self.work_dir / f"paths-{user_template.replace('{i}', 'i')}.txt"
        with open(path_file, "w") as f:
            for i in range(users):
                f.write(f"/ws?token={mint_jwt(JWT_SECRET, user_template.replace('{i}', str(i)))}\n")
        return None, str(path_file)

    def fanout_publisher(self, plan, topic, paced=False, unary=False):
        """One BroadcastStream (ordered with many requests in flight), or with `unary` one unary
        Broadcast at a time (concurrent unary calls may overtake each other)."""
        target = f"--target=127.0.0.1:{self.grpc_port}"
        if unary:
            return ["--mode=grpc-broadcast", target, f"--topic={topic}", "--in_flight=1"]
        k = plan.broadcaststream_latency_in_flight if paced else plan.broadcaststream_in_flight
        return ["--mode=grpc-broadcaststream", target, f"--topic={topic}", f"--in_flight={k}"]

    def unicast_publishers(self, plan):
        return grpc_unicast_publishers(plan, self.grpc_port)

    def stop(self):
        if self.child:
            # SIGTERM drains (a few seconds at most); SIGKILL after 10 s.
            self.child.stop(signal.SIGTERM, grace=10)
            self.child = None


class WsbridgeOneThreadServer(WsbridgeServer):
    """The single node with one I/O thread: what each cluster node has, so the baseline for what
    one node of the cluster delivers."""

    name = "wsbridge1"
    io_threads = 1


class WsbridgeClusterServer(WsbridgeServer):
    """Cluster mode: a redis-server and two wsbridge nodes with --redis_url, one I/O thread each
    (so the two nodes together have the single node's two threads on this machine). Subscribers
    are spread over both nodes' WebSocket ports; publishers call node A's gRPC port, so a Broadcast
    crosses Redis to reach node B (and comes back through it to node A: in cluster mode every
    node, the publishing one too, delivers what Redis hands it). Server CPU and RSS are the sum of
    the three processes."""

    name = "cluster"
    node_count = 2

    def __init__(self, tools, work_dir):
        super().__init__(tools, work_dir)
        self.redis = None
        self.nodes = []
        self.node_ws_ports = []

    def start(self, plan, topics):
        redis_port = free_port()
        self.redis = Child("redis", ["redis-server", "--bind", "127.0.0.1", "--port",
                                     str(redis_port), "--save", "", "--appendonly", "no",
                                     "--dir", str(self.work_dir)], self.work_dir,
                           cpus=plan.tool_cpus)
        deadline = time.monotonic() + 20
        while not port_open(redis_port):
            if time.monotonic() > deadline or not self.redis.running():
                raise BenchError("redis-server did not start:\n" + self.redis.stderr_tail())
            time.sleep(0.05)
        for node in ("a", "b"):
            argv = [self.tools["wsbridge"], "--bind=127.0.0.1", "--grpc_port=0", "--ws_port=0",
                    "--admin_port=0", "--io_threads=1", "--allow_anonymous",
                    "--public_topics=" + ",".join(topics), f"--jwt_secret={JWT_SECRET}",
                    f"--send_queue_messages={plan.send_queue_messages}",
                    f"--send_queue_bytes={plan.send_queue_bytes}", "--ping_interval=0",
                    "--idle_timeout=0", "--drain_seconds=2", "--log_level=warn",
                    *plan.wsbridge_flags,
                    f"--redis_url=redis://127.0.0.1:{redis_port}", f"--node_id=bench-{node}"]
            # Pinned, node B (where cluster-b's subscribers are) has CPU 1 to itself.
            cpus = plan.node_cpus if node == "b" else plan.tool_cpus
            child = Child(f"wsbridge-{node}", argv, self.work_dir, cpus=cpus)
            self.nodes.append(child)
            line = child.wait_line("wsbridge listening", 20)
            if line is None:
                raise BenchError(f"wsbridge node {node} did not start:\n" + child.stderr_tail())
            ports = dict(re.findall(r"(\w+)=(\S+)", line))
            self.node_ws_ports.append(int(ports["ws_port"]))
            if node == "a":
                self.grpc_port = int(ports["grpc_port"])
        self.child = self.nodes[0]
        self.ws_port = self.node_ws_ports[0]

    def pids(self):
        return [c.pid for c in self.nodes + ([self.redis] if self.redis else [])]

    def ws_ports(self):
        return list(self.node_ws_ports)

    def stop(self):
        for child in self.nodes:
            child.stop(signal.SIGTERM, grace=10)
        self.nodes = []
        self.child = None
        if self.redis:
            self.redis.stop(signal.SIGTERM, grace=5)
            self.redis = None


class WsbridgeClusterRemoteServer(WsbridgeClusterServer):
    """The cluster with every subscriber on node B and the publisher on node A: each Broadcast
    crosses Redis once and node B delivers it all, so (a) measures what one node of a cluster
    delivers. With --pin node B has CPU 1 to itself, as wsbridge1 has with --pin: the fair
    per-node comparison on a machine the tools share (node A, redis-server and the tools on
    CPU 0). Server CPU still counts all three processes."""

    name = "cluster-b"
    node_count = 1  # one node delivers

    def ws_ports(self):
        return [self.node_ws_ports[1]]

    def delivering_pid(self):
        return self.nodes[1].pid


NGINX_CONF = """\
# Generated by bench/run.py: nginx + nchan for the benchmark, two workers, loopback only.
load_module {module};
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile {nofile};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections {connections};
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_buffer_size 64k;
    nchan_shared_memory_size 1024m;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location ~ /pub/(.+)$ {{
            nchan_publisher;
            nchan_channel_id $1;
            nchan_message_buffer_length 100000;
            nchan_message_timeout 5m;
        }}
        location ~ /sub/(.+)$ {{
            nchan_subscriber websocket;
            nchan_channel_id $1;
            nchan_subscriber_first_message newest;
        }}
    }}
}}
"""


class NchanServer(Server):
    name = "nchan"

    def start(self, plan, topics):
        prefix = self.work_dir / "nginx"
        prefix.mkdir(exist_ok=True)
        self.ws_port = free_port()
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        nofile = 40000 if hard == resource.RLIM_INFINITY else min(40000, hard)
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(module=NCHAN_MODULE, prefix=prefix, port=self.ws_port,
                                          nofile=nofile, connections=nofile - 100))
        argv = [self.tools["nginx"], "-c", conf, "-p", prefix, "-e", prefix / "error.log"]
        self.child = Child("nginx", argv, self.work_dir)
        self.workers = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not self.child.running():
                break
            self.workers = children_of(self.child.pid)
            if len(self.workers) >= 2 and port_open(self.ws_port):
                break
            time.sleep(0.05)
        EXTRA_PIDS.update(self.workers)
        if len(self.workers) < 2 or not port_open(self.ws_port):
            log = (prefix / "error.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise BenchError(f"nginx+nchan did not start:\n{self.child.stderr_tail()}\n{tail}")

    def pids(self):
        if not self.child:
            return []
        # Workers are re-read so a worker nginx replaced (it should not) is still counted.
        current = children_of(self.child.pid)
        EXTRA_PIDS.update(current)
        return [self.child.pid] + current

    def stop(self):
        if self.child:
            workers = children_of(self.child.pid)
            self.child.stop(signal.SIGTERM, grace=10)
            for pid in workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.child = None
        for pid in list(EXTRA_PIDS):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            EXTRA_PIDS.discard(pid)


class FloorServer(Server):
    name = "floor"

    def start(self, plan, topics):
        argv = [self.tools["floor"], "--port=0", "--bind=127.0.0.1", "--threads=2"]
        self.child = Child("floor", argv, self.work_dir)
        line = self.child.wait_line("floor listening", 20)
        if line is None:
            raise BenchError("floor server did not start:\n" + self.child.stderr_tail())
        self.ws_port = int(re.search(r"port=(\d+)", line).group(1))


class GrpcFloorServer(Server):
    """wsbridge_bench_grpc_floor: Push, PushStream and PushBatch answered with no bridge work (each
    push "taken" by its one user), on gRPC's callback API ("grpcfloor-cb") or on two completion queues
    with a polling thread each ("grpcfloor-cq"). No WebSocket side: (b) only, publisher alone."""

    has_websocket = False
    api = ""

    def start(self, plan, topics):
        argv = [self.tools["grpcfloor"], "--port=0", "--bind=127.0.0.1", f"--api={self.api}",
                "--threads=2"]
        self.child = Child(self.name, argv, self.work_dir)
        line = self.child.wait_line("grpc_floor listening", 20)
        if line is None:
            raise BenchError(f"{self.name} did not start:\n" + self.child.stderr_tail())
        self.grpc_port = int(re.search(r"grpc_port=(\d+)", line).group(1))

    def unicast_publishers(self, plan):
        return grpc_unicast_publishers(plan, self.grpc_port)


class GrpcFloorCallbackServer(GrpcFloorServer):
    name = "grpcfloor-cb"
    api = "callback"


class GrpcFloorCqServer(GrpcFloorServer):
    name = "grpcfloor-cq"
    api = "cq"


SERVER_CLASSES = {cls.name: cls for cls in (
    WsbridgeServer, NchanServer, FloorServer, WsbridgeClusterServer, WsbridgeClusterRemoteServer,
    WsbridgeOneThreadServer, GrpcFloorCallbackServer, GrpcFloorCqServer)}


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --- Load generator and publisher --------------------------------------------------------------

class LoadgenGroup:
    """`connections` WebSocket clients (global indices 0..n-1) over load generator processes that
    all take the loadgen's flags and print its READY/RESULT lines. `client` "loadgen": one or two
    wsbridge_bench_loadgen processes; "node": exactly one bench/ws_client.mjs process, one
    single-threaded event loop reading every socket. With several `ports` (the nodes of a cluster)
    there is one process per port, each connecting its share of the clients to its node."""

    def __init__(self, tools, plan, work_dir, name, ports, connections, expect,
                 path_template=None, paths_file=None, client="loadgen"):
        self.children = []
        self.cpu_seconds = None  # CPU of all processes since mark_cpu(), known after finish()
        self._cpu_mark = 0.0
        if client == "node":
            processes = len(ports)
            program = [tools["node"], tools["node_client"]]
        else:
            processes = 1 if connections <= plan.connections_per_loadgen else 2
            processes = max(processes, len(ports))
            program = [tools["loadgen"]]
        concurrency = max(1, plan.connect_concurrency // processes)
        offset = 0
        for p in range(processes):
            count = connections // processes + (1 if p < connections % processes else 0)
            argv = program + ["--host=127.0.0.1", f"--port={ports[p % len(ports)]}",
                    f"--connections={count}", f"--index_offset={offset}", "--threads=1",
                    f"--connect_concurrency={concurrency}", f"--expect={expect}",
                    f"--timeout={plan.loadgen_timeout}"]
            if plan.deflate:
                argv.append("--deflate=true")
            if plan.tls:
                argv.append("--tls=true")
            argv.append(f"--path_template={path_template}" if path_template
                        else f"--paths_file={paths_file}")
            self.children.append(Child(f"{name}-{client}{p}", argv, work_dir, stdin_pipe=True,
                                       cpus=plan.tool_cpus))
            offset += count

    def wait_ready(self, timeout):
        """READY objects of every process, or raises BenchError."""
        readies = []
        deadline = time.monotonic() + timeout
        for child in self.children:
            ready = child.json_line("READY", max(1, deadline - time.monotonic()))
            if ready is None:
                raise BenchError(f"{child.name}: no READY line\n{child.stderr_tail()}")
            readies.append(ready)
        return readies

    def mark_cpu(self):
        """Starts the CPU count that finish() reports (leaves out the connect phase)."""
        self._cpu_mark = cpu_ns([c.pid for c in self.children])[0] / 1e9

    def finish(self, timeout, close_stdin=False):
        """RESULT objects (None for a process that printed none) and exit codes."""
        if close_stdin:
            for child in self.children:
                child.close_stdin()
        results = []
        codes = []
        deadline = time.monotonic() + timeout
        for child in self.children:
            results.append(child.json_line("RESULT", max(1, deadline - time.monotonic())))
            code = child.wait(max(1, deadline - time.monotonic()))
            if code is None:
                code = child.stop(signal.SIGTERM, grace=5)
            else:
                child.stop()
            codes.append(code)
        cpu = [child.cpu_seconds() for child in self.children]
        self.cpu_seconds = sum(c for c in cpu if c is not None) - self._cpu_mark
        return results, codes

    def stop(self):
        for child in self.children:
            child.stop(signal.SIGTERM, grace=5)


def publisher_problems(pub, code, child):
    """What went wrong with a publisher run, as problem strings (none when it all went out)."""
    if pub is None:
        return ["publisher printed no RESULT:\n" + child.stderr_tail()]
    if code != 0 or pub.get("failed", 1) != 0:
        return [f"publisher: {pub.get('failed')} calls failed ({pub.get('first_error')})"]
    return []


def run_publisher(tools, work_dir, name, flags, timeout, cpus=None):
    """Runs the publisher to the end: (RESULT object or None, exit code, Child)."""
    child = Child(f"{name}-publisher", [tools["publisher"]] + flags, work_dir, cpus=cpus)
    result = child.json_line("RESULT", timeout)
    code = child.wait(10 if result is not None else 1)
    if code is None:
        code = child.stop(signal.SIGTERM, grace=5)
    else:
        child.stop()
    return result, code, child


def flag_value(flags, name):
    """The value of the last --name=value in `flags` (None when absent)."""
    value = None
    for flag in flags:
        if flag.startswith(f"--{name}="):
            value = flag.split("=", 1)[1]
    return value


def merge_latency(results):
    """Latency of several loadgen results: the worst of each percentile (exact for one process)."""
    keys = ["p50", "p90", "p99", "p999", "max", "mean"]
    merged = {}
    for key in keys:
        values = [r.get("latency_us", {}).get(key) for r in results if r]
        values = [v for v in values if v is not None]
        merged[key] = max(values) if values else None
    return merged


# --- Workloads ---------------------------------------------------------------------------------

def fmt_si(value, unit=""):
    if value is None:
        return "n/a"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f}{suffix}{unit}"
    return f"{value:.1f}{unit}"


def fmt_num(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


class Bench:
    """Runs rounds of workloads against the servers and keeps the raw measurements."""

    def __init__(self, args, plan, tools, servers, workloads):
        self.args = args
        self.plan = plan
        self.tools = tools
        self.servers = servers
        self.workloads = workloads
        self.points = []

    def log(self, round_index, server, text):
        print(f"[round {round_index}/{self.args.rounds}] {server} {text}", flush=True)

    def record(self, round_index, server, workload, point, metrics, problems, details):
        entry = {"round": round_index, "server": server, "workload": workload, "point": point,
                 "valid": not problems, "problems": problems, "metrics": metrics,
                 "details": details}
        self.points.append(entry)
        if problems:
            self.log(round_index, server,
                     f"({workload}) {point}: INVALID: " + "; ".join(problems))
        return entry

    def run(self):
        for round_index in range(1, self.args.rounds + 1):
            for server_name in self.servers:
                self.run_server(round_index, server_name)

    def topics(self, round_index):
        names = [f"fan{n}_r{round_index}" for n in self.plan.fanout_subscribers]
        names.append(f"fan{self.plan.fanout_unary_subscribers}unary_r{round_index}")
        names += [f"lat{rate}_r{round_index}" for rate in self.plan.latency_rates]
        names.append(f"idle_r{round_index}")
        return names

    def run_server(self, round_index, server_name):
        work_dir = Path(tempfile.mkdtemp(prefix=f"bench-{server_name}-r{round_index}-",
                                         dir=self.args.tmp_root))
        server = SERVER_CLASSES[server_name](self.tools, work_dir)
        workloads = self.workloads if server.has_websocket else [
            w for w in self.workloads if w == "b"]
        if not workloads:
            self.log(round_index, server_name, "skipped: it serves (b) only")
            return
        quota = None
        try:
            server.start(self.plan, self.topics(round_index))
            self.log(round_index, server_name, f"started (pids {server.pids()})")
            if self.plan.node_cores:
                quota = CpuQuota(server_name, server.delivering_pid())
            # Idle memory first, on the fresh server: later workloads leave freed memory in the
            # allocator that new sessions would reuse.
            if "d" in workloads or "e" in workloads:
                self.idle_point(round_index, server, work_dir)
            max_msgs_at_latency_subs = None
            if "a" in workloads or "c" in workloads:
                subs_list = list(self.plan.fanout_subscribers) if "a" in workloads else []
                if "c" in workloads and self.plan.latency_subscribers not in subs_list:
                    subs_list.insert(0, self.plan.latency_subscribers)
                previous = None
                if quota:
                    quota.limit(self.plan.node_cores)  # (a) only: it would skew latency
                for subs in subs_list:
                    entry = self.fanout_point(round_index, server, work_dir, subs, previous)
                    if entry["valid"]:
                        previous = entry["metrics"]["deliveries_per_sec"]
                    if subs == self.plan.latency_subscribers and entry["valid"]:
                        max_msgs_at_latency_subs = entry["metrics"]["messages_per_sec"]
                    # The unary path too, for the record; it feeds neither `previous` nor (c).
                    if (server_name in ("wsbridge", "cluster", "cluster-b", "wsbridge1")
                            and "a" in workloads and subs == self.plan.fanout_unary_subscribers):
                        self.fanout_point(round_index, server, work_dir, subs, None, unary=True)
            if quota:
                quota.limit(None)
            if "c" in workloads:
                for rate in self.plan.latency_rates:
                    self.latency_point(round_index, server, work_dir, rate,
                                       max_msgs_at_latency_subs)
            if "b" in workloads:
                self.unicast_points(round_index, server, work_dir)
        except BenchError as error:
            self.record(round_index, server_name, "setup", "server", {}, [str(error)], {})
        finally:
            server.stop()
            if quota:
                quota.remove()
            if not self.args.keep_temp:
                shutil.rmtree(work_dir, ignore_errors=True)

    # (a) and (c): one topic, `subs` subscribers, `messages` messages (at `rate`, or flat out).
    def fanout_run(self, round_index, server, work_dir, tag, topic, subs, messages, rate=0.0,
                   unary=False):
        problems = []
        group = LoadgenGroup(self.tools, self.plan, work_dir, tag, server.ws_ports(), subs, messages,
                             path_template=server.topic_path(topic), client=self.plan.client)
        try:
            readies = group.wait_ready(timeout=60 + subs / 100)
            connected = sum(r.get("connected", 0) for r in readies)
            if connected != subs:
                problems.append(f"only {connected}/{subs} subscribers connected")
            time.sleep(0.3)  # let subscriptions settle (nchan registers them across workers)
            group.mark_cpu()
            cpu_before = server.cpu()
            segments_before = tcp_segments_sent()
            node_cpu_before = cpu_ns([server.delivering_pid()])
            flags = server.fanout_publisher(self.plan, topic, paced=rate > 0, unary=unary) + [
                f"--messages={messages}", f"--size={self.plan.message_size}", f"--rate={rate}",
                f"--payload={self.plan.payload}", "--timeout=30"]
            expected_seconds = messages / rate if rate else 60
            pub, pub_code, pub_child = run_publisher(self.tools, work_dir, tag, flags,
                                                     timeout=expected_seconds * 2 + 120,
                                                     cpus=self.plan.tool_cpus)
            results, codes = group.finish(timeout=expected_seconds + 60 +
                                          2 * self.plan.loadgen_timeout)
            cpu_after = server.cpu()
            segments_after = tcp_segments_sent()
            node_cpu = cpu_delta_ns(node_cpu_before, cpu_ns([server.delivering_pid()]))
        finally:
            group.stop()
        problems += publisher_problems(pub, pub_code, pub_child)
        if any(r is None for r in results):
            problems.append(f"a {self.plan.client} client process printed no RESULT")
        results = [r for r in results if r]
        complete = sum(r.get("complete_connections", 0) for r in results)
        received = sum(r.get("received", 0) for r in results)
        wire_bytes = sum(r.get("wire_bytes", 0) for r in results)
        if complete != subs:
            gaps = sum(r.get("gaps", 0) for r in results)
            dups = sum(r.get("duplicates", 0) for r in results)
            missing = sum(r.get("missing", 0) for r in results)
            closed = sum(r.get("closed_early", 0) for r in results)
            problems.append(f"DELIVERY CHECK FAILED: {complete}/{subs} subscribers got all "
                            f"{messages} messages in order (missing {missing}, gaps {gaps}, "
                            f"duplicates {dups}, closed early {closed})")
        if any(code != 0 for code in codes) and complete == subs:
            problems.append(f"{self.plan.client} client exit codes {codes}")
        firsts = [r["first_receive_ns"] for r in results if r.get("first_receive_ns")]
        lasts = [r["last_receive_ns"] for r in results if r.get("last_receive_ns")]
        window = (max(lasts) - min(firsts)) / 1e9 if firsts and lasts else 0
        cpu = cpu_delta_ns(cpu_before, cpu_after)
        metrics = {
            "subscribers": subs, "messages": messages, "received": received,
            "client": self.plan.client,
            "deliveries_per_sec": received / window if window > 0 else None,
            # What one node delivered: the cluster's two nodes share the deliveries.
            "deliveries_per_sec_per_node":
                received / window / server.node_count if window > 0 else None,
            "wire_bytes_per_delivery": wire_bytes / received if received else None,
            # All TCP segments the machine sent over the run (data and ACKs, publisher included)
            # per delivery: below ~2 when frames to a subscriber share segments.
            "tcp_segments_per_delivery":
                (segments_after - segments_before) / received
                if received and segments_before is not None and segments_after is not None
                else None,
            "deflate": self.plan.deflate, "payload": self.plan.payload,
            "message_size": self.plan.message_size,
            "messages_per_sec": received / subs / window if window > 0 else None,
            "receive_seconds": window,
            "server_cpu_ns": cpu,
            "cpu_us_per_delivery": cpu / received / 1e3 if received else None,
            "latency_us": merge_latency(results),
            "publisher_calls_per_sec": pub.get("calls_per_sec") if pub else None,
            # Client-side CPU over the receive window, to tell when the tools were the limit (the
            # subscribers' processes, whichever "client" they are).
            "loadgen_cores": group.cpu_seconds / window if window > 0 else None,
            "publisher_cores":
                pub_child.cpu_seconds() / window if window > 0 and pub_child.cpu_seconds() else None,
            "server_cores": cpu / 1e9 / window if window > 0 else None,
            # The process that wrote to the subscribers (a cluster's node B, the single node):
            # with --node_cores, at that share when the node was the limit.
            "node_cores": node_cpu / 1e9 / window if window > 0 else None,
            "node_cpu_us_per_delivery": node_cpu / received / 1e3 if received else None,
            "mode": flag_value(flags, "mode"),
            "in_flight": int(flag_value(flags, "in_flight")),
        }
        details = {"publisher": pub, "loadgen": results, "ready": readies}
        return metrics, problems, details

    def fanout_point(self, round_index, server, work_dir, subs, previous_deliveries_per_sec,
                     unary=False):
        """An (a) point named by its subscriber count; with `unary` (wsbridge only) the point
        "<subs> unary", published with unary Broadcast one call at a time."""
        messages = self.plan.fanout_messages(subs, previous_deliveries_per_sec)
        point = f"{subs} unary" if unary else str(subs)
        topic = f"fan{subs}{'unary' if unary else ''}_r{round_index}"
        metrics, problems, details = self.fanout_run(round_index, server, work_dir, topic, topic,
                                                     subs, messages, unary=unary)
        entry = self.record(round_index, server.name, "a", point, metrics, problems, details)
        self.log(round_index, server.name,
                 f"(a) fan-out {point} ({metrics['mode']} k={metrics['in_flight']}): "
                 f"{fmt_si(metrics['deliveries_per_sec'])} deliveries/s, "
                 f"{fmt_num(metrics['cpu_us_per_delivery'], 3)} us CPU/delivery, "
                 f"{fmt_num(metrics['wire_bytes_per_delivery'], 1)} B/delivery on the wire, "
                 f"{fmt_si(metrics['messages_per_sec'])} msg/s, "
                 f"p50 {fmt_num(metrics['latency_us']['p50'], 0)} us; cores: server "
                 f"{fmt_num(metrics['server_cores'])} (delivering node "
                 f"{fmt_num(metrics['node_cores'])}), {metrics['client']} "
                 f"{fmt_num(metrics['loadgen_cores'])}, "
                 f"publisher {fmt_num(metrics['publisher_cores'])}"
                 + ("" if entry["valid"] else "  [INVALID]"))
        return entry

    def latency_point(self, round_index, server, work_dir, rate, max_rate):
        subs = self.plan.latency_subscribers
        messages = max(20, int(rate * self.plan.latency_seconds))
        topic = f"lat{rate}_r{round_index}"
        metrics, problems, details = self.fanout_run(round_index, server, work_dir, topic, topic,
                                                     subs, messages, rate=rate)
        lat = metrics["latency_us"]
        # How loaded this server was: the rate against its own (a) maximum at this size.
        load = 100.0 * rate / max_rate if max_rate else None
        # How busy the whole machine was: server, load generator and publisher together, in
        # cores. Near the machine's core count, latency is mostly waiting for a CPU.
        busy = sum(metrics.get(k) or 0.0 for k in ("server_cores", "loadgen_cores",
                                                   "publisher_cores"))
        metrics.update({"load_percent": load, "rate": rate, "p50_us": lat["p50"],
                        "p99_us": lat["p99"], "p999_us": lat["p999"], "max_us": lat["max"],
                        "busy_cores": busy})
        entry = self.record(round_index, server.name, "c", f"{rate}/s", metrics, problems, details)
        self.log(round_index, server.name,
                 f"(c) latency at {fmt_si(rate)} msg/s to {subs} ({fmt_num(load, 0)}% of its max, "
                 f"{metrics['mode']}): "
                 f"p50 {fmt_num(lat['p50'], 0)} us, p99 {fmt_num(lat['p99'], 0)} us, "
                 f"p999 {fmt_num(lat['p999'], 0)} us, "
                 f"{fmt_num(metrics['cpu_us_per_delivery'], 3)} us CPU/delivery, "
                 f"{fmt_num(metrics['wire_bytes_per_delivery'], 1)} B/delivery on the wire, "
                 f"{fmt_num(metrics['tcp_segments_per_delivery'])} TCP segments/delivery; "
                 f"cores: server {fmt_num(metrics['server_cores'])}, {metrics['client']} "
                 f"{fmt_num(metrics['loadgen_cores'])}"
                 + ("" if entry["valid"] else "  [INVALID]"))

    def unicast_points(self, round_index, server, work_dir):
        users = self.plan.unicast_users
        per_user = self.plan.unicast_messages_per_user
        for point, flags in server.unicast_publishers(self.plan):
            problems = []
            user_template = f"b{point}_r{round_index}_u{{i}}"
            # A server with no WebSocket side (a gRPC floor) gets the publisher alone.
            group = None
            readies = []
            if server.has_websocket:
                path_template, paths_file = server.user_paths(user_template, users)
                group = LoadgenGroup(self.tools, self.plan, work_dir, f"b-{point}",
                                     server.ws_ports(), users, per_user,
                                     path_template=path_template, paths_file=paths_file)
            try:
                if group:
                    readies = group.wait_ready(timeout=60 + users / 100)
                    connected = sum(r.get("connected", 0) for r in readies)
                    if connected != users:
                        problems.append(f"only {connected}/{users} sessions connected")
                    time.sleep(0.3)
                    group.mark_cpu()
                cpu_before = server.cpu()
                pub, pub_code, pub_child = run_publisher(
                    self.tools, work_dir, f"b-{point}",
                    flags + [f"--users={users}", f"--user_template={user_template}",
                             f"--messages={users * per_user}",
                             f"--size={self.plan.message_size}", "--timeout=30"],
                    timeout=300, cpus=self.plan.tool_cpus)
                results = []
                if group:
                    results, _ = group.finish(timeout=60 + 2 * self.plan.loadgen_timeout)
                cpu_after = server.cpu()
            finally:
                if group:
                    group.stop()
            problems += publisher_problems(pub, pub_code, pub_child)
            results = [r for r in results if r]
            complete = sum(r.get("complete_connections", 0) for r in results)
            received = sum(r.get("received", 0) for r in results) if group else None
            if group and complete != users:
                problems.append(f"DELIVERY CHECK FAILED: {complete}/{users} sessions got all "
                                f"{per_user} messages in order (received {received}/"
                                f"{users * per_user})")
            cpu = cpu_delta_ns(cpu_before, cpu_after)
            calls = pub.get("ok", 0) if pub else 0
            metrics = {
                "users": users, "messages": users * per_user, "received": received,
                "calls_per_sec": pub.get("calls_per_sec") if pub else None,
                "server_cpu_ns": cpu,
                "cpu_us_per_call": cpu / calls / 1e3 if calls else None,
                "rpc_latency_us": pub.get("rpc_latency_us") if pub else None,
                "latency_us": merge_latency(results),
                "mode": flags[0].split("=", 1)[1],
                "client": "loadgen" if group else None,
            }
            pub_seconds = pub.get("seconds") if pub else None
            if pub_seconds:
                metrics["server_cores"] = cpu / 1e9 / pub_seconds
                metrics["publisher_cores"] = (pub_child.cpu_seconds() or 0) / pub_seconds
                if group:
                    metrics["loadgen_cores"] = group.cpu_seconds / pub_seconds
            entry = self.record(round_index, server.name, "b", point, metrics, problems,
                                {"publisher": pub, "loadgen": results, "ready": readies})
            self.log(round_index, server.name,
                     f"(b) unicast {point} ({metrics['mode']}, {users} users): "
                     f"{fmt_si(metrics['calls_per_sec'])} calls/s, "
                     f"{fmt_num(metrics['cpu_us_per_call'], 2)} us CPU/call; cores: server "
                     f"{fmt_num(metrics.get('server_cores'))}, publisher "
                     f"{fmt_num(metrics.get('publisher_cores'))}, loadgen "
                     f"{fmt_num(metrics.get('loadgen_cores'))}"
                     + ("" if entry["valid"] else "  [INVALID]"))

    def idle_point(self, round_index, server, work_dir):
        sessions = self.plan.idle_sessions
        topic = f"idle_r{round_index}"
        problems = []
        rss_before, pss_before = server.rss()
        cpu_before = server.cpu()
        group = LoadgenGroup(self.tools, self.plan, work_dir, "idle", server.ws_ports(), sessions, 0,
                             path_template=server.topic_path(topic))
        try:
            readies = group.wait_ready(timeout=60 + sessions / 100)
            cpu_after_connect = server.cpu()
            connected = sum(r.get("connected", 0) for r in readies)
            if connected != sessions:
                problems.append(f"only {connected}/{sessions} sessions connected")
            # RSS is stable when it moved by less than 0.5% over 2 s (at most 20 s).
            history = [(time.monotonic(), server.rss()[0])]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                time.sleep(0.25)
                now = time.monotonic()
                history.append((now, server.rss()[0]))
                window = [rss for t, rss in history if t >= now - 2]
                if history[0][0] <= now - 2 and max(window) - min(window) <= 0.005 * max(window):
                    break
            rss_after, pss_after = server.rss()
            results, _ = group.finish(timeout=30, close_stdin=True)
        finally:
            group.stop()
        seconds = max((r.get("handshake_seconds") or 0) for r in readies) if readies else 0
        handshake_cpu = cpu_delta_ns(cpu_before, cpu_after_connect)
        if "d" in self.workloads:
            metrics = {"sessions": connected, "client": "loadgen", "rss_before_kib": rss_before,
                       "rss_after_kib": rss_after, "pss_before_kib": pss_before,
                       "pss_after_kib": pss_after,
                       "kib_per_session": (rss_after - rss_before) / connected if connected else None,
                       "pss_kib_per_session":
                           (pss_after - pss_before) / connected if connected else None}
            entry = self.record(round_index, server.name, "d", str(sessions), metrics,
                                list(problems), {"ready": readies, "loadgen": results})
            self.log(round_index, server.name,
                     f"(d) idle memory {sessions}: RSS {rss_before / 1024:.1f} -> "
                     f"{rss_after / 1024:.1f} MiB, {fmt_num(metrics['kib_per_session'])} KiB/session"
                     + ("" if entry["valid"] else "  [INVALID]"))
        if "e" in self.workloads:
            metrics = {"sessions": connected, "client": "loadgen", "handshake_seconds": seconds,
                       "handshakes_per_sec": connected / seconds if seconds else None,
                       "server_cpu_ns": handshake_cpu,
                       "cpu_us_per_handshake":
                           handshake_cpu / connected / 1e3 if connected else None}
            entry = self.record(round_index, server.name, "e", str(sessions), metrics,
                                list(problems), {"ready": readies})
            self.log(round_index, server.name,
                     f"(e) handshakes {sessions}: {fmt_si(metrics['handshakes_per_sec'])}/s, "
                     f"{fmt_num(metrics['cpu_us_per_handshake'], 1)} us CPU/handshake"
                     + ("" if entry["valid"] else "  [INVALID]"))


# --- Summary -----------------------------------------------------------------------------------

# (workload, metric, label, lower is better)
SUMMARY_METRICS = [
    ("a", "deliveries_per_sec", "deliveries/s", False),
    ("a", "deliveries_per_sec_per_node", "deliveries/s per node", False),
    ("a", "cpu_us_per_delivery", "server CPU us/delivery", True),
    ("a", "node_cpu_us_per_delivery", "delivering node's CPU us/delivery", True),
    ("a", "node_cores", "delivering node's cores busy", False),
    ("a", "messages_per_sec", "messages/s", False),
    ("b", "calls_per_sec", "publisher calls/s", False),
    ("b", "cpu_us_per_call", "server CPU us/call", True),
    ("c", "load_percent", "% of its own max", False),
    ("c", "busy_cores", "cores busy, all processes", True),
    ("c", "p50_us", "latency p50 us", True),
    ("c", "p99_us", "latency p99 us", True),
    ("c", "p999_us", "latency p999 us", True),
    ("c", "cpu_us_per_delivery", "server CPU us/delivery", True),
    ("c", "tcp_segments_per_delivery", "TCP segments/delivery, machine-wide", True),
    ("d", "kib_per_session", "KiB RSS/idle session", True),
    ("e", "handshakes_per_sec", "handshakes/s", False),
    ("e", "cpu_us_per_handshake", "server CPU us/handshake", True),
]
WORKLOAD_TITLES = {"a": "(a) fan-out", "b": "(b) unicast", "c": "(c) latency (fan-out to 1k)",
                   "d": "(d) idle memory", "e": "(e) handshakes"}


def point_order(point):
    digits = re.sub(r"\D", "", point)
    return (re.sub(r"\d", "", point), int(digits) if digits else 0)


def summarize(points):
    """{workload: {point: {metric: {server: median, "wsbridge/nchan": r, ...}}}} over valid rounds;
    the ratios are those of RATIOS whose two servers both have a median."""
    summary = {}
    for workload, metric, _, _ in SUMMARY_METRICS:
        rows = summary.setdefault(workload, {})
        for point in sorted({p["point"] for p in points if p["workload"] == workload},
                            key=point_order):
            cell = {}
            for server in SERVERS:
                values = [p["metrics"].get(metric) for p in points
                          if p["workload"] == workload and p["point"] == point
                          and p["server"] == server and p["valid"]]
                values = [v for v in values if v is not None]
                if values:
                    cell[server] = statistics.median(values)
                    cell[server + "_rounds"] = len(values)
            for numerator, denominator in RATIOS:
                if cell.get(numerator) is not None and cell.get(denominator):
                    cell[f"{numerator}/{denominator}"] = cell[numerator] / cell[denominator]
            rows.setdefault(point, {})[metric] = cell
    return summary


def machine_info(tools):
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    nginx = tools.get("nginx") or shutil.which("nginx") or "/usr/sbin/nginx"
    if Path(nginx).exists():
        try:
            out = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=5)
            info["nginx"] = (out.stderr or out.stdout).strip().replace("nginx version: ", "")
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-nchan"],
                             capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            info["nchan"] = out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return info


def format_value(metric, value):
    if value is None:
        return "-"
    if metric.endswith("_per_sec") or metric == "rate":
        return fmt_si(value)
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def fanout_note(workload, plan):
    """How (a) or (c) was published, under its table."""
    if workload == "a":
        k = plan.get("broadcaststream_in_flight", 256)
        unary = plan.get("fanout_unary_subscribers", 1000)
        return (f"Fan-out points are subscriber counts, all published in order: wsbridge over one "
                f"gRPC BroadcastStream with up to {k} un-answered requests; nchan/floor by HTTP "
                f"POST, one at a time. \"{unary} unary\" = wsbridge with unary gRPC Broadcast, one "
                f"call at a time (not charted, and not the basis of the latency rates).")
    k = plan.get("broadcaststream_latency_in_flight", 1024)
    return (f"Points are messages/s to {plan.get('latency_subscribers', 1000)} subscribers, the "
            f"same for every server, on an absolute schedule: "
            f"wsbridge over one BroadcastStream (up to {k} un-answered); nchan/floor by HTTP POST, "
            f"one at a time.")


def client_description(meta):
    """Which client measured (a) and (c), for summary.md and the charts."""
    if meta.get("client", "loadgen") == "node":
        return ("node: one bench/ws_client.mjs process per port, a single-threaded Node.js event "
                "loop reading every socket with npm ws")
    return "loadgen: bench/loadgen (Boost.Beast, one I/O thread per process)"


def write_markdown(path, data):
    meta = data["meta"]
    summary = data["summary"]
    lines = ["# wsbridge benchmark", ""]
    machine = meta.get("machine", {})
    lines.append(f"- Machine: {machine.get('nproc')} CPUs, {machine.get('cpu_model', '?')}, "
                 f"Linux {machine.get('kernel', '?')}")
    lines.append(f"- nginx {machine.get('nginx', '?')}, nchan {machine.get('nchan', '?')}")
    lines.append(f"- Date: {meta.get('started')}, rounds: {meta.get('rounds')}"
                 f"{' (quick)' if meta.get('quick') else ''}; medians over valid rounds")
    lines.append(f"- Command: `{meta.get('command')}`")
    lines.append("- Servers: wsbridge --io_threads=2; nginx+nchan worker_processes 2; "
                 "floor --threads=2; grpcfloor-cq --threads=2 (grpcfloor-cb: gRPC's own threads); "
                 "all on 127.0.0.1 with the load generators and publisher on the same machine")
    lines.append(f"- Subscribers' client in (a) and (c): {client_description(meta)}; (b), (d) and "
                 "(e): bench/loadgen (Boost.Beast)")
    lines.append("")
    invalid = [p for p in data["points"] if not p["valid"]]
    if invalid:
        lines.append("**Invalid points (left out of the medians):**")
        lines.append("")
        for p in invalid:
            problem = "; ".join(p["problems"]).replace("\n", " ")
            lines.append(f"- round {p['round']} {p['server']} ({p['workload']}) {p['point']}: "
                         f"{problem}")
        lines.append("")
    for workload in WORKLOADS:
        rows = summary.get(workload)
        if not rows:
            continue
        wss = ", wss" if meta.get("plan", {}).get("tls") else ""
        lines.append(f"## {WORKLOAD_TITLES[workload]}{wss}")
        lines.append("")
        # Columns: the servers and RATIOS that have a value somewhere in this table, in order.
        cells = [metrics[metric] for metrics in rows.values() for metric in metrics]
        columns = [s for s in SERVERS if any(s in cell for cell in cells)]
        ratio_names = [f"{a}/{b}" for a, b in RATIOS if any(f"{a}/{b}" in cell for cell in cells)]
        lines.append("| point | metric | " + " | ".join(columns + ratio_names) + " |")
        lines.append("|---|---|" + "---:|" * (len(columns) + len(ratio_names)))
        for point, metrics in rows.items():
            for w, metric, label, lower_better in SUMMARY_METRICS:
                if w != workload or metric not in metrics:
                    continue
                cell = metrics[metric]
                if not any(s in cell for s in columns):
                    continue
                ratios = [f"{cell[k]:.2f}" if k in cell else "-" for k in ratio_names]
                lines.append(f"| {point} | {label}{' (lower is better)' if lower_better else ''} | "
                             + " | ".join(format_value(metric, cell.get(s)) for s in columns)
                             + "".join(f" | {r}" for r in ratios) + " |")
        lines.append("")
        if workload in ("a", "c"):
            lines.append(fanout_note(workload, meta.get("plan", {})))
            lines.append("")
    if summary.get("b"):
        lines.append("Unicast points: k16/k64 = 16/64 calls in flight (wsbridge and the gRPC "
                     "floors: unary gRPC Push; nchan/floor: HTTP POST over 16/64 keep-alive "
                     "connections); stream1024 = PushStream with 1024 un-answered requests; "
                     "batch100 = PushBatch of 100 pushes, 16 requests in flight (calls/s and CPU "
                     "per call count pushes). "
                     "grpcfloor-cb/-cq answer Push, PushStream and PushBatch with no bridge work "
                     "and have no "
                     "sessions (publisher alone): gRPC's own cost per call, on the callback API "
                     "and on the completion-queue API.")
        lines.append("")
    lines.append("Charts: fanout_deliveries.png, fanout_cpu.png, latency.png, paced_cpu.png")
    Path(path).write_text("\n".join(lines) + "\n")


# --- Charts ------------------------------------------------------------------------------------

def gnuplot_terminal(gnuplot):
    out = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
    text = out.stdout + out.stderr
    if re.search(r"^\s*pngcairo\s", text, re.M):
        return "pngcairo size 900,560 enhanced font 'sans,10'"
    return "png size 900,560"


def draw_charts(data, out_dir):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("gnuplot not found: charts skipped (apt-get install gnuplot-nox)")
        return
    terminal = gnuplot_terminal(gnuplot)
    summary = data["summary"]
    colors = {"wsbridge": "#1f77b4", "nchan": "#d62728", "floor": "#7f7f7f",
              "cluster": "#2ca02c", "wsbridge1": "#9467bd", "grpcfloor-cb": "#8c564b",
              "grpcfloor-cq": "#e377c2", "cluster-b": "#17becf"}
    out_dir = Path(out_dir)

    def series(workload, metric, x_of, scale=1.0):
        result = {}
        for server in SERVERS:
            pts = []
            for point, metrics in summary.get(workload, {}).items():
                cell = metrics.get(metric, {})
                x = x_of(point, metrics, server)
                if server in cell and x is not None:
                    pts.append((x, cell[server] * scale))
            if pts:
                result[server] = sorted(pts)
        return result

    def quote(text):
        return "'" + str(text).replace("'", "''") + "'"

    def plot(filename, title, xlabel, ylabel, lines, logx=False, logy=False):
        if not lines:
            return
        script = [f"set terminal {terminal}", f"set output {quote(out_dir / filename)}",
                  f"set title {quote(title)}", f"set xlabel {quote(xlabel)}",
                  f"set ylabel {quote(ylabel)}",
                  "set grid", "set key outside right top", "set yrange [0:*]" if not logy else "",
                  "set logscale x" if logx else "", "set logscale y" if logy else ""]
        plots = []
        for index, (label, color, dash, pts) in enumerate(lines):
            script.append(f"$d{index} << EOD")
            script += [f"{x} {y}" for x, y in pts]
            script.append("EOD")
            plots.append(f"$d{index} using 1:2 with linespoints lw 2 pt 7 lc rgb '{color}' "
                         f"dt {dash} title {quote(label)}")
        script.append("plot " + ", ".join(plots))
        result = subprocess.run([gnuplot], input="\n".join(script) + "\n", capture_output=True,
                                text=True)
        if result.returncode != 0:
            print(f"gnuplot failed for {filename}: {result.stderr.strip()}")

    def by_subscribers(point, _metrics, _server):
        return int(point) if point.isdigit() else None

    client = data["meta"].get("client", "loadgen")
    deliveries = series("a", "deliveries_per_sec", by_subscribers, 1e-6)
    plot("fanout_deliveries.png",
         f"Fan-out: deliveries per second ({client} client, median over rounds)",
         "subscribers on the topic", "million deliveries/s",
         [(s, colors[s], 1, pts) for s, pts in deliveries.items()])
    cpu = series("a", "cpu_us_per_delivery", by_subscribers)
    plot("fanout_cpu.png",
         f"Fan-out: server CPU per delivery ({client} client, median over rounds)",
         "subscribers on the topic", "server CPU us per delivery",
         [(s, colors[s], 1, pts) for s, pts in cpu.items()])

    def by_rate(point, _metrics, _server):
        # Points are the publish rate, "150/s".
        digits = re.sub(r"[^0-9.]", "", point)
        return float(digits) if digits else None

    lines = []
    for metric, label, dash in (("p50_us", "p50", 1), ("p99_us", "p99", 2), ("p999_us", "p99.9", 3)):
        for server, pts in series("c", metric, by_rate).items():
            lines.append((f"{server} {label}", colors[server], dash, pts))
    plot("latency.png", f"Latency, fan-out to 1k subscribers ({client} client), against the "
         "publish rate",
         "messages/s published", "latency us (publish to receive)", lines, logy=True)
    paced_cpu = series("c", "cpu_us_per_delivery", by_rate)
    plot("paced_cpu.png",
         f"Paced fan-out to 1k subscribers: server CPU per delivery ({client} client, median)",
         "messages/s published", "server CPU us per delivery",
         [(s, colors[s], 1, pts) for s, pts in paced_cpu.items()])


# --- Main --------------------------------------------------------------------------------------

def find_tools(build, wsbridge=None):
    """The binaries of `build`; `wsbridge` (a path) replaces the bridge only, so that two builds of
    the bridge can be measured with the same load generator and publisher."""
    build = Path(build)
    if not build.is_absolute():
        build = REPO / build
    tools = {"wsbridge": Path(wsbridge).resolve() if wsbridge else build / "wsbridge",
             "loadgen": build / "bench" / "wsbridge_bench_loadgen",
             "publisher": build / "bench" / "wsbridge_bench_publisher",
             "floor": build / "bench" / "wsbridge_bench_floor",
             "grpcfloor": build / "bench" / "wsbridge_bench_grpc_floor",
             "node_client": REPO / "bench" / "ws_client.mjs"}
    return build, tools


def node_client_problem():
    """Why --client=node cannot run here (None when it can): node, or the npm package ws that
    bench/install-deps.sh installs into bench/node_modules."""
    if not shutil.which("node"):
        return "--client=node needs node (apt-get install nodejs)"
    if not (REPO / "bench" / "node_modules" / "ws" / "package.json").is_file():
        return ("--client=node needs the npm package ws in bench/node_modules: run "
                "bench/install-deps.sh")
    return None


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="CMake build dir (default: build)")
    parser.add_argument("--wsbridge", default=None,
                        help="the wsbridge binary to measure (default: <build>/wsbridge); the "
                             "bench tools still come from --build")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="1 round, small sizes: a smoke test of well under a minute")
    parser.add_argument("--out", default=str(REPO / "bench" / "out"), help="output dir")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help="workloads to run, comma-separated from a,b,c,d,e")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                        help="servers, comma-separated from " + ",".join(SERVERS))
    parser.add_argument("--charts_from", help="redraw charts and summary.md from a result JSON")
    parser.add_argument("--keep_temp", action="store_true",
                        help="keep the per-server temp dirs (logs, nginx.conf) for debugging")
    parser.add_argument("--deflate", action="store_true",
                        help="load generator clients offer permessage-deflate")
    parser.add_argument("--payload", choices=["x", "json"], default="x",
                        help="message padding: 'x' runs (default) or JSON rows")
    parser.add_argument("--message_size", type=int, default=None,
                        help="message bytes for (a), (b), (c) (default 100)")
    parser.add_argument("--tls", action="store_true",
                        help="wss: wsbridge gets a self-signed certificate and the load generator "
                             "clients speak TLS (wsbridge only)")
    parser.add_argument("--pin", action="store_true",
                        help="the delivering node alone on CPU 1, the tools (and a cluster's "
                             "node A and redis-server) on CPU 0; servers: " +
                             ",".join(PINNABLE_SERVERS))
    parser.add_argument("--node_cores", type=float, default=None,
                        help="with --pin: during (a), hold the delivering node to this share of "
                             "its core (e.g. 0.5, a cgroup CPU quota; needs root) so that it, not "
                             "the load generator, is the limit")
    parser.add_argument("--client", choices=["loadgen", "node"], default="loadgen",
                        help="the subscribers of (a) and (c): the loadgen (default) or one "
                             "single-threaded Node.js event loop with npm ws per port "
                             "(bench/ws_client.mjs); (b), (d), (e) always use the loadgen")
    parser.add_argument("--wsbridge_flags", default="",
                        help="extra flags for every wsbridge process, space-separated (e.g. "
                             "\"--coalesce_gap=0\" to measure without stream coalescing)")
    parser.add_argument("--tmp_root", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick and "--rounds" not in " ".join(argv):
        args.rounds = 1
    return args


def main(argv):
    args = parse_args(argv)
    out_dir = Path(args.out)
    if args.charts_from:
        out_dir.mkdir(parents=True, exist_ok=True)
        data = json.loads(Path(args.charts_from).read_text())
        data["summary"] = summarize(data["points"])
        draw_charts(data, out_dir)
        write_markdown(out_dir / "summary.md", data)
        print(f"charts and summary.md written to {out_dir}")
        return 0

    workloads = [w.strip() for w in args.only.split(",") if w.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            print(f"unknown workload {w!r}: choose from {','.join(WORKLOADS)}")
            return 2
    for s in servers:
        if s not in SERVERS:
            print(f"unknown server {s!r}: choose from {','.join(SERVERS)}")
            return 2
    servers = [s for s in SERVERS if s in servers]  # always in SERVERS order
    if args.tls and servers != ["wsbridge"]:
        print("--tls measures wsbridge only (nchan and the floor serve no wss here): "
              "add --servers=wsbridge")
        return 2

    if args.node_cores is not None and not args.pin:
        print("--node_cores needs --pin (the node's core is the one it is held to a share of)")
        return 2
    if args.pin:
        unpinnable = [s for s in servers if s not in PINNABLE_SERVERS]
        if unpinnable:
            print(f"--pin gives one core to one delivering node: {','.join(unpinnable)} cannot "
                  f"be pinned; choose from {','.join(PINNABLE_SERVERS)}")
            return 2
        if args.node_cores is not None and not 0.05 <= args.node_cores <= 1:
            print("--node_cores is a share of one core: 0.05 to 1")
            return 2
        if len(os.sched_getaffinity(0)) < 2 or not shutil.which("taskset"):
            print("--pin needs 2 CPUs and taskset (util-linux)")
            return 1

    build, tools = find_tools(args.build, args.wsbridge)
    needed = ["loadgen", "publisher"] + [s for s in ("wsbridge", "floor") if s in servers]
    if any(s.startswith("cluster") or s == "wsbridge1" for s in servers):
        needed.append("wsbridge")
    if "b" not in workloads and any(not SERVER_CLASSES[s].has_websocket for s in servers):
        print("note: grpcfloor-cb/grpcfloor-cq serve (b) only and --only has no b: left out")
        servers = [s for s in servers if SERVER_CLASSES[s].has_websocket]
    if any(not SERVER_CLASSES[s].has_websocket for s in servers):
        needed.append("grpcfloor")
    if any(s.startswith("cluster") for s in servers):
        if not shutil.which("redis-server"):
            print("--servers=cluster needs redis-server (apt-get install redis-server)")
            return 1
    missing = [str(tools[t]) for t in needed if not Path(tools[t]).is_file()]
    if missing:
        print("missing binaries:\n  " + "\n  ".join(missing))
        print("build them with:\n  " + BUILD_HINT.format(build=args.build))
        return 1
    tools = {k: str(v) for k, v in tools.items()}
    if args.client == "node":
        problem = node_client_problem()
        if problem:
            print(problem)
            return 1
        tools["node"] = shutil.which("node")
    if "nchan" in servers:
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                          else None)
        if nginx is None or not NCHAN_MODULE.exists():
            explicit = any(a.startswith("--servers") for a in argv)
            print(f"nginx or the nchan module ({NCHAN_MODULE}) is missing: {NCHAN_HINT}")
            if explicit:
                return 1
            print("skipping nchan")
            servers.remove("nchan")
        else:
            tools["nginx"] = nginx

    # Children inherit the raised soft limit (the loadgen holds up to ~19k sockets).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    out_dir.mkdir(parents=True, exist_ok=True)
    plan = Plan(args.quick, deflate=args.deflate, payload=args.payload,
                message_size=args.message_size, tls=args.tls, pin=args.pin,
                node_cores=args.node_cores, client=args.client,
                wsbridge_flags=shlex.split(args.wsbridge_flags))
    started = datetime.datetime.now()
    command = " ".join(shlex.quote(a) for a in [sys.argv[0]] + list(argv))
    meta = {"started": started.isoformat(timespec="seconds"), "command": command,
            "rounds": args.rounds, "quick": args.quick, "servers": servers,
            "client": args.client,
            "workloads": workloads, "machine": machine_info(tools),
            "plan": {k: v for k, v in vars(plan).items()}}
    print(f"benchmark: {args.rounds} round(s), servers {','.join(servers)}, "
          f"workloads {','.join(workloads)}{' (quick)' if args.quick else ''}, "
          f"(a)/(c) subscribers: {args.client}", flush=True)
    bench = Bench(args, plan, tools, servers, workloads)
    interrupted = False
    try:
        bench.run()
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: stopping everything and saving what was measured", flush=True)
    finally:
        stop_everything()

    data = {"meta": meta, "points": bench.points, "summary": summarize(bench.points)}
    data["meta"]["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    data["meta"]["interrupted"] = interrupted
    stamp = started.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(data, indent=1)
    (out_dir / f"results-{stamp}.json").write_text(text)
    (out_dir / "latest.json").write_text(text)
    write_markdown(out_dir / "summary.md", data)
    draw_charts(data, out_dir)
    print(f"\nresults: {out_dir / f'results-{stamp}.json'}, {out_dir / 'summary.md'}")
    print((out_dir / "summary.md").read_text())
    invalid = [p for p in bench.points if not p["valid"]]
    if invalid:
        print(f"WARNING: {len(invalid)} invalid point(s): see the summary above")
    # Every server asked for must have measured something: a server silently skipped fails too.
    unmeasured = [s for s in servers if not any(p["server"] == s for p in bench.points)]
    if unmeasured and not interrupted:
        print(f"WARNING: no point measured for {', '.join(unmeasured)}")
    return 130 if interrupted else (1 if invalid or unmeasured else 0)


if __name__ == "__main__":
    atexit.register(stop_everything)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(main(sys.argv[1:]))
