// SessionContext: what every session of one I/O thread shares: the thread, its hub shard, the
// node-wide connection limiter, where sessions report their events, the clock, the limits from
// the configuration and an id generator, and the buffers the thread's sessions share.
//
// Thread-safety: one instance per I/O thread, used only on that thread (the limiter and the
// event sink behind it are themselves thread-safe). It outlives every session of its thread.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "common/session_ids.h"
#include "events/session_event_sink.h"
#include "hub/connection_limiter.h"
#include "hub/hub.h"
#include "hub/routing_index.h"
#include "runtime/clock.h"
#include "runtime/io_thread.h"
#include "ws/send_queue.h"
#include "ws/write_flusher.h"

namespace wsbridge {

struct SessionLimits {
  uint64_t max_message_bytes = 1 << 20;  // inbound frames larger than this close with 1009
  SendQueueLimits send_queue;
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration close_timeout = absl::Seconds(5);
  absl::Duration write_timeout = absl::Seconds(10);  // a write stalled this long: slow consumer
  absl::Duration idle_timeout = absl::Seconds(60);   // silent this long: dropped (0 = never)
  absl::Duration ping_interval = absl::Seconds(25);  // silent this long: pinged (0 = never)
  uint32_t client_messages_per_second = 0;           // 0: no inbound rate limit
  uint32_t client_messages_burst = 0;                // 0: same as per second
  bool forward_client_messages = true;               // publish `message` events
};

struct SessionContext {
  IoThread& thread;
  RoutingIndex& routing;  // the hub shard of `thread` (shard number thread.index())
  Hub& hub;               // sessions register through it (the shard and the user directory)
  ConnectionLimiter& limiter;
  const SessionLimits& limits;
  SessionEventSink& events;  // node-wide, safe from every thread (events/event_publisher.h)
  const Clock& clock;        // for pings, idle and write timeouts, the inbound rate limit
  SessionIdGenerator ids{};
  // The open sessions of this thread, for the liveness sweep (ws/liveness_sweeper.h).
  std::vector<class Session*> live_sessions{};
  // Sessions with frames to write, flushed together (ws/write_flusher.h).
  WriteFlusher flusher{};
  // Where every session of this thread reads its socket into; a session keeps bytes only while
  // a frame is incomplete, so idle sessions hold no read buffer.
  std::vector<char> read_scratch{};
};

}  // namespace wsbridge
