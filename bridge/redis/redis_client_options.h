// RedisClientOptions: how a RedisConnection or RedisSubscriber reaches Redis and how it retries;
// RedisStateChange: what it reports when its connection comes or goes.
//
// Reconnect policy: after a loss (or a failed attempt) the client waits `reconnect_initial`,
// then doubles the wait after each failed attempt up to `reconnect_max`; a successful connect
// (TCP up, AUTH and SELECT answered OK, a PING answered) resets it. An attempt that is not
// connected within `connect_timeout` counts as failed. There is no limit on attempts: the client
// retries until it is destroyed.
//
// Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "redis/redis_url.h"

namespace wsbridge {

struct RedisClientOptions {
  RedisUrl url;
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration reconnect_initial = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(2);
  // The watchdog. A Redis that hangs (SIGSTOP, a network black hole that keeps TCP up) closes
  // nothing, so without it commands would wait forever. When the oldest command still waiting for
  // its answer was sent longer than `reply_timeout` ago (or, on a subscriber, the probe below), the
  // connection is treated as lost exactly like a closed one: every pending command completes
  // `unanswered` with "redis: <host:port> did not answer within <N> ms", on_state reports it,
  // reconnects follow. Checked every reply_timeout / 4, so a hang is noticed within 1.25 x the
  // bound. A command that blocks in Redis by design (XREAD BLOCK) needs a connection whose bound
  // covers its blocking time. Zero: no watchdog.
  //
  // 2 s by default: a healthy Redis answers in well under a millisecond and the slowest scripts of
  // cluster mode take tens of ms, so a healthy Redis never comes near it, not even one stalled
  // for a few hundred ms by a fork (BGSAVE) or a slow script; it is below the deadlines services
  // usually give API calls, so a caller gets UNAVAILABLE saying Redis did not answer rather than
  // its own DEADLINE_EXCEEDED; and below the default --node_timeout (3 s), so a node whose link is
  // black-holed starts buffering and reconnecting about when the others would give it up.
  absl::Duration reply_timeout = absl::Seconds(2);
  // A subscriber connection is idle by nature, so it is probed: every reply_timeout / 2 it sends
  // SUBSCRIBE of this channel (nothing is ever published on it; a PING in subscribed mode is
  // allowed by Redis, but hiredis 0.14's async API cannot route its answer there), and the
  // confirmation must come within reply_timeout. Cluster mode names it by its key prefix
  // (ClusterKeys::ProbeChannel, docs/cluster.md).
  std::string probe_channel = "wsb:probe";
};

struct RedisStateChange {
  // True: connected (and, for a subscriber, every channel it holds is subscribed again).
  // False: the connection was lost or an attempt failed; `error` says why.
  bool connected = false;
  // When !connected: hiredis's text ("Connection refused", "Server closed the connection") or
  // Redis's answer to AUTH or SELECT, with what was being done.
  std::string error;
  // Subscriber only, when connected after a loss: how many channels it subscribed to again.
  // Messages published on them while it was disconnected were missed.
  size_t resubscribed = 0;
};

}  // namespace wsbridge
