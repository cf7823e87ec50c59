#!/usr/bin/env python3
"""An example wsbridge backend service: answers every browser message with a push.

It consumes the bridge's Events stream as a member of a consumer group (so several copies share
the work, each session's events going to one of them), answers each `message` event by pushing
"<prefix><text>" to the session that sent it (binary messages come back as the same bytes), and
after each handled event writes the event's sequence number to a checkpoint file. On restart it
asks the bridge to replay what came after that checkpoint, so messages sent while it was down
are answered, and none twice.

Delivery is at-least-once: the checkpoint is saved after the reply is pushed, so a crash between
the two answers that message again on restart. A restarted member of a group of several may also
replay events that another member answered while it was down (the group's routing hands it its
share again); services that must not answer twice should make their handling idempotent.

Stubs come from proto/wsbridge/v1/bridge.proto (see README.md); put their folder on PYTHONPATH.
"""

import argparse
import logging
import os
import random
import signal
import sys
import tempfile
import threading

import grpc

from wsbridge.v1 import bridge_pb2, bridge_pb2_grpc

log = logging.getLogger("echo_service")

# Codes after which reconnecting cannot help: the configuration is wrong. Every other failure
# of the stream (UNAVAILABLE while the bridge restarts, RESOURCE_EXHAUSTED when this consumer
# fell behind, ...) is retried with backoff from the checkpoint.
FATAL_CODES = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNIMPLEMENTED,
}

PUSH_TIMEOUT_SECONDS = 10

CHANNEL_OPTIONS = [
    # gRPC's own reconnect backoff grows to 120 s by default: cap it near ours, so the service
    # is back soon after a bridge restart.
    ("grpc.max_reconnect_backoff_ms", 5000),
    # An Events stream can be idle for long; keepalive pings notice a bridge host that vanished
    # without closing the connection. Five minutes is as often as a gRPC server accepts pings
    # on a connection without data unless it is configured otherwise.
    ("grpc.keepalive_time_ms", 300000),
    ("grpc.keepalive_timeout_ms", 20000),
]


