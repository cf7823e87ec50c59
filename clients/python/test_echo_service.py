"""End-to-end tests of echo_service.py against the real wsbridge binary.

Each test starts `wsbridge` (path in $WSBRIDGE_BINARY; anonymous browsers, free ports read from
its startup line) and one or two echo services (generated stubs on $PYTHONPATH) as processes,
and plays the browser with a minimal WebSocket client written here on the standard library.
Everything is stopped by PID. Waits are on conditions with generous deadlines, never on time.
"""

import base64
import ctypes
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = os.path.join(HERE, "echo_service.py")
DEADLINE_SECONDS = 30


class Browser:
    """A WebSocket client doing just what a page does here: send and read messages.

    Client frames are masked (RFC 6455 5.3); pings are answered; a close frame from the server
    raises ConnectionError.
    """

    def __init__(self, port, path="/ws"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_SECONDS)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        self.deadline = None  # of the receive_text call in progress
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"upgrade refused: {status!r}")

    def close(self):
        self.sock.close()

    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def send_binary(self, data):
        self._send_frame(0x2, data)

    def receive_text(self, timeout=DEADLINE_SECONDS):
        """The next message, which must be text; socket.timeout if none comes within `timeout`."""
        opcode, payload = self.receive(timeout)
        if opcode != 0x1:
            raise AssertionError(f"expected a text message, got opcode {opcode}: {payload!r}")
        return payload.decode()

    def receive(self, timeout=DEADLINE_SECONDS):
        """The next data message as (opcode, payload); socket.timeout if none comes in time.

        The deadline covers the whole wait: the bridge's pings arrive meanwhile, so a timeout
        per read alone would never expire.
        """
        self.deadline = time.monotonic() + timeout
        try:
            while True:
                opcode, payload = self._read_frame()
                if opcode in (0x1, 0x2):
                    return opcode, payload
                if opcode == 0x9:
                    self._send_frame(0xA, payload)
                elif opcode == 0x8:
                    raise ConnectionError(f"closed by the server: {payload!r}")
        finally:
            self.deadline = None
            self.sock.settimeout(DEADLINE_SECONDS)

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _fill(self):
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("no message before the deadline")
            self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def _read_frame(self):
        # A frame is taken from the buffer only once it is complete, so a timeout part-way
        # leaves the stream in step for the next call. Messages here are small and unfragmented;
        # a fragmented one fails the test loudly.
        while True:
            frame = self._parse_frame()
            if frame is not None:
                return frame
            self._fill()

    def _parse_frame(self):
        if len(self.buffer) < 2:
            return None
        first, second = self.buffer[0], self.buffer[1]
        length, start = second & 0x7F, 2
        if length == 126:
            if len(self.buffer) < 4:
                return None
            (length,), start = struct.unpack("!H", self.buffer[2:4]), 4
        elif length == 127:
            if len(self.buffer) < 10:
                return None
            (length,), start = struct.unpack("!Q", self.buffer[2:10]), 10
        if len(self.buffer) < start + length:
            return None
        if not first & 0x80:
            raise AssertionError("fragmented message: not handled by this test client")
        payload = self.buffer[start : start + length]
        self.buffer = self.buffer[start + length :]
        return first & 0x0F, payload


