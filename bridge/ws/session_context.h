// SessionContext: what every session of one I/O thread shares: the thread, its hub shard, the
// node-wide connection limiter, where sessions report their events, the clock, the session
// settings (config.session) and an id generator, and the buffers and zlib streams the thread's
// sessions share.
//
// Thread-safety: one instance per I/O thread, used only on that thread (the limiter and the
// event sink behind it are themselves thread-safe). It outlives every session of its thread.
#pragma once

#include <cstdint>
#include <vector>

#include "common/session_ids.h"
#include "config/config.h"
#include "events/session_event_sink.h"
#include "hub/connection_limiter.h"
#include "hub/hub.h"
#include "metrics/io_thread_metrics.h"
#include "runtime/clock.h"
#include "runtime/io_thread.h"
#include "ws/coalescing_sweeper.h"
#include "ws/permessage_deflate.h"
#include "ws/send_queue.h"
#include "ws/write_flusher.h"

namespace wsbridge {

struct SessionContext {
  IoThread& thread;
  Hub& hub;  // sessions register through it (the shard and the user directory)
  ConnectionLimiter& limiter;
  const SessionOptions& options;  // the node's config.session
  SessionEventSink& events;       // node-wide, safe from every thread (events/event_publisher.h)
  const Clock& clock;             // for pings, idle and write timeouts, the inbound rate limit
  // This thread's counters for /metrics: written by this thread only (metrics/single_writer.h).
  metrics::IoThreadMetrics& metrics;
  SessionIdGenerator ids{};
  // The open sessions of this thread, for the liveness sweep (ws/liveness_sweeper.h).
  std::vector<class Session*> live_sessions{};
  // Sessions with frames to write, flushed together (ws/write_flusher.h).
  WriteFlusher flusher{};
  // Bounds how long the kernel holds streaming sessions' frames (ws/stream_coalescing.h).
  CoalescingSweeper coalescing{};
  // Where every session of this thread reads its socket into; a session keeps bytes only while
  // a frame is incomplete, so idle sessions hold no read buffer.
  std::vector<char> read_scratch{};
  // permessage-deflate without context takeover needs no zlib state per session: messages are
  // compressed (once, for every session of every thread: ws/payload.h) and inflated with these,
  // reset for each message. Each makes its zlib stream on first use.
  ws::MessageDeflater deflater{};
  ws::MessageInflater inflater{};
};

}  // namespace wsbridge
