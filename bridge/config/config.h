// Config: every setting of one wsbridge process, as a plain value, grouped by the component that
// reads it (the way LevelDB's Options is one documented struct). Filled in by ParseFlags()
// (config/flags.h) from the command line and WSBRIDGE_* environment variables; each field's
// comment gives its meaning, its flag when the name differs, and its default (the value a
// default-constructed Config holds). The ranges named below are the ones ParseFlags() enforces;
// code that builds a Config by hand (tests) is trusted to stay inside them.
//
// Each group is defined here once and components take a const reference to theirs (a session
// reads config.session, the event bus config.events, ...), so adding a setting touches two
// places: its field below and its entry in the flag table (config/flags.cc). A setting that
// several components need lives in one group and they all read it there (max_message_bytes:
// sessions and the gRPC API; max_topics_per_session: the handshake and the hub).
//
// This header includes nothing of ours, so any folder may include it.
//
// Thread-safety: plain value types with no synchronization of their own. Build a Config on one
// thread, then share it read-only (e.g. by const reference) with as many threads as needed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wsbridge {

// Where the node listens.
struct ListenerOptions {
  // Address every listener binds to. Default "0.0.0.0" (all IPv4 interfaces).
  std::string bind = "0.0.0.0";
  // Port of the gRPC API. 0 = let the OS pick a free port. Default 50051.
  uint16_t grpc_port = 50051;
  // Port browsers connect their WebSockets to. 0 = let the OS pick a free port. Default 8080.
  uint16_t ws_port = 8080;
  // Port of the admin HTTP endpoint. 0 = let the OS pick a free port. Default 9090.
  uint16_t admin_port = 9090;
  // HTTP path on ws_port where WebSocket upgrades are accepted. Starts with '/'. Default "/ws".
  std::string ws_path = "/ws";
  // Number of I/O threads. 0 = one per core (std::thread::hardware_concurrency). Default 0;
  // at most 1024.
  uint32_t io_threads = 0;
  // Directory whose files are served over plain HTTP (GET, HEAD) on ws_port at every path other
  // than ws_path, so a page and its WebSocket share one origin (ws/static_files.h). Symlinks
  // inside it are followed; targets that climb out of it are refused. Empty = off: other paths
  // get 404. Flag --static_dir. Default empty.
  std::string static_dir;
  // wss: PEM certificate chain (leaf first) and private key that ws_port presents; then every
  // connection on ws_port speaks TLS (1.2 or 1.3), static files included. Both or neither.
  // Reloaded on SIGHUP (new connections get the new certificate; open sessions keep theirs).
  // Flags --ws_tls_cert, --ws_tls_key. Default empty (plain ws).
  std::string ws_tls_cert;
  std::string ws_tls_key;
  // gRPC over TLS: PEM certificate chain and private key of grpc_port. Both or neither. gRPC
  // reloads them itself when the files change (polled every minute). Flags --grpc_tls_cert,
  // --grpc_tls_key. Default empty (plaintext gRPC).
  std::string grpc_tls_cert;
  std::string grpc_tls_key;
  // Mutual TLS for gRPC: PEM bundle of the CAs whose certificates clients must present; a client
  // without one, or with one from another CA, fails the TLS handshake. Needs grpc_tls_cert.
  // Flag --grpc_tls_client_ca. Default empty (no client certificate asked).
  std::string grpc_tls_client_ca;
};

// Who may open a session, and how much of the node one user or session may hold. Read by the
// handshake (ws/handshake_policy.h), the connection limiter and the hub.
struct AdmissionOptions {
  // Shared secret for HS256-signed JWTs. Empty = HS256 tokens are not accepted. Default empty.
  std::string jwt_secret;
  // Path to a PEM public key for verifying JWTs: an RSA key means RS256, an EC P-256 key means
  // ES256. Empty = none. Not read by ParseFlags(); the server loads (and checks) the file.
  // Default empty.
  std::string jwt_public_key;
  // Whether a browser without a token may connect (it can then use public_topics only).
  // Default false.
  bool allow_anonymous = false;
  // Topics any session, anonymous ones included, may subscribe to. Default empty.
  std::vector<std::string> public_topics;
  // Accepted values of the Origin header on WebSocket upgrades (exact match). Empty = any Origin
  // is accepted. Default empty.
  std::vector<std::string> allowed_origins;
  // Sessions this node holds in total. 0 = unlimited. Default 0.
  uint32_t max_sessions = 0;
  // Sessions one user may hold on this node. 0 = unlimited. Default 0.
  uint32_t max_sessions_per_user = 0;
  // Topics one session may be subscribed to, at the handshake and through Subscribe. At least 1.
  // Default 256.
  uint32_t max_topics_per_session = 256;
};

