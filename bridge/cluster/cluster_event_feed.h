// ClusterEventFeed: the read side of the cluster's event log (docs/cluster.md "The event log",
// "ClusterEventFeed"). It tails `wsb:events` into this node's EventBus, so an Events stream on
// any node sees the events of every node's sessions, in log order, with `sequence` = the entry
// id; and it routes Events groups across nodes.
//
//   - Start: the bus history is filled from the log's tail (newest entries, as many as the
//     history holds in events and bytes), so start_after_sequence works on any node for anything
//     still in that window. Then it tails: a Lua script reads up to `batch` entries after the
//     last one seen and checks, in the same step, that none was trimmed away unread; when it
//     finds nothing new, XREAD BLOCK waits (up to `block`) for the next entry.
//   - Redis outage: it retries every `retry` and continues after the last entry seen: no gap, no
//     duplicate. When the log lost entries it had not read (trimmed past it, or Redis restarted
//     without its data), it never skips silently: every Events stream of the node is cut off
//     (RESOURCE_EXHAUSTED, EventBus::Interrupt), the history is dropped (a resume from before the
//     loss gets OUT_OF_RANGE), and it starts again from the log's tail.
//   - Groups: membership changes are entries of the log (field `g`, a GroupChange written by the
//     group script), so every node applies them at the same position and computes the same owner
//     of each event (GroupAssignment); a node queues an event to a group member only if that
//     member is one of its own streams. Each member's acknowledged sequence (EventBus) is written
//     to `wsb:g:<group>:acked` every `tick`; a stream that ends writes its leave with its exact
//     acknowledgement; members of nodes that are lost (missing from `wsb:nodes`, or expired by
//     Redis's clock) get a leave written by whichever node notices first (idempotent). At a leave,
//     the events after the leaver's acknowledgement that it owned are replayed, in log order, to
//     the members that own them now, ahead of newer events: at-least-once, per-session order.
//
// Connections: an own RedisConnection for reading (a blocking XREAD must not hold up the
// pipelined command connection) and the node's command connection for writes.
//
// Thread-safety: construct, Start and destroy from any thread but the Redis thread (the
// destructor waits for it); all state lives on the Redis thread. The bus's group hooks post to
// it. REQUIRES: the Redis thread runs until the feed is destroyed; `commands` and `bus` outlive
// the feed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "cluster/cluster_keys.h"
#include "config/config.h"
#include "events/event_bus.h"
#include "redis/redis_client_options.h"

namespace wsbridge {
class IoThread;
class RedisConnection;
}  // namespace wsbridge

namespace wsbridge::cluster {

class ClusterEventFeed {
 public:
  struct Options {
    absl::Duration block = absl::Seconds(1);         // XREAD BLOCK while there is nothing new
    size_t batch = 1000;                             // entries per read
    absl::Duration tick = absl::Seconds(1);          // acks written, lost members checked, retries
    absl::Duration retry = absl::Milliseconds(200);  // after a failed read or write
  };

  // What it has done, for tests and metrics.
  struct Stats {
    bool started = false;         // the history was filled; tailing
    std::string last_id;          // the last entry read
    uint64_t entries = 0;         // entries read (backfill included)
    uint64_t losses = 0;          // times the log had lost entries it had not read
    uint64_t skipped_fields = 0;  // unknown or malformed entry fields
  };

  // `redis`: how to open its own reading connection. `commands`: the node's command connection.
  // `events`: the bus's options (the history bounds the backfill). `node_id` names this node in
  // group members and in `wsb:nodes`.
  ClusterEventFeed(IoThread& redis_thread, RedisConnection& commands, RedisClientOptions redis,
                   EventBus& bus, const EventOptions& events, ClusterKeys keys, std::string node_id,
                   Options options);
  ClusterEventFeed(IoThread& redis_thread, RedisConnection& commands, RedisClientOptions redis,
                   EventBus& bus, const EventOptions& events, ClusterKeys keys, std::string node_id)
      : ClusterEventFeed(redis_thread, commands, std::move(redis), bus, events, std::move(keys),
                         std::move(node_id), Options{}) {}
  ~ClusterEventFeed();
  ClusterEventFeed(const ClusterEventFeed&) = delete;
  ClusterEventFeed& operator=(const ClusterEventFeed&) = delete;

  // Takes over the bus's groups (EventBus::RouteGroupsExternally) and starts: backfill, then
  // tail. `started` (optional) runs on the Redis thread once the history is filled; until then
  // Subscribe with start_after_sequence may be OUT_OF_RANGE, so serve Events after it.
  void Start(std::function<void()> started = nullptr);

  Stats stats() const;

  class Core;  // the state on the Redis thread

 private:
  IoThread& thread_;
  std::shared_ptr<Core> core_;
};

}  // namespace wsbridge::cluster