class Checkpoint:
    """The sequence number of the last handled event, kept in one small file.

    A missing file means "nothing handled yet" (0, which the bridge reads as "live events only").
    Saves are atomic: a temporary file in the same folder, flushed to disk, then renamed over the
    old one, so a crash leaves either the old or the new number, never a torn file.
    """

    def __init__(self, path):
        self.path = path

    def load(self):
        try:
            with open(self.path, encoding="ascii") as f:
                text = f.read().strip()
        except FileNotFoundError:
            return 0
        return int(text) if text else 0

    def save(self, sequence):
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, temp = tempfile.mkstemp(prefix=".checkpoint-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(f"{sequence}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise


class Backoff:
    """Exponential backoff with full jitter: waits a random time up to a doubling ceiling."""

    def __init__(self, initial=0.1, maximum=5.0):
        self.initial = initial
        self.maximum = maximum
        self.ceiling = initial

    def next_delay(self):
        delay = random.uniform(0, self.ceiling)
        self.ceiling = min(self.ceiling * 2, self.maximum)
        return delay

    def reset(self):
        self.ceiling = self.initial


class StreamBroken(Exception):
    """A Push failed in a way that a reconnect may cure; the event stays unhandled."""


class EchoService:
    """The consume-answer-checkpoint loop.

    run() works on the calling thread until stop() is called (from any thread) or a fatal error;
    stop() cancels the open stream so run() returns promptly, after the event in hand (if any)
    has been answered and checkpointed.
    """

    def __init__(self, stub, metadata, group, checkpoint, reply_prefix):
        self._stub = stub
        self._metadata = metadata
        self._group = group
        self._checkpoint = checkpoint
        self._reply_prefix = reply_prefix
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._call = None  # the open Events call, guarded by _lock

    def stop(self):
        self._stopping.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()

    def run(self):
        """Returns the process exit code: 0 after stop(), 2 on a fatal error."""
        after = self._checkpoint.load()
        backoff = Backoff()
        while not self._stopping.is_set():
            request = bridge_pb2.EventsRequest(
                kinds=[bridge_pb2.EVENT_KIND_MESSAGE],
                group=self._group,
                start_after_sequence=after,
            )
            with self._lock:
                if self._stopping.is_set():
                    break
                self._call = self._stub.Events(request, metadata=self._metadata)
            log.info("events: group=%s start_after_sequence=%d", self._group, after)
            try:
                for event in self._call:
                    self._handle(event)
                    after = event.sequence
                    self._checkpoint.save(after)
                    backoff.reset()
                log.warning("events: the bridge ended the stream (draining?); reconnecting")
            except grpc.RpcError as error:
                code = error.code()
                if self._stopping.is_set() and code == grpc.StatusCode.CANCELLED:
                    break
                if code == grpc.StatusCode.OUT_OF_RANGE:
                    # The bridge no longer holds the events after our checkpoint (it restarted,
                    # or its history moved on): what it has lost cannot be answered.
                    log.warning("events: %s; continuing with live events", error.details())
                    after = 0
                    continue
                if code in FATAL_CODES:
                    log.error("events: %s: %s", code.name, error.details())
                    return 2
                log.warning("events: %s: %s", code.name, error.details())
            except StreamBroken as error:
                log.warning("push: %s; reconnecting from sequence %d", error, after)
            finally:
                with self._lock:
                    self._call.cancel()
                    self._call = None
            self._stopping.wait(backoff.next_delay())
        log.info("stopped at sequence %d", after)
        return 0

    def _handle(self, event):
        received = event.message.message
        if received.WhichOneof("payload") == "binary":
            reply = bridge_pb2.Message(binary=received.binary)
        else:
            reply = bridge_pb2.Message(text=self._reply_prefix + received.text)
        request = bridge_pb2.PushRequest(session_ids=[event.session_id], message=reply)
        try:
            response = self._stub.Push(
                request, metadata=self._metadata, timeout=PUSH_TIMEOUT_SECONDS
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                # This reply can never be sent (too large, say): skip it rather than retry forever.
                log.error("push to %s: %s; skipped", event.session_id, error.details())
                return
            raise StreamBroken(f"{error.code().name}: {error.details()}") from error
        if response.unknown_session_ids:
            log.info("sequence %d: session %s is gone", event.sequence, event.session_id)
        else:
            log.info("sequence %d: answered session %s", event.sequence, event.session_id)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="localhost:50051", help="the bridge's gRPC address")
    parser.add_argument(
        "--api_key",
        default=os.environ.get("WSBRIDGE_API_KEY", ""),
        help="sent as x-api-key (default: $WSBRIDGE_API_KEY; empty = none)",
    )
    parser.add_argument("--group", default="echo", help="the Events consumer group to join")
    parser.add_argument(
        "--checkpoint", required=True, help="file holding the last handled event's sequence"
    )
    parser.add_argument(
        "--reply_prefix", default="echo: ", help='put before each text reply (default "echo: ")'
    )
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    metadata = (("x-api-key", args.api_key),) if args.api_key else ()
    with grpc.insecure_channel(args.target, options=CHANNEL_OPTIONS) as channel:
        service = EchoService(
            bridge_pb2_grpc.BridgeStub(channel),
            metadata,
            args.group,
            Checkpoint(args.checkpoint),
            args.reply_prefix,
        )
        # The loop runs on a worker thread; the signal handlers (which Python runs on the main
        # thread, between two bytecodes of whatever it was doing) only note the signal, so they
        # never take a lock or enter gRPC from inside a call that holds one.
        exit_code = [1]
        signalled = []

        def work():
            exit_code[0] = service.run()

        signal.signal(signal.SIGTERM, lambda number, _: signalled.append(number))
        signal.signal(signal.SIGINT, lambda number, _: signalled.append(number))
        worker = threading.Thread(target=work, name="events")
        worker.start()
        while worker.is_alive() and not signalled:
            worker.join(0.2)
        service.stop()
        worker.join()
        return exit_code[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
