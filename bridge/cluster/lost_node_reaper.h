// LostNodeReaper: finds the nodes whose heartbeat ran out (wsb:nodes, docs/cluster.md) and closes
// their sessions for them, exactly once each: a `closed` event (code 1006, initiator TRANSPORT,
// reason "node <id> lost", node_id = the lost node) appended to the event log, and the session
// removed from the directory, both in one script.
//
// Every check interval (node_timeout / 3) it asks Redis, on Redis's clock, which nodes are past
// their time. For each (never this node itself) it takes a lease (wsb:reap:<node>, SET PX) so that
// usually one survivor works on it, and marks the node declared lost (its score in wsb:nodes
// becomes 0: a node that comes back learns from its next heartbeat that it was given up, see
// node_heartbeat.h). Then, in chunks (500 by default): the ids from wsb:ns:<node> with their
// users, each `closed` event built here, and ONE script per chunk that, for each id, removes it
// from wsb:ns:<node> and only if that removed it appends the event and deletes the session's hash
// and its entries in wsb:sessions, wsb:us:<user> and wsb:ts:<topic>. So two reapers racing, a
// reaper that dies mid-way (its lease runs out and another takes over) and the node itself
// closing the same session all produce one `closed` per session. When the node's set is empty,
// the node leaves wsb:nodes (only if still declared lost) and the lease is released.
//
// The node, should it come back, writes nothing more for the sessions closed here: its SessionLog
// learns that it was given up (from the score 0 or the tombstone, and from its heartbeat) before
// it replays or reconciles anything (docs/cluster.md "SessionLog", "Given up").
//
// A chunk stops the work when the node's score is no longer 0 (it came back: it closes its own
// sessions) or the lease is another reaper's.
//
// Thread-safety: Start(), Stop() and ReapLeftovers() from any thread; all the work runs on the
// Redis thread. After Stop() returns no callback of the reaper runs any more (commands in flight
// complete into nothing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cluster/cluster_keys.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"

namespace wsbridge::cluster {

struct LostNodeReaperOptions {
  std::string node_id;  // this node: never reaped by itself as lost
  absl::Duration node_timeout = absl::Seconds(3);
  absl::Duration check_interval;    // zero: node_timeout / 3
  absl::Duration lease;             // zero: node_timeout
  size_t chunk_size = 500;          // sessions per script
  uint64_t event_history = 100000;  // the event log's XADD MAXLEN ~
  // Test hook, on the Redis thread after each chunk script answered: the node and how many
  // sessions that chunk closed.
  std::function<void(const std::string& node, int64_t closed)> on_chunk;
};

class LostNodeReaper {
 public:
  // REQUIRES: all outlive the reaper; `redis` runs on `redis_thread`.
  LostNodeReaper(IoThread& redis_thread, RedisConnection& redis, const ClusterKeys& keys,
                 LostNodeReaperOptions options);
  ~LostNodeReaper();  // Stop()
  LostNodeReaper(const LostNodeReaper&) = delete;
  LostNodeReaper& operator=(const LostNodeReaper&) = delete;

  // Starts the periodic checks (the first one at once).
  void Start();
  // Ends them; in-flight work is dropped (a chunk already sent completes in Redis, atomically).
  // When called off the Redis thread, waits for the Redis thread to take note.
  void Stop();

  // Closes, as for a lost node, every session left in wsb:ns:<node>, whatever wsb:nodes says and
  // without a lease: a node's own leftovers from a previous run under the same id (crashed). Does
  // not touch wsb:nodes. `done` runs once on the Redis thread: OK once the set is empty, or the
  // first Redis error.
  void ReapLeftovers(std::string node, std::function<void(absl::Status)> done);

 private:
  struct Core;
  std::shared_ptr<Core> core_;
  bool stop_requested_ = false;  // Stop() ran; the controlling thread's
};

}  // namespace wsbridge::cluster