// The gRPC API.
struct ApiOptions {
  // Key that gRPC callers must present. Empty = the gRPC API needs no key. Default empty.
  std::string api_key;
  // Pushes one PushBatch call may carry (flag --max_batch_items); more is INVALID_ARGUMENT. Its
  // bytes are bounded by the gRPC receive limit. At least 1. Default 1000.
  uint32_t max_batch_items = 1000;
};

// The bounds of one session's send queue (ws/send_queue.h). A session whose queue is full is
// closed with 1013 (slow consumer).
struct SendQueueLimits {
  // Bytes of outbound messages that may wait (flag --send_queue_bytes). At least 1024.
  // Default 1 MiB.
  uint64_t max_bytes = 1 << 20;
  // Messages that may wait (flag --send_queue_messages). At least 1. Default 1024.
  uint32_t max_messages = 1024;
};

// permessage-deflate (RFC 7692, ws/permessage_deflate.h), always without context takeover: each
// message is compressed once and the frame shared by every session that negotiated it.
struct CompressionOptions {
  // Whether to accept a browser's permessage-deflate offer (flag --compression). false = never
  // negotiate it. Default true.
  bool enabled = true;
  // Messages to browsers shorter than this go uncompressed even to sessions that negotiated
  // deflate (flag --compression_min_bytes). Any size. Default 256.
  uint64_t min_bytes = 256;
};

// One WebSocket session: its limits, its timers and what becomes of what the browser sends.
// Read by every session (ws/session_context.h); the gRPC API reads max_message_bytes too.
struct SessionOptions {
  // Largest WebSocket message, in bytes, in both directions: inbound frames past it close the
  // session with 1009, and the API refuses to push a larger one. 1..64 MiB. Default 1 MiB.
  uint64_t max_message_bytes = 1 << 20;
  SendQueueLimits send_queue;

  // --- Timing (every duration is at most 24h) ------------------------------------------------
  // How long a browser may take to complete the WebSocket upgrade. > 0. Default 10s.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // How long a close handshake may take before the socket is dropped. > 0. Default 5s.
  absl::Duration close_timeout = absl::Seconds(5);
  // A write to a browser that makes no progress this long marks it a slow consumer (closed with
  // 1013) even when its queue is not full. > 0. Default 10s.
  absl::Duration write_timeout = absl::Seconds(10);
  // A peer silent this long is closed. 0 = never. Default 60s.
  absl::Duration idle_timeout = absl::Seconds(60);
  // Interval of protocol pings sent to idle peers. 0 = no pings. Default 25s.
  absl::Duration ping_interval = absl::Seconds(25);

  // --- Coalescing of streams (ws/stream_coalescing.h) ------------------------------------------
  // A session whose messages come less than this apart is streaming: while it streams, the
  // kernel may hold a frame until the browser has acknowledged the ones before it (Nagle's
  // algorithm) and send them together; any other session's frames leave at once (TCP_NODELAY).
  // 0 = never coalesce. Default 15ms (sessions getting more than ~66 messages/s): below that a
  // browser that keeps up gains nothing and the bound's check would cost its syscall.
  absl::Duration coalesce_gap = absl::Milliseconds(15);
  // Longest a streaming session's frames may wait on a browser that acknowledges nothing: what
  // the kernel holds while the browser has sent no ACK for this long is pushed (a browser that
  // delays its acknowledgements, as Windows does for up to 200 ms, cannot stall a stream; one
  // that acknowledges as it reads releases them itself). > 0. Default 20ms.
  absl::Duration coalesce_max_hold = absl::Milliseconds(20);

  // --- Browser -> bridge messages --------------------------------------------------------------
  // Inbound messages per second allowed per session, pings included; past it the session is
  // closed with 1008. 0 = unlimited. Default 100: far above what a person types or a page
  // reports, far below what would flood the Events streams.
  uint32_t client_messages_per_second = 100;
  // Burst size of that rate limit. 0 = same as client_messages_per_second. Default 200.
  uint32_t client_messages_burst = 200;
  // Whether messages browsers send become events for gRPC Events() streams. Default true.
  bool forward_client_messages = true;

