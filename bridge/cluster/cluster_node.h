// ClusterNode: everything cluster mode runs on one node (docs/cluster.md), made by BridgeServer
// when --redis_url is set: the Redis thread (an IoThread of its own), one RedisConnection for
// commands, one RedisSubscriber, the InterestTracker (which channels this node listens to) and
// the ClusterBroker (the Broker the API uses instead of the Hub). Without --redis_url none of
// this exists.
//
// Life: Create() parses the URL and builds everything (nothing runs yet); the server gives
// observer() to Hub::SetObserver before its listeners start, then calls Start(), then hands
// broker() to the API. Stop() (before the hub's I/O threads stop: the Redis thread posts to the
// hub) fails the calls still open, destroys the Redis clients on the Redis thread, then joins it.
//
// Other parts of cluster mode join through AddObserver (before Start: hub reports),
// redis_thread(), commands() and subscriber().
//
// Thread-safety: Create, AddObserver, SetDirectory, Start and Stop from the controlling thread;
// broker() may be used from any thread between Start and Stop.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "broker/broker.h"
#include "cluster/cluster_broker.h"
#include "cluster/cluster_keys.h"
#include "cluster/hub_observer_fanout.h"
#include "cluster/interest_tracker.h"
#include "cluster/local_directory_reads.h"
#include "config/config.h"
#include "redis/redis_connection.h"
#include "redis/redis_subscriber.h"
#include "redis/redis_url.h"
#include "runtime/io_thread.h"

namespace wsbridge::cluster {

class ClusterNode {
 public:
  // INVALID_ARGUMENT naming --redis_url when the URL does not parse. `hub` (this node's Hub)
  // outlives the node.
  static absl::StatusOr<std::unique_ptr<ClusterNode>> Create(const ClusterOptions& options,
                                                             std::string node_id,
                                                             size_t max_topics_per_session,
                                                             Broker& hub);
  ~ClusterNode();  // Stop()
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // What the hub reports to (Hub::SetObserver); AddObserver adds another listener to it.
  HubObserver& observer() { return fanout_; }
  void AddObserver(HubObserver* observer) { fanout_.Add(observer); }
  // GetSession / ListSessions: the local hub until a directory reader is set. Before Start.
  void SetDirectory(DirectoryReads* directory) { broker_->SetDirectory(directory); }

  void Start();
  void Stop();

  Broker& broker() { return *broker_; }
  IoThread& redis_thread() { return redis_thread_; }
  RedisConnection& commands() { return *commands_; }
  RedisSubscriber& subscriber() { return *subscriber_; }
  const ClusterKeys& keys() const { return keys_; }
  const std::string& node_id() const { return node_id_; }
  const RedisUrl& url() const { return url_; }

 private:
  ClusterNode(RedisUrl url, std::string node_id, size_t max_topics_per_session, Broker& hub);

  const RedisUrl url_;
  const std::string node_id_;
  const ClusterKeys keys_;
  IoThread redis_thread_;
  HubObserverFanout fanout_;
  LocalDirectoryReads local_directory_;
  std::unique_ptr<RedisConnection> commands_;
  std::unique_ptr<RedisSubscriber> subscriber_;
  std::unique_ptr<InterestTracker> interest_;
  std::unique_ptr<ClusterBroker> broker_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace wsbridge::cluster
