// CounterExchange: the live counters (SessionStats) of any node's sessions, for a cluster node's
// GetSession / ListSessions (docs/cluster.md "Directory reads"). Redis keeps no counters: each
// node's hub has its own sessions'. So for the sessions another node holds, the asking node
// PUBLISHes one COUNTERS_REQUEST (request id, asking node, the ids) on that node's channel
// (wsb:n:<node>, which every node always listens to), and the holder answers with one
// COUNTERS_REPLY on the asker's channel, read from its hub on its I/O threads (Hub::CountersOf:
// the Redis thread never touches a session). This node's own sessions are read from its hub
// directly, the same way.
//
// A holder that does not answer within kReplyPatience (stopped, overloaded, cut off from Redis):
// its sessions keep zero counters and the answer says nothing is wrong; logged at info once per
// node until it answers again. A request that no node receives (PUBLISH answers 0: nobody
// listens to that node's channel, the node is gone) or that Redis refused ends at once the same
// way. Sessions a holder no longer holds are left out of its reply (zero counters).
//
// Bounds: a request names at most kMaxIdsPerRequest ids (a ListSessions page is at most 1000).
// Requests waiting for replies are at most kMaxPending and kMaxPendingBytes (their serialized
// size); past either, a request is not sent and its sessions keep zero counters (logged once per
// episode). A holder answers at most kMaxPending requests / kMaxPendingBytes at a time; past
// that it ignores a request (the asker's wait runs out), and it ignores a request of more than
// kMaxIdsPerRequest ids.
//
// Thread-safety: Fetch, OnEnvelope and Detach run on the Redis thread, which owns all state
// here; completions run on the Redis thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "broker/types.h"
#include "cluster/cluster_keys.h"
#include "hub/hub.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"

namespace wsbridge::internal::v1 {
class Envelope;
}

namespace wsbridge::cluster {

class CounterExchange {
 public:
  // How long an asker waits for a holder's reply.
  static constexpr absl::Duration kReplyPatience = absl::Seconds(1);
  static constexpr size_t kMaxIdsPerRequest = 1000;
  // Requests waiting for replies (asker), and requests being answered (holder), each.
  static constexpr size_t kMaxPending = 256;
  static constexpr size_t kMaxPendingBytes = size_t{4} << 20;

  using CountersById = absl::flat_hash_map<std::string, SessionCounters>;
  using Done = std::function<void(CountersById)>;

  // All outlive the exchange. `hub` is this node's; `commands` runs on `redis_thread`.
  CounterExchange(IoThread& redis_thread, RedisConnection& commands, const ClusterKeys& keys,
                  std::string node_id, Hub& hub);
  ~CounterExchange();
  CounterExchange(const CounterExchange&) = delete;
  CounterExchange& operator=(const CounterExchange&) = delete;

  // Redis thread: `done` gets the counters of those of `session_ids` that `node` holds (and
  // answered for in time). REQUIRES: session_ids.size() <= kMaxIdsPerRequest.
  void Fetch(const std::string& node, std::vector<std::string> session_ids, Done done);

  // Redis thread: a COUNTERS_REQUEST (answer it) or COUNTERS_REPLY (complete its fetch) that
  // arrived on this node's channel.
  void OnEnvelope(const internal::v1::Envelope& envelope);

  // Redis thread, at shutdown: completes every waiting fetch with what it has; nothing is sent
  // from now on.
  void Detach();

 private:
  struct Pending;

  void OnRequest(const internal::v1::Envelope& request);
  void OnReply(const internal::v1::Envelope& reply);
  void Finish(uint64_t request_id, CountersById counters);
  void TimedOut(uint64_t request_id);

  IoThread& thread_;
  RedisConnection& commands_;
  const ClusterKeys& keys_;
  const std::string node_id_;
  Hub& hub_;
  // Redis thread only.
  uint64_t last_request_id_ = 0;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Pending>> pending_;
  size_t pending_bytes_ = 0;
  bool refusing_ = false;  // over the asker's bound: logged once until it empties
  size_t serving_ = 0;     // requests of other nodes waiting for the hub
  size_t serving_bytes_ = 0;
  absl::flat_hash_set<std::string> silent_nodes_;  // timed out since they last answered
  bool detached_ = false;
};

}  // namespace wsbridge::cluster
