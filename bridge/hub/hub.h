// Hub: the session registry of this node, sharded by I/O thread. Shard i is a RoutingIndex that
// only I/O thread i touches, holding exactly the sessions that live on thread i. Every operation
// that spans sessions is one step of the node's ScatterGather (runtime/scatter_gather.h): ONE
// entry per I/O thread carrying the shared request (and, for deliveries, one shared immutable
// payload), each thread resolving and acting on its own sessions, and the last thread to finish
// calling `done` with the combined result.
//
// So a Broadcast to 100k sessions never holds a lock that an accept or another call waits on,
// sessions are never reached from a foreign thread, and every session receives its messages in
// the one order in which the node accepted the calls (deliveries, Subscribe, Unsubscribe and
// Disconnect alike), whatever gRPC thread or stream each call came on.
//
// A Push addressed only to users goes to the threads that hold those users' sessions (the
// ConnectionLimiter counts them, hub/connection_limiter.h): one post for a user on one thread,
// none for a user who is offline. A batch of deliveries (DeliverBatch) is ONE step too, on the
// union of the threads its items need: each thread runs the items in item order.
//
// Thread-safety: the asynchronous operations may be called from any thread; `done` runs exactly
// once and must not block: on one of the I/O threads, or on the calling thread when no thread
// holds anything the call addresses. shard(i), Register(i, ...) and Unregister(i, ...) may be used
// only on thread i.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "broker/broker.h"
#include "broker/types.h"
#include "hub/connection_limiter.h"
#include "hub/drain_schedule.h"
#include "hub/hub_observer.h"
#include "hub/routing_index.h"
#include "runtime/io_thread.h"
#include "runtime/scatter_gather.h"

namespace wsbridge {

class Hub final : public Broker {
 public:
  // REQUIRES: threads non-empty; they and `sessions` (which admits the sessions that register
  // here and knows their users' threads) outlive the hub.
  Hub(std::vector<IoThread*> threads, size_t max_topics_per_session,
      const ConnectionLimiter& sessions);
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Reports held topics and users and sessions' topic changes of every shard to `observer`
  // (cluster mode, hub/hub_observer.h). REQUIRES: no session registered yet (call before the
  // listeners start); `observer` outlives the hub's use of it.
  void SetObserver(HubObserver* observer);

  // Where ListSessions reads the last event sequence the node has stamped (the EventBus's
  // last_sequence()), to anchor each page at a consistent cut (SessionPage::sequence). Without
  // it pages carry sequence 0. REQUIRES: called before any ListSessions; thread-safe `source`.
  void SetEventSequence(std::function<uint64_t()> source);

  size_t shard_count() const { return shards_.size(); }
  IoThread& thread(size_t i) { return *shards_[i]->thread; }
  // REQUIRES: called on thread(i).
  RoutingIndex& shard(size_t i) {
    WSBRIDGE_ASSERT_ON(*shards_[i]->thread);
    return shards_[i]->index;
  }

  // Adds a session to shard i. False, and nothing changes, when the id is taken. REQUIRES:
  // called on thread(i); the session holds a SessionSlot admitted for thread i until after its
  // Unregister (so its user's threads are known, see hub/connection_limiter.h); endpoint
  // outlives its registration.
  bool Register(size_t i, SessionInfo info, std::vector<std::string> topics,
                SessionEndpoint* endpoint);
  // Removes a session from shard i; false if it was not there. REQUIRES: called on thread(i).
  bool Unregister(size_t i, absl::string_view session_id);

