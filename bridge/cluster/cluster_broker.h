// ClusterBroker: the Broker of a cluster node (docs/cluster.md "ClusterBroker: channels, order,
// counts"). Every call goes through Redis, this node's own sessions included: one Lua script per
// call counts the targets in the session directory and PUBLISHes one Envelope
// (proto/wsbridge/internal/v1/cluster.proto) on each channel of its targets; every node, this one
// too, acts on the envelopes that arrive on the channels it listens to (InterestTracker) through
// its local Hub, in arrival order. With one command connection and one subscriber connection
// per node, Redis's single order gives every topic one order on every node, and what one node
// publishes to one session stays FIFO across channels.
//
// A call completes (its done runs) once the script has answered AND this node's own copies have
// been handed to the local Hub and it has finished with them: those on channels this node was
// confirmed to listen to when the script was sent (and its own node channel). Counts:
// `matched` from the directory when the script ran (at least the local matched); `queued` and
// `dropped` exact for this node's sessions; sessions on other nodes count as `queued` once Redis
// accepted the message for their node (matched minus local matched).
//
// Without Redis (the command connection down) every call completes at once with `failure` =
// "redis unavailable: <why>" (broker/types.h); local browser traffic does not need Redis.
//
// GetSession and ListSessions go to a DirectoryReads (cluster/directory_reads.h); the counters
// requests and replies of other nodes (COUNTERS_REQUEST / COUNTERS_REPLY on this node's channel)
// to the CounterExchange (cluster/counter_exchange.h).
//
// Thread-safety: the Broker operations may be called from any thread: each posts its work to the
// Redis thread, which owns every piece of state here; calls from one thread keep their order.
// OnMessage, OnSubscriberState, OnCommandState, OnChannelDropped and FailPending run on the Redis
// thread. Completions run on the Redis thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "broker/broker.h"
#include "cluster/cluster_keys.h"
#include "cluster/counter_exchange.h"
#include "cluster/directory_reads.h"
#include "cluster/interest_tracker.h"
#include "redis/redis_client_options.h"
#include "redis/redis_reply.h"

namespace wsbridge {
class IoThread;
class RedisConnection;
}  // namespace wsbridge

namespace wsbridge::internal::v1 {
class Envelope;
}

namespace wsbridge::cluster {

class ClusterBroker final : public Broker {
 public:
  struct Options {
    std::string node_id;
    // This node's --max_topics_per_session: the Subscribe script refuses by it.
    size_t max_topics_per_session = 0;
  };

  // Everything passed in outlives the broker. `local` is this node's Hub; `directory` answers
  // GetSession / ListSessions (SetDirectory may change it before the API starts); `counters`
  // gets the counters requests and replies that arrive on this node's channel.
  ClusterBroker(IoThread& redis_thread, RedisConnection& commands, const InterestTracker& interest,
                Broker& local, DirectoryReads* directory, CounterExchange& counters,
                const ClusterKeys& keys, Options options);
  ~ClusterBroker() override;
  ClusterBroker(const ClusterBroker&) = delete;
  ClusterBroker& operator=(const ClusterBroker&) = delete;

  void SetDirectory(DirectoryReads* directory) { directory_ = directory; }

  // Broker.
  void Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload,
               DeliveryDone done) override;
  // Each item as a Deliver (its own script, counts and failure), all sent from one task of the
  // Redis thread in item order: pipelined on the one command connection, so Redis runs them in
  // that order with no other call of this node between them, and every node gets their copies
  // in that order. Without Redis each item fails on its own ("redis unavailable: ..."): items
  // before the loss may have been delivered, those after it were not.
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
  void GetSession(std::string session_id, SessionDone done) override;
  void ListSessions(ListQuery query, PageDone done) override;

  // Redis thread: one message of a channel this node listens to.
  void OnMessage(const std::string& channel, const std::string& payload);
  // Redis thread: the subscriber lost its connection (calls still waiting for their own copies
  // fail: those copies will not come) or got it back.
  void OnSubscriberState(const RedisStateChange& change);
  // Redis thread: the command connection came back: load the scripts again (a restarted Redis
  // has none).
  void OnCommandState(const RedisStateChange& change);
  // Redis thread: the node no longer listens to `channel`: no call waits for a copy on it.
  void OnChannelDropped(const std::string& channel);
  // Redis thread: completes every call still open with `failure` (shutdown).
  void FailPending(const std::string& failure);
  // Redis thread: the command connection is about to go (shutdown): calls from now on complete
  // at once with a failure.
  void Detach() { detached_ = true; }

 private:
  enum class CallKind { kDeliver, kSubscribe, kUnsubscribe, kDisconnect };
  struct Call;
  struct Script;

  // Redis thread.
  std::unique_ptr<Call> NewCall(CallKind kind);
  // Sends one delivery (a Push or a Broadcast) through its script.
  void SendDelivery(const DeliveryTargets& targets, PayloadPtr payload, DeliveryDone done);
  // Sends a call addressed by `selector` (Push by ids/users, Subscribe, Unsubscribe,
  // Disconnect) through SELECT_AND_PUBLISH: `common` is the op's envelope part, the same on every
  // channel. Subscribe passes its topics as `limited_topics`: the script refuses sessions they
  // would take past --max_topics_per_session; the others pass nullptr (no check).
  void SendSelected(std::unique_ptr<Call> call, const internal::v1::Envelope& common,
                    const SessionSelector& selector,
                    const std::vector<std::string>* limited_topics);
  void Send(std::unique_ptr<Call> call, const Script& script, std::vector<std::string> args);
  void Eval(uint64_t call_id, const Script& script, std::vector<std::string> args, bool by_sha);
  void OnScriptReply(uint64_t call_id, const RedisReply& reply);
  void OnOwnCopyDone(uint64_t call_id, const std::string& channel, const DeliveryCounts& local);
  void TryComplete(uint64_t call_id);
  void Complete(Call& call, const std::string& failure);
  void LoadScripts();
  uint64_t NextCallId() { return ++last_call_id_; }
  std::vector<std::string> ConfirmedOf(const std::vector<std::string>& candidates) const;

  IoThread& thread_;
  RedisConnection& commands_;
  const InterestTracker& interest_;
  Broker& local_;
  DirectoryReads* directory_;
  CounterExchange& counters_;
  const ClusterKeys keys_;
  const Options options_;
  const std::string own_channel_;
  // Redis thread only.
  uint64_t last_call_id_ = 0;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Call>> calls_;
  std::unique_ptr<Script> select_script_;
  std::unique_ptr<Script> broadcast_script_;
  bool detached_ = false;
};

}  // namespace wsbridge::cluster