def _die_with_parent():
    # PR_SET_PDEATHSIG (1): if CTest kills this test on its timeout, the bridge and the services
    # go with it instead of living on as orphans.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Process:
    """A child process; its stderr goes to a file (shown when a test fails), stdout to a pipe."""

    def __init__(self, args, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=self.log, preexec_fn=_die_with_parent
        )

    def stop(self, sig=signal.SIGTERM):
        """Signals the process by PID and waits for it; returns its exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"{self.log_path}: did not exit on signal {sig}")
        finally:
            self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class EchoServiceTest(unittest.TestCase):
    def setUp(self):
        self.binary = os.environ.get("WSBRIDGE_BINARY")
        if not self.binary:
            self.skipTest("WSBRIDGE_BINARY is not set (CTest sets it)")
        self.dir = tempfile.TemporaryDirectory(prefix="echo-service-test-")
        self.addCleanup(self.dir.cleanup)
        self.processes = []
        self.addCleanup(self._stop_all)
        self.grpc_port, self.ws_port = self._start_bridge()

    def _stop_all(self):
        for process in reversed(self.processes):
            if process.proc.poll() is None:
                process.stop(signal.SIGKILL)

    def _path(self, name):
        return os.path.join(self.dir.name, name)

    def _start_bridge(self, grpc_port=0):
        bridge = Process(
            [
                self.binary,
                "--bind=127.0.0.1",
                f"--grpc_port={grpc_port}",
                "--ws_port=0",
                "--admin_port=0",
                "--allow_anonymous",
                "--drain_seconds=1",
            ],
            self._path("bridge.log"),
        )
        self.processes.append(bridge)
        line = bridge.proc.stdout.readline().decode()
        match = re.match(r"wsbridge listening grpc_port=(\d+) ws_port=(\d+) ", line)
        self.assertIsNotNone(match, f"startup line {line!r}; log:\n{bridge.output()}")
        self.bridge = bridge
        return int(match.group(1)), int(match.group(2))

    def start_service(self, name, group, reply_prefix="echo: "):
        service = Process(
            [
                sys.executable,
                SERVICE,
                f"--target=127.0.0.1:{self.grpc_port}",
                f"--group={group}",
                f"--checkpoint={self._path(name + '.checkpoint')}",
                f"--reply_prefix={reply_prefix}",
            ],
            self._path(f"{name}.{len(self.processes)}.log"),
        )
        self.processes.append(service)
        return service

    def stop_service(self, service, sig=signal.SIGTERM):
        code = service.stop(sig)
        self.assertEqual(code, 0, service.output())

    def wait_until_answering(self, browser, service, reply_prefix="echo: "):
        """Sends probes until one is answered: the service has then joined the Events group.

        Probes sent before it joined reach no one (a fresh service starts from live events), and
        once one is answered no earlier probe can be answered later (one session's messages are
        answered in order), so nothing of the probing is left for the story that follows.
        """
        deadline = time.monotonic() + DEADLINE_SECONDS
        for attempt in range(1000):
            self.assertLess(time.monotonic(), deadline, f"no probe answered:\n{service.output()}")
            browser.send_text(f"probe {attempt}")
            try:
                reply = browser.receive_text(timeout=0.5)
            except socket.timeout:
                continue
            self.assertEqual(reply, f"{reply_prefix}probe {attempt}")
            return

    def test_answers_and_resumes_from_its_checkpoint_after_a_restart(self):
        browser = Browser(self.ws_port)
        self.addCleanup(browser.close)
        service = self.start_service("solo", group="solo")
        self.wait_until_answering(browser, service)

        browser.send_text("hello")
        self.assertEqual(browser.receive_text(), "echo: hello")

        self.stop_service(service)
        browser.send_text("while down 1")
        browser.send_text("while down 2")
        service = self.start_service("solo", group="solo")
        # Exactly the two messages sent while it was down, in order; "hello" is not answered
        # again, and the marker's answer coming next shows nothing else was in between.
        self.assertEqual(browser.receive_text(), "echo: while down 1", service.output())
        self.assertEqual(browser.receive_text(), "echo: while down 2")
        browser.send_text("marker")
        self.assertEqual(browser.receive_text(), "echo: marker")
        # Binary comes back as the same bytes, in a binary message.
        browser.send_binary(b"\x00\xff binary")
        self.assertEqual(browser.receive(), (0x2, b"\x00\xff binary"))
        self.stop_service(service)

    def test_two_services_in_one_group_share_the_work(self):
        first = self.start_service("first", group="shared", reply_prefix="first: ")
        probe = Browser(self.ws_port)
        self.addCleanup(probe.close)
        self.wait_until_answering(probe, first, reply_prefix="first: ")
        second = self.start_service("second", group="shared", reply_prefix="second: ")

        # Each session's messages go to one member; new sessions until both have answered (the
        # second member takes its share once it has joined). Every message is answered once: the
        # next answer is the marker's.
        answered_by = {"first": 0, "second": 0}
        deadline = time.monotonic() + DEADLINE_SECONDS
        session = 0
        while min(answered_by.values()) < 3:
            self.assertLess(time.monotonic(), deadline, f"answers so far: {answered_by}")
            browser = Browser(self.ws_port)
            try:
                browser.send_text(f"message {session}")
                reply = browser.receive_text()
                member, _, text = reply.partition(": ")
                self.assertIn(member, answered_by)
                self.assertEqual(text, f"message {session}")
                answered_by[member] += 1
                # The member may change if the second joins in between: either may answer it.
                browser.send_text("marker")
                self.assertEqual(browser.receive_text().partition(": ")[2], "marker")
            finally:
                browser.close()
            session += 1
        self.stop_service(first)
        self.stop_service(second, signal.SIGINT)  # Ctrl-C is a clean exit too

    def test_outlives_a_bridge_restart_and_goes_on_from_live_events(self):
        browser = Browser(self.ws_port)
        service = self.start_service("solo", group="solo")
        self.wait_until_answering(browser, service)
        browser.send_text("hello")
        self.assertEqual(browser.receive_text(), "echo: hello")
        browser.close()

        # A new bridge process on the same gRPC port: its sequence numbers start past the old
        # ones and its history is empty, so the checkpoint cannot be resumed (OUT_OF_RANGE). The
        # service reconnects with backoff meanwhile, then goes on from live events.
        self.assertEqual(self.bridge.stop(), 0, self.bridge.output())
        _, self.ws_port = self._start_bridge(grpc_port=self.grpc_port)
        browser = Browser(self.ws_port)
        self.addCleanup(browser.close)
        self.wait_until_answering(browser, service)
        browser.send_text("after the restart")
        self.assertEqual(browser.receive_text(), "echo: after the restart")
        self.assertIn("continuing with live events", service.output())
        self.stop_service(service)


if __name__ == "__main__":
    unittest.main()
