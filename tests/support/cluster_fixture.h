// ClusterFixture: a cluster on one machine for the tests of cluster mode: one real redis-server
// (RedisServer) and N `wsbridge` processes (the binary, as an operator runs it) that share it,
// named node-a, node-b, ... on free loopback ports, with --allow_anonymous. The constructor
// returns once every node printed its startup line and Redis shows it listening to its own
// channel (wsb:n:<node>), so a test can address it at once.
//
// Also what a test needs to look into Redis: RedisCli() runs `redis-cli` against the server
// (PUBSUB CHANNELS, the directory keys), and RegisterInDirectory() writes a session into the
// directory exactly as docs/cluster.md "Keys" describes it, for tests that run before the
// SessionLog writes it by itself.
//
// Thread-safety: use from the test's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "support/child_process.h"
#include "support/redis_server.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::testing {

// redis-cli -p <port> args...: its stdout (replies one element per line). For tests that look
// into Redis (PUBSUB CHANNELS, directory keys).
std::string RunRedisCli(uint16_t port, const std::vector<std::string>& args);
// Writes a session into the directory (docs/cluster.md "Keys"): its hash (node, user, topics
// newline-joined, info empty), wsb:sessions, wsb:us:<user>, wsb:ts:<topic> per topic,
// wsb:ns:<node>.
void WriteDirectoryEntry(uint16_t port, const std::string& session_id, const std::string& node_id,
                         const std::string& user_id, const std::vector<std::string>& topics);

struct ClusterNodePorts {
  uint16_t grpc = 0;
  uint16_t ws = 0;
  uint16_t admin = 0;
  std::string node_id;
};

class ClusterFixture {
 public:
  struct Options {
    size_t nodes = 3;
    // Added to every node's command line (e.g. "--ping_interval=1s").
    std::vector<std::string> extra_args;
  };

  ClusterFixture() : ClusterFixture(Options{}) {}
  explicit ClusterFixture(Options options);  // throws std::runtime_error when a node won't start
  ~ClusterFixture();
  ClusterFixture(const ClusterFixture&) = delete;
  ClusterFixture& operator=(const ClusterFixture&) = delete;

  size_t size() const { return nodes_.size(); }
  const ClusterNodePorts& node(size_t i) const { return nodes_[i]->ports; }
  // A gRPC stub for node i's API (made once, kept).
  v1::Bridge::Stub& api(size_t i);
  ChildProcess& process(size_t i) { return *nodes_[i]->process; }
  RedisServer& redis() { return redis_; }

  // SIGKILL of node i by its PID (a lost node: no drain, no goodbye).
  void Kill(size_t i);
  // Redis stopped and started again on the same port (every key and subscription gone).
  void RestartRedis() { redis_.Restart(); }

  // redis-cli -p <port> args...: its stdout (one line per reply element with --no-raw off).
  std::string RedisCli(const std::vector<std::string>& args) const;
  // The channels Redis has subscribers for (PUBSUB CHANNELS), sorted.
  std::vector<std::string> PubsubChannels() const;
  // How many subscribers `channel` has (PUBSUB NUMSUB).
  int Subscribers(const std::string& channel) const;
  // Writes a session into the directory (docs/cluster.md "Keys"): its hash, wsb:sessions,
  // wsb:us:<user>, wsb:ts:<topic> per topic, wsb:ns:<node>.
  void RegisterInDirectory(const std::string& session_id, const std::string& node_id,
                           const std::string& user_id, const std::vector<std::string>& topics);

 private:
  struct Node {
    ClusterNodePorts ports;
    std::unique_ptr<ChildProcess> process;
    std::unique_ptr<v1::Bridge::Stub> stub;
  };
  void StartNode(size_t i, const std::vector<std::string>& extra_args);

  RedisServer redis_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace wsbridge::testing