  // Broker: each operation is one step of the node order (runtime/scatter_gather.h).
  void Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload,
               DeliveryDone done) override;
  // One step of the node order for the whole batch, on the threads any item needs (all of them
  // when an item names a session id or is a Broadcast; for items addressed only to users, the
  // threads that hold those users). Each thread resolves and delivers every item in item order
  // (an item on a thread that holds none of its sessions resolves to nothing there); `done`
  // gets the per-item counts combined over the threads. Cost: one entry per thread in the
  // node order and one post per idle thread for the whole batch, plus one resolution per item
  // per thread reached.
  void DeliverBatch(std::shared_ptr<const std::vector<DeliveryItem>> items,
                    BatchDone done) override;
  void Subscribe(std::shared_ptr<const SessionSelector> selector,
                 std::shared_ptr<const std::vector<std::string>> topics,
                 SubscribeDone done) override;
  void Unsubscribe(std::shared_ptr<const SessionSelector> selector,
                   std::shared_ptr<const std::vector<std::string>> topics,
                   SessionCountDone done) override;
  void Disconnect(std::shared_ptr<const SessionSelector> selector, uint16_t code,
                  std::string reason, SessionCountDone done) override;
  // Closes every session (server shutdown).
  void DisconnectAll(uint16_t code, std::string reason, CountDone done);
  // Step `step` of a drain spread over time by `schedule` (hub/drain_schedule.h). On each shard,
  // the first step called notes the sessions present (and Register adds later ones: a
  // handshake may pass its draining check just before the drain begins); each step closes the
  // schedule's share of those not yet asked (in no particular order), with `code` and `reason`,
  // behind what is queued for them; the last step closes all that remain. `done` gets how many
  // were asked to close. Steps are called in increasing order, one at a time (a step may be
  // skipped; the next share makes up for it).
  void CloseDrainStep(std::shared_ptr<const DrainSchedule> schedule, size_t step, uint16_t code,
                      std::string reason, CountDone done);
  void GetSession(std::string session_id, SessionDone done) override;
  // The live counters of those of `session_ids` that this node holds (others are left out, in
  // no particular order), read by each shard on its own thread. Cluster mode answers other
  // nodes' GetSession / ListSessions with it (cluster/counter_exchange.h). Unlike ListSessions
  // it takes no cut: no thread waits for another. Cost: O(ids) lookups per shard.
  struct HeldCounters {
    std::string session_id;
    SessionCounters counters;
  };
  using CountersDone = std::function<void(std::vector<HeldCounters>)>;
  void CountersOf(std::shared_ptr<const std::vector<std::string>> session_ids, CountersDone done);
  // One page and the event sequence it is consistent with, as one cut: each shard copies its
  // part, then waits (blocking its I/O thread) until every shard has copied; the last to arrive
  // reads the event sequence while all of them are parked, so no session opens or closes (and
  // no event is stamped by an I/O thread) between any shard's copy and that read. Sessions
  // register, report `opened` in one step and report `closed`, unregister in one step
  // (ws/session.cc), and only announced sessions are listed, so the page holds exactly the
  // sessions opened and not closed at that sequence. The stall is the time the slowest thread
  // takes to reach the step (every thread runs the node order, so they all get there); a thread
  // that waits longer than kListCutPatience gives up, and the page then carries sequence 0.
  void ListSessions(ListQuery query, PageDone done) override;

  // How long a shard waits for the others at a ListSessions cut (see ListSessions).
  static constexpr absl::Duration kListCutPatience = absl::Seconds(2);

 private:
  struct Shard {
    IoThread* thread = nullptr;
    RoutingIndex index;
    std::vector<RoutingIndex::Entry*> scratch;  // reused per resolution; thread-owned
    // Sessions a drain has not asked to close yet; set by its first step. Thread-owned.
    std::optional<std::vector<std::string>> drain_pending;
  };

  // Runs `work(shard)` on the shards listed (on each shard's thread), then `done(partials)` once,
  // as one step of the node order (runtime/scatter_gather.h).
  template <class Partial, class Work, class Done>
  void OnShards(std::vector<size_t> shard_indices, Work work, Done done);
  template <class Partial, class Work, class Done>
  void OnAllShards(Work work, Done done);
  // The shards a delivery to `targets` concerns: those holding its users when it is addressed
  // to users only, else all.
  std::vector<size_t> ShardsFor(const DeliveryTargets& targets) const;
  std::vector<size_t> AllShards() const;

  ScatterGather scatter_;  // shard i lives on scatter_ thread i
  std::vector<std::unique_ptr<Shard>> shards_;
  const size_t max_topics_per_session_;
  const ConnectionLimiter& sessions_;
  std::function<uint64_t()> event_sequence_;  // set before use; then read-only
};

}  // namespace wsbridge
