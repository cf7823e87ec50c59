// RedisClientOptions: how a RedisConnection or RedisSubscriber reaches Redis and how it retries;
// RedisStateChange: what it reports when its connection comes or goes.
//
// Reconnect policy: after a loss (or a failed attempt) the client waits `reconnect_initial`,
// then doubles the wait after each failed attempt up to `reconnect_max`; a successful connect
// (TCP up, AUTH and SELECT answered OK) resets it. An attempt that is not connected within
// `connect_timeout` counts as failed. There is no limit on attempts: the client retries until
// it is destroyed.
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