  // --- Compression -----------------------------------------------------------------------------
  CompressionOptions compression;
};

// The event bus (events/event_bus.h) and its Events() streams.
struct EventOptions {
  // Events this node keeps for replay to Events() streams that resume (flag --event_history).
  // Default 100000.
  uint64_t history = 100000;
  // Events one Events() stream may lag behind the node before it is ended with
  // RESOURCE_EXHAUSTED (flag --events_stream_buffer). At least 1. Default 100000: streams
  // without a group lag in a log they share, so lagging costs a stream little, and a burst of
  // browser messages outruns any one gRPC stream for a while (the byte bound below is what keeps
  // memory in check).
  uint64_t stream_buffer = 100000;
  // Bytes (protobuf size) of events kept for replay, besides the count: browsers choose the size
  // of their messages (flag --event_history_bytes). 0 = keep none. Default 64 MiB.
  uint64_t history_bytes = 64 << 20;
  // Bytes (protobuf size) of the events one Events() stream may lag behind, besides the count,
  // before it is ended with RESOURCE_EXHAUSTED; one event is always allowed, however large
  // (flag --events_stream_buffer_bytes). At least 1024. Default 16 MiB.
  uint64_t stream_buffer_bytes = 16 << 20;
  // Events() streams this node serves at once; one more is refused with RESOURCE_EXHAUSTED
  // (flag --max_events_streams). At least 1. Default 4096.
  uint32_t max_streams = 4096;
};

// The process as a whole.
struct NodeOptions {
  // Name of this node, reported in events. Empty = generate one at startup. Default empty.
  std::string node_id;
  // Seconds a shutdown waits for sessions to close before dropping them. Default 10.
  uint32_t drain_seconds = 10;
  // Log verbosity: one of trace, debug, info, warn, error, off (always lowercase). Default "info".
  // Session lifecycle lines (opened, closed, handshake refused) are info: "warn" silences them.
  std::string log_level = "info";
  // Shape of log lines on stderr: "text" (spdlog's line, then key=value fields) or "json" (one
  // JSON object per line: time, level, logger, message and the fields; runtime/log_format.h).
  // Default "text".
  std::string log_format = "text";

  // --- File descriptors ------------------------------------------------------------------------
  // Descriptors kept free for everything but WebSocket connections (gRPC connections, the admin
  // port, gRPC's and our own event fds, logs): WebSocket connections (sessions plus handshakes
  // under way) beyond the descriptor limit minus this get 503 at once. 0 = automatic:
  // max(128, 10% of the limit), at most half of it. 0-1048576. Default 0.
  uint32_t fd_reserve = 0;
};

// Cluster mode (design §6, docs/cluster.md): nodes that act as one bridge through Redis.
struct ClusterOptions {
  // redis://[[user]:password@]host[:port][/db] of the Redis the nodes share (flag --redis_url,
  // env WSBRIDGE_REDIS_URL). Empty = a single node: nothing of cluster mode runs and no Redis is
  // needed. Checked when the node starts (redis/redis_url.h). Default empty.
  std::string redis_url;
  // A node whose heartbeat is older than this is lost: one survivor emits `closed` (1006,
  // TRANSPORT) for each of its sessions and removes them from the directory. A node heartbeats
  // three times per period (flag --node_timeout). Default 3s.
  absl::Duration node_timeout = absl::Seconds(3);
  // Bytes of session events and directory changes a node keeps for Redis while it cannot take
  // them (an outage, or Redis slower than the node), and again of those sent and not yet
  // answered (flag --cluster_buffer_bytes). Past it the oldest message/error events are dropped
  // and counted; opened/closed only when they alone fill it (docs/cluster.md). At least 64 KiB.
  // Default 64 MiB.
  uint64_t buffer_bytes = uint64_t{64} << 20;
};

struct Config {
  ListenerOptions listeners;
  AdmissionOptions admission;
  ApiOptions api;
  SessionOptions session;
  EventOptions events;
  NodeOptions node;
  ClusterOptions cluster;
};

}  // namespace wsbridge
