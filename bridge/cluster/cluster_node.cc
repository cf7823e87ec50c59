#include "cluster/cluster_node.h"

#include <chrono>
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

absl::StatusOr<std::unique_ptr<ClusterNode>> ClusterNode::Create(
    const Config& config, std::string node_id, Hub& hub, EventBus& bus,
    std::function<void()> on_declared_lost) {
  auto url = ParseRedisUrl(config.cluster.redis_url);
  if (!url.ok()) {
    // The parser names the field "redis_url: ..."; the operator set the flag.
    absl::string_view why = url.status().message();
    absl::ConsumePrefix(&why, "redis_url: ");
    return absl::InvalidArgumentError(absl::StrCat("--redis_url: ", why));
  }
  return std::unique_ptr<ClusterNode>(new ClusterNode(std::move(*url), config, std::move(node_id),
                                                      hub, bus, std::move(on_declared_lost)));
}

ClusterNode::ClusterNode(RedisUrl url, const Config& config, std::string node_id, Hub& hub,
                         EventBus& bus, std::function<void()> on_declared_lost)
    : url_(std::move(url)),
      node_id_(std::move(node_id)),
      redis_thread_(kRedisThreadIndex),
      local_directory_(hub) {
  // Everything is made before the Redis thread starts, so no callback can find a part missing.
  RedisClientOptions client_options;
  client_options.url = url_;
  client_options.probe_channel = keys_.ProbeChannel();
  commands_ = std::make_unique<RedisConnection>(
      redis_thread_, client_options, [this](const RedisStateChange& change) {
        if (!change.connected) {
          spdlog::warn("cluster: Redis command connection down: {}", change.error);
        }
        broker_->OnCommandState(change);
        session_log_->OnRedisState(change);
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
  counters_ = std::make_unique<CounterExchange>(redis_thread_, *commands_, keys_, node_id_, hub);
  broker_ = std::make_unique<ClusterBroker>(
      redis_thread_, *commands_, *interest_, hub, &local_directory_, *counters_, keys_,
      ClusterBroker::Options{node_id_, config.admission.max_topics_per_session});
  fanout_.Add(interest_.get());
  session_log_ =
      std::make_unique<SessionLog>(redis_thread_, *commands_, keys_,
                                   SessionLogOptions{.node_id = node_id_,
                                                     .history = config.events.history,
                                                     .buffer_bytes = config.cluster.buffer_bytes});
  fanout_.Add(session_log_.get());
  directory_ =
      std::make_unique<SessionDirectoryReader>(redis_thread_, *commands_, keys_, *counters_);
  broker_->SetDirectory(directory_.get());
  LostNodeReaperOptions reaper_options;
  reaper_options.node_id = node_id_;
  reaper_options.node_timeout = config.cluster.node_timeout;
  reaper_options.event_history = config.events.history;
  reaper_ = std::make_unique<LostNodeReaper>(redis_thread_, *commands_, keys_, reaper_options);
  NodeHeartbeatOptions heartbeat_options;
  heartbeat_options.node_id = node_id_;
  heartbeat_options.node_timeout = config.cluster.node_timeout;
  // Given up: the SessionLog first (nothing more for the sessions the reaper closed), then the
  // node closes them.
  heartbeat_ =
      std::make_unique<NodeHeartbeat>(redis_thread_, *commands_, keys_, *reaper_, heartbeat_options,
                                      [this, on_declared_lost = std::move(on_declared_lost)] {
                                        session_log_->OnDeclaredLost();
                                        if (on_declared_lost) on_declared_lost();
                                      });
  feed_ = std::make_unique<ClusterEventFeed>(redis_thread_, *commands_, client_options, bus,
                                             config.events, keys_, node_id_);
}

void ClusterNode::Start(absl::Duration patience) {
  if (started_) return;
  started_ = true;
  interest_->Start();
  redis_thread_.Start();
  spdlog::info("cluster: node {} joins through Redis at {}", node_id_, RedactedRedisUrl(url_));
  // Both callbacks run once, on the Redis thread; the promises outlive them (shared).
  auto beating = std::make_shared<std::promise<void>>();
  auto history = std::make_shared<std::promise<void>>();
  std::future<void> beat = beating->get_future();
  std::future<void> filled = history->get_future();
  reaper_->Start();
  heartbeat_->Start([beating] { beating->set_value(); });
  feed_->Start([history] { history->set_value(); });
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(patience);
  if (beat.wait_until(deadline) != std::future_status::ready ||
      filled.wait_until(deadline) != std::future_status::ready) {
    spdlog::warn(
        "cluster: Redis did not answer within {}: serving this node's sessions, joining the "
        "cluster when it does",
        absl::FormatDuration(patience));
  }
}

bool ClusterNode::AwaitFlushed(absl::Duration timeout) {
  return started_ && !stopped_ && session_log_->AwaitFlushed(timeout);
}

void ClusterNode::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!started_) {
    // The thread never ran: the clients' posted work is dropped with the thread's loop; their
    // destructors must run on a running thread, so start it just to close them.
    redis_thread_.Start();
  }
  // Parts that wait for the Redis thread: while it runs.
  heartbeat_->Stop();
  reaper_->Stop();
  feed_.reset();
  std::promise<void> closed;
  std::future<void> done = closed.get_future();
  redis_thread_.Post([this, &closed] {
    // The clients first: their pending commands complete (unanswered) through the broker.
    interest_->Detach();
    counters_->Detach();
    broker_->Detach();
    session_log_->Detach();
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
