// NodeHeartbeat: keeps this node in wsb:nodes (docs/cluster.md) with the time, on Redis's clock,
// after which the others may declare it lost: every node_timeout / 3 one script reads TIME and
// sets the node's score to now + node_timeout, and says whether the node was there, alive.
//
// A node that finds it was given up (its score was 0, "declared lost" by a LostNodeReaper, or it
// had been removed) while it was partitioned or stalled must not keep sessions the cluster
// believes closed: the heartbeat reports it to `on_lost`, whose owner (ClusterNode) closes every
// local session (1012); ClusterNode tells the SessionLog first (SessionLog::OnDeclaredLost), so
// nothing more is written for the sessions the reaper closed. Those closes write no second
// `closed` for a session the reaper already closed: the SessionLog's `closed` script removes the id
// from wsb:ns:<node> first and writes only if that removed it, as the reaper does. Its heartbeat
// has put it back in wsb:nodes by then, so the reaper stops at its next chunk and leaves the rest
// to the node.
//
// At Start(), before the node takes sessions: one beat (which also stops a reaper working on a
// previous run of this node id), then the sessions a previous run under the same id left in
// wsb:ns:<self> (it crashed) are closed like a lost node's (LostNodeReaper::ReapLeftovers). Only
// then does `ready` run: start the listeners after it.
//
// Thread-safety: Start() and Stop() from any thread; the beats, `ready` and `on_lost` run on the
// Redis thread and must not block. After Stop() returns none of them runs any more. REQUIRES:
// the Redis thread runs until Stop() returned.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cluster/cluster_keys.h"
#include "cluster/lost_node_reaper.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"

namespace wsbridge::cluster {

struct NodeHeartbeatOptions {
  std::string node_id;
  absl::Duration node_timeout = absl::Seconds(3);
  absl::Duration interval;  // zero: node_timeout / 3
};

class NodeHeartbeat {
 public:
  // REQUIRES: all outlive the heartbeat; `redis` runs on `redis_thread`; `reaper` closes this
  // node's leftovers at Start(). `on_lost` runs on the Redis thread each time a beat finds the
  // node was given up.
  NodeHeartbeat(IoThread& redis_thread, RedisConnection& redis, const ClusterKeys& keys,
                LostNodeReaper& reaper, NodeHeartbeatOptions options,
                std::function<void()> on_lost);
  ~NodeHeartbeat();  // Stop()
  NodeHeartbeat(const NodeHeartbeat&) = delete;
  NodeHeartbeat& operator=(const NodeHeartbeat&) = delete;

  // First beat and the leftovers of a previous run (retried every interval while Redis fails),
  // then `ready` once, then a beat every interval.
  void Start(std::function<void()> ready);
  void Stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
  bool stop_requested_ = false;  // Stop() ran; the controlling thread's
};

}  // namespace wsbridge::cluster
