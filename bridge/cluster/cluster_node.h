// ClusterNode: everything cluster mode runs on one node (docs/cluster.md), made by BridgeServer
// when --redis_url is set: the Redis thread (an IoThread of its own), one RedisConnection for
// commands, one RedisSubscriber, the InterestTracker (which channels this node listens to), the
// ClusterBroker (the Broker the API uses instead of the Hub), the SessionLog (this node's events
// and sessions into the event log and the directory: the EventOutlet of the node's
// EventPublisher), the SessionDirectoryReader (GetSession, ListSessions) with the
// CounterExchange (live counters of every node's sessions for them), the NodeHeartbeat and
// LostNodeReaper, and the ClusterEventFeed (the event log into this node's EventBus). Without
// --redis_url none of this exists.
//
// Life: Create() parses the URL and builds everything (nothing runs yet); the server gives
// observer() to Hub::SetObserver and session_log() to its EventPublisher before its listeners
// start, then calls Start() (which waits, boundedly, for the first heartbeat and the event
// history), then hands broker() to the API. On shutdown AwaitFlushed() after the drain lets the
// sessions' closed events reach the log; Stop() (before the hub's I/O threads stop: the Redis
// thread posts to the hub) stops heartbeat, reaper and feed, fails the calls still open,
// detaches the SessionLog, destroys the Redis clients on the Redis thread, then joins it. The
// SessionLog object itself lives until the destructor (after the server joined its I/O threads,
// which may still report to it).
//
// Other parts of cluster mode join through AddObserver (before Start: hub reports),
// redis_thread(), commands() and subscriber().
//
// Thread-safety: Create, AddObserver, SetDirectory, Start and Stop from the controlling thread;
// broker() may be used from any thread between Start and Stop.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "broker/broker.h"
#include "cluster/cluster_broker.h"
#include "cluster/cluster_event_feed.h"
#include "cluster/cluster_keys.h"
#include "cluster/counter_exchange.h"
#include "cluster/hub_observer_fanout.h"
#include "cluster/interest_tracker.h"
#include "cluster/local_directory_reads.h"
#include "cluster/lost_node_reaper.h"
#include "cluster/node_heartbeat.h"
#include "cluster/session_directory_reader.h"
#include "cluster/session_log.h"
#include "config/config.h"
#include "events/event_bus.h"
#include "hub/hub.h"
#include "redis/redis_connection.h"
#include "redis/redis_subscriber.h"
#include "redis/redis_url.h"
#include "runtime/io_thread.h"

namespace wsbridge::cluster {

class ClusterNode {
 public:
  // INVALID_ARGUMENT naming --redis_url when the URL does not parse. `config`, `hub` (this
  // node's Hub) and `bus` (its EventBus, made with first_sequence 1: the log stamps events)
  // outlive the node. `on_declared_lost` runs on the Redis thread when a heartbeat finds that
  // the cluster gave this node up (its sessions were closed in the log): it must close them.
  static absl::StatusOr<std::unique_ptr<ClusterNode>> Create(
      const Config& config, std::string node_id, Hub& hub, EventBus& bus,
      std::function<void()> on_declared_lost);
  ~ClusterNode();  // Stop()
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // What the hub reports to (Hub::SetObserver); AddObserver adds another listener to it.
  HubObserver& observer() { return fanout_; }
  void AddObserver(HubObserver* observer) { fanout_.Add(observer); }
  // GetSession / ListSessions: the local hub until a directory reader is set. Before Start.
  void SetDirectory(DirectoryReads* directory) { broker_->SetDirectory(directory); }

  // Starts the Redis thread and every part; returns once the node's first heartbeat is in and
  // the event history is filled, or after `patience` (Redis down: the node serves its own
  // sessions meanwhile and joins when Redis answers).
  void Start(absl::Duration patience = absl::Seconds(5));
  // Waits until the SessionLog wrote what it holds (the drain's closed events), at most
  // `timeout`. From the controlling thread, between Start and Stop.
  bool AwaitFlushed(absl::Duration timeout);
  void Stop();

  // Where this node's sessions report their events in cluster mode.
  EventOutlet& session_log() { return *session_log_; }
  Broker& broker() { return *broker_; }
  IoThread& redis_thread() { return redis_thread_; }
  RedisConnection& commands() { return *commands_; }
  RedisSubscriber& subscriber() { return *subscriber_; }
  const ClusterKeys& keys() const { return keys_; }
  const std::string& node_id() const { return node_id_; }
  const RedisUrl& url() const { return url_; }

 private:
  ClusterNode(RedisUrl url, const Config& config, std::string node_id, Hub& hub, EventBus& bus,
              std::function<void()> on_declared_lost);

  const RedisUrl url_;
  const std::string node_id_;
  const ClusterKeys keys_;
  IoThread redis_thread_;
  HubObserverFanout fanout_;
  LocalDirectoryReads local_directory_;
  std::unique_ptr<RedisConnection> commands_;
  std::unique_ptr<RedisSubscriber> subscriber_;
  std::unique_ptr<InterestTracker> interest_;
  std::unique_ptr<CounterExchange> counters_;
  std::unique_ptr<ClusterBroker> broker_;
  std::unique_ptr<SessionLog> session_log_;
  std::unique_ptr<SessionDirectoryReader> directory_;
  std::unique_ptr<LostNodeReaper> reaper_;
  std::unique_ptr<NodeHeartbeat> heartbeat_;
  std::unique_ptr<ClusterEventFeed> feed_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace wsbridge::cluster
