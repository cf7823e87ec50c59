// SessionLog: this node's sessions, written into Redis (docs/cluster.md "SessionLog"). It is the
// node's EventOutlet in cluster mode: every event the EventPublisher builds (opened, message,
// error, closed) is appended to the cluster's event log `wsb:events`, and, for `opened` and
// `closed`, the session directory (`wsb:s:<id>`, `wsb:sessions`, `wsb:us:<user>`,
// `wsb:ts:<topic>`, `wsb:ns:<node>`) is changed in the same Lua script, so the directory is at
// every moment exactly the log replayed. As a HubObserver it hears each topic change Subscribe and
// Unsubscribe make and rewrites the session's topics in the directory.
//
// Order. Each report is posted from its I/O thread to the Redis thread, so the writes of one I/O
// thread (all the events and topic changes of its sessions) reach Redis in the order they were
// made. Writes are pipelined: each is sent as soon as it is taken, never after waiting for the
// reply of the one before (scripts by EVALSHA; NOSCRIPT -> EVAL).
//
// Outages. While the command connection is down, writes wait in a WriteBacklog bounded by
// `buffer_bytes` (message/error events are dropped first, oldest first, and counted); writes sent
// but not yet answered are bounded by `buffer_bytes` as well (past it, new writes wait in the
// backlog). When the connection is back (OnRedisState), the scripts are loaded again, the backlog
// is replayed in order, then the directory is reconciled with the sessions this node holds (a
// record of them is kept on the Redis thread: their `info`): held sessions are rewritten (and
// written with an `opened` entry when the directory lost them), and sessions the directory says
// this node holds but it no longer does get a `closed` entry (1006, TRANSPORT, "closed during redis
// outage") and leave the directory. What an outage can lose is listed in docs/cluster.md.
//
// Given up. When the cluster gave this node up (a LostNodeReaper closed its sessions while it was
// cut off or silent), nothing more is written for the sessions it held then (no `opened` again,
// no message, no second `closed`): the SessionLog learns it first thing at every reconnect, before
// it replays or reconciles, and from OnDeclaredLost (docs/cluster.md "Given up").
//
// Thread-safety: Publish() and the HubObserver callbacks are called on the I/O threads (any
// number at once; each posts to the Redis thread and returns). OnRedisState() runs on the Redis
// thread. stats() and the counters are safe from any thread. All other state belongs to the
// Redis thread.
//
// Lifetime: the RedisConnection and the Redis thread must outlive the SessionLog, and the thread
// must be running when it is destroyed; the destructor (from any thread) waits until the Redis
// thread has let go of the connection, after which nothing of it touches Redis again. Writes not
// yet sent are then discarded.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cluster/cluster_keys.h"
#include "events/event_outlet.h"
#include "hub/hub_observer.h"
#include "redis/redis_client_options.h"

namespace wsbridge {
class IoThread;
class RedisConnection;
}  // namespace wsbridge

namespace wsbridge::cluster {

struct SessionLogOptions {
  // This node's id: stamped on every event (`node_id`), the `node` of its sessions' hashes, and
  // the name of its set `wsb:ns:<node>`.
  std::string node_id;
  // Entries the event log keeps: `XADD MAXLEN ~ history` (config.events.history; 0 is taken as
  // 1). Approximate trimming: Redis keeps at least this many, a little more.
  uint64_t history = 100000;
  // Bytes of writes waiting for Redis, and again of writes sent but not answered
  // (config.cluster.buffer_bytes).
  uint64_t buffer_bytes = uint64_t{64} << 20;
  // Sessions per reconciling script after an outage.
  size_t reconcile_chunk = 500;
};

class SessionLog final : public EventOutlet, public HubObserver {
 public:
  // Counters, each a snapshot (relaxed loads); writes are counted when their reply comes.
  struct Stats {
    bool live = false;              // connected, scripts loaded, sending
    uint64_t backlog_writes = 0;    // waiting to be sent
    uint64_t backlog_bytes = 0;     // their cost (WriteBacklog::Cost)
    uint64_t in_flight_writes = 0;  // sent, reply not yet here
    uint64_t in_flight_bytes = 0;
    uint64_t peak_in_flight_writes = 0;  // the most ever in flight at once: pipelining at work
    uint64_t written = 0;      // events and topic changes answered OK (also one that found nothing
                               // to do); the reconciliation's scripts are not counted
    uint64_t failed = 0;       // answered with an error by Redis (logged)
    uint64_t unconfirmed = 0;  // in flight when the connection was lost: may or may not have run
    uint64_t dropped_events = 0;     // message/error events dropped from a full backlog
    uint64_t dropped_lifecycle = 0;  // opened/closed/topic writes dropped (reconcile repairs)
    uint64_t outages = 0;            // connection losses seen
    uint64_t reconciles = 0;         // reconciliations finished (after an outage)
    uint64_t given_up_writes = 0;    // message/error events not sent: their session was given
                                     // up with the node (OnDeclaredLost)
  };

  // `connection`: the node's command connection. The SessionLog starts as if it were down (it
  // buffers) until OnRedisState reports it connected.
  SessionLog(IoThread& redis_thread, RedisConnection& connection, ClusterKeys keys,
             SessionLogOptions options);
  ~SessionLog() override;
  SessionLog(const SessionLog&) = delete;
  SessionLog& operator=(const SessionLog&) = delete;

  // EventOutlet, on an I/O thread: stamps the event (time, node id, no sequence), serializes it
  // there and posts it to the Redis thread.
  void Publish(v1::Event event) override;

  // HubObserver, on an I/O thread. Held topics and users are the InterestTracker's business: the
  // SessionLog ignores them.
  void OnTopicHeld(size_t /*shard*/, const std::string& /*topic*/, bool /*held*/) override {}
  void OnUserHeld(size_t /*shard*/, const std::string& /*user*/, bool /*held*/) override {}
  void OnSessionTopicsChanged(size_t shard, const SessionInfo& session,
                              const std::vector<std::string>& topics) override;

  // On the Redis thread: every state change of `connection` (its on_state). Call it once with
  // {connected = true} if the connection was already up when the SessionLog was made.
  void OnRedisState(const RedisStateChange& change);

  // On the Redis thread: the node's heartbeat found that the cluster gave this node up
  // (NodeHeartbeat's on_lost). Call it before the node closes its sessions. The sessions held
  // then whose `opened` reached Redis were closed by a reaper: nothing more is written for them
  // (their `closed` only if no reaper wrote one). The SessionLog also learns this by itself at
  // every (re)connect, before it replays and reconciles; the heartbeat's report of the same loss
  // then changes nothing. See docs/cluster.md "SessionLog".
  void OnDeclaredLost();

  // Blocks the caller (not the Redis thread, not an I/O thread) until every write taken so far
  // has been answered by Redis (or found unanswered), or `timeout` passes; true if it was. For a
  // drain: after the last session closed, so its `closed` is in the log before the node leaves.
  bool AwaitFlushed(absl::Duration timeout);

  Stats stats() const;

  // Stops writing (what is held is dropped) and lets the destructor return at once: for a node
  // that stops its Redis thread before the I/O threads that report here are gone. REQUIRES: on
  // the Redis thread. Publish and the HubObserver calls do nothing afterwards.
  void Detach();
  uint64_t dropped_events() const { return stats().dropped_events; }

 private:
  class Writer;

  IoThread& redis_thread_;
  const std::string node_id_;
  std::shared_ptr<Writer> writer_;     // Redis-thread state, kept alive by the tasks that use it
  std::atomic<bool> detached_{false};  // Detach() ran: the destructor has nothing to wait for
};

}  // namespace wsbridge::cluster
