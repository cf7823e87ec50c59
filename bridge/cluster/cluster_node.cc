#include "cluster/cluster_node.h"

#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "spdlog/spdlog.h"

namespace wsbridge::cluster {
namespace {

// The Redis thread's index: after any I/O thread's, so logs and asserts do not confuse them.
constexpr size_t kRedisThreadIndex = 1000;

}  // namespace

absl::StatusOr<std::unique_ptr<ClusterNode>> ClusterNode::Create(const ClusterOptions& options,
                                                                 std::string node_id,
                                                                 size_t max_topics_per_session,
                                                                 Broker& hub) {
  auto url = ParseRedisUrl(options.redis_url);
  if (!url.ok()) {
    // The parser names the field "redis_url: ..."; the operator set the flag.
    absl::string_view why = url.status().message();
    absl::ConsumePrefix(&why, "redis_url: ");
    return absl::InvalidArgumentError(absl::StrCat("--redis_url: ", why));
  }
  return std::unique_ptr<ClusterNode>(
      new ClusterNode(std::move(*url), std::move(node_id), max_topics_per_session, hub));
}

ClusterNode::ClusterNode(RedisUrl url, std::string node_id, size_t max_topics_per_session,
                         Broker& hub)
    : url_(std::move(url)),
      node_id_(std::move(node_id)),
      redis_thread_(kRedisThreadIndex),
      local_directory_(hub) {
  // Everything is made before the Redis thread starts, so no callback can find a part missing.
  RedisClientOptions client_options;
  client_options.url = url_;
  commands_ = std::make_unique<RedisConnection>(
      redis_thread_, client_options, [this](const RedisStateChange& change) {
        if (!change.connected) {
          spdlog::warn("cluster: Redis command connection down: {}", change.error);
        }
        broker_->OnCommandState(change);
      });
  subscriber_ = std::make_unique<RedisSubscriber>(
      redis_thread_, client_options,
      [this](const std::string& channel, const std::string& payload) {
        broker_->OnMessage(channel, payload);
      },
      [this](const RedisStateChange& change) {
        if (!change.connected) {
          spdlog::warn("cluster: Redis pub/sub connection down: {}", change.error);
        } else if (change.resubscribed > 0) {
          spdlog::info("cluster: Redis pub/sub back, {} channels subscribed again",
                       change.resubscribed);
        }
        interest_->OnSubscriberState(change);
        broker_->OnSubscriberState(change);
      });
  interest_ = std::make_unique<InterestTracker>(
      redis_thread_, *subscriber_, keys_, node_id_,
      [this](const std::string& channel) { broker_->OnChannelDropped(channel); });
  broker_ = std::make_unique<ClusterBroker>(
      redis_thread_, *commands_, *interest_, hub, &local_directory_, keys_,
      ClusterBroker::Options{node_id_, max_topics_per_session});
  fanout_.Add(interest_.get());
}

void ClusterNode::Start() {
  if (started_) return;
  started_ = true;
  interest_->Start();
  redis_thread_.Start();
  spdlog::info("cluster: node {} joins through Redis at {}", node_id_, RedactedRedisUrl(url_));
}

void ClusterNode::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!started_) {
    // The thread never ran: the clients' posted work is dropped with the thread's loop; their
    // destructors must run on a running thread, so start it just to close them.
    redis_thread_.Start();
  }
  std::promise<void> closed;
  std::future<void> done = closed.get_future();
  redis_thread_.Post([this, &closed] {
    // The clients first: their pending commands complete (unanswered) through the broker.
    interest_->Detach();
    broker_->Detach();
    subscriber_.reset();
    commands_.reset();
    // Then, behind those completions, whatever still waits for its own copy.
    redis_thread_.Post([this, &closed] {
      broker_->FailPending("redis unavailable: this node is shutting down");
      closed.set_value();
    });
  });
  done.wait();
  redis_thread_.StopAndJoin();
}

ClusterNode::~ClusterNode() { Stop(); }

}  // namespace wsbridge::cluster
