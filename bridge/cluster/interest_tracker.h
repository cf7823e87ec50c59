// InterestTracker: which Redis channels this node listens to (docs/cluster.md "Channels"). It is
// the node's HubObserver for held topics and users: each I/O thread reports when its shard comes
// to hold, or stops holding, a session of a topic or a user; the tracker turns those per-shard
// reports into node-level counts (InterestCounts: the number of shards holding each) on the
// Redis thread, subscribes to wsb:t:<topic> / wsb:u:<user> on 0 -> 1 and unsubscribes on 1 -> 0.
// It always listens to the node's own channel (wsb:n:<node>) and to wsb:all.
//
// It also knows which of those channels Redis has CONFIRMED (SUBSCRIBE answered, and not lost
// since): ClusterBroker asks, when it sends a call, whether its own copy on a channel will come
// back to it (cluster_broker.h), and hears of each channel dropped.
//
// Thread-safety: the HubObserver callbacks run on the I/O threads (they only post to the Redis
// thread); every other method runs on the Redis thread, which owns all state here.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "cluster/cluster_keys.h"
#include "hub/hub_observer.h"
#include "redis/redis_client_options.h"

namespace wsbridge {
class IoThread;
class RedisSubscriber;
}  // namespace wsbridge

namespace wsbridge::cluster {

// Node-level interest from per-shard first/last-holder reports: how many shards hold each name.
// Pure; no threads. Change() answers whether the node as a whole started (0 -> 1) or stopped
// (1 -> 0) holding the name. A release of a name not held is ignored (it changes nothing).
class InterestCounts {
 public:
  enum class Edge { kNone, kFirst, kLast };
  Edge Change(const std::string& name, bool held);
  size_t holders(const std::string& name) const;
  size_t size() const { return shards_holding_.size(); }

 private:
  absl::flat_hash_map<std::string, size_t> shards_holding_;
};

class InterestTracker final : public HubObserver {
 public:
  // `on_dropped(channel)` runs on the Redis thread when a channel stops being listened to (the
  // node unsubscribed). `redis_thread` and `subscriber` outlive the tracker.
  InterestTracker(IoThread& redis_thread, RedisSubscriber& subscriber, const ClusterKeys& keys,
                  std::string node_id, std::function<void(const std::string&)> on_dropped);

  // Subscribes to the node's own channel and wsb:all. Any thread; once, before sessions come.
  void Start();

  // HubObserver (I/O threads): post the change to the Redis thread.
  void OnTopicHeld(size_t shard, const std::string& topic, bool held) override;
  void OnUserHeld(size_t shard, const std::string& user, bool held) override;
  void OnSessionTopicsChanged(size_t, const SessionInfo&,
                              const std::vector<std::string>&) override {}

  // Redis thread: the subscriber's connection came or went (RedisSubscriber's on_state). Lost:
  // nothing is confirmed; connected again: every held channel is (it resubscribed them all).
  void OnSubscriberState(const RedisStateChange& change);
  // Redis thread: whether Redis has confirmed `channel` and it is still held.
  bool IsConfirmed(const std::string& channel) const { return confirmed_.contains(channel); }
  // Redis thread: the subscriber is about to go (shutdown): from now on nothing is sent to it.
  void Detach() {
    detached_ = true;
    confirmed_.clear();
  }
  // Redis thread: every channel held now (confirmed or not), for tests and logs.
  std::vector<std::string> HeldChannels() const;

 private:
  void Hold(const std::string& channel);
  void Release(const std::string& channel);
  void Change(InterestCounts& counts, const std::string& channel, bool held);

  IoThread& thread_;
  RedisSubscriber& subscriber_;
  const std::string own_channel_;
  const std::string all_channel_;
  const ClusterKeys keys_;
  std::function<void(const std::string&)> on_dropped_;
  // Redis thread only:
  InterestCounts topics_;  // keyed by channel name
  InterestCounts users_;
  absl::flat_hash_set<std::string> held_;
  absl::flat_hash_set<std::string> confirmed_;
  bool detached_ = false;
};

}  // namespace wsbridge::cluster
