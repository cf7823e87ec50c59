#include "cluster/counter_exchange.h"

#include <utility>

#include <boost/asio/steady_timer.hpp>

#include "hub/hub.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"
#include "spdlog/spdlog.h"
#include "wsbridge/internal/v1/cluster.pb.h"

namespace wsbridge::cluster {
namespace {

// Silent nodes remembered for logging at most this many (then forgotten all at once): node ids
// of nodes that went away for good must not accumulate.
constexpr size_t kMaxSilentNodes = 1024;

SessionCounters CountersOf(const v1::SessionStats& in) {
  SessionCounters out;
  out.messages_sent = in.messages_sent();
  out.messages_received = in.messages_received();
  out.bytes_sent = in.bytes_sent();
  out.bytes_received = in.bytes_received();
  out.queued_messages = in.queued_messages();
  out.queued_bytes = in.queued_bytes();
  return out;
}

void Fill(const Hub::HeldCounters& in, internal::v1::SessionCounters* out) {
  out->set_session_id(in.session_id);
  v1::SessionStats* stats = out->mutable_stats();
  stats->set_messages_sent(in.counters.messages_sent);
  stats->set_messages_received(in.counters.messages_received);
  stats->set_bytes_sent(in.counters.bytes_sent);
  stats->set_bytes_received(in.counters.bytes_received);
  stats->set_queued_messages(in.counters.queued_messages);
  stats->set_queued_bytes(in.counters.queued_bytes);
}

}  // namespace

// A request sent and not yet answered.
struct CounterExchange::Pending {
  std::string node;
  size_t bytes = 0;
  Done done;
  std::unique_ptr<boost::asio::steady_timer> timer;
};

CounterExchange::CounterExchange(IoThread& redis_thread, RedisConnection& commands,
                                 const ClusterKeys& keys, std::string node_id, Hub& hub)
    : thread_(redis_thread),
      commands_(commands),
      keys_(keys),
      node_id_(std::move(node_id)),
      hub_(hub) {}

CounterExchange::~CounterExchange() = default;

void CounterExchange::Fetch(const std::string& node, std::vector<std::string> session_ids,
                            Done done) {
  WSBRIDGE_ASSERT_ON(thread_);
  if (session_ids.empty() || detached_) return done({});
  if (node == node_id_) {
    // Ours: the hub reads them on its I/O threads; the answer comes back to the Redis thread.
    auto ids = std::make_shared<const std::vector<std::string>>(std::move(session_ids));
    hub_.CountersOf(std::move(ids),
                    [this, done = std::move(done)](std::vector<Hub::HeldCounters> held) mutable {
                      thread_.Post([held = std::move(held), done = std::move(done)]() mutable {
                        CountersById counters;
                        for (Hub::HeldCounters& h : held)
                          counters.emplace(std::move(h.session_id), h.counters);
                        done(std::move(counters));
                      });
                    });
    return;
  }
  internal::v1::Envelope request;
  request.set_op(internal::v1::Envelope::OP_COUNTERS_REQUEST);
  request.set_origin_node(node_id_);
  request.set_message_id(++last_request_id_);
  for (std::string& id : session_ids) request.add_session_ids(std::move(id));
  std::string bytes = request.SerializeAsString();
  if (pending_.size() >= kMaxPending || pending_bytes_ + bytes.size() > kMaxPendingBytes) {
    if (!refusing_) {
      refusing_ = true;
      spdlog::warn(
          "cluster: {} counters requests ({} bytes) wait for other nodes, the most allowed: "
          "sessions of other nodes show zero counters until they are answered",
          pending_.size(), pending_bytes_);
    }
    return done({});
  }
  const uint64_t id = request.message_id();
  auto pending = std::make_unique<Pending>();
  pending->node = node;
  pending->bytes = bytes.size();
  pending->done = std::move(done);
  pending->timer =
      std::make_unique<boost::asio::steady_timer>(thread_.Make<boost::asio::steady_timer>());
  pending->timer->expires_after(absl::ToChronoNanoseconds(kReplyPatience));
  pending->timer->async_wait([this, id](const boost::system::error_code& error) {
    if (!error) TimedOut(id);
  });
  pending_bytes_ += pending->bytes;
  pending_.emplace(id, std::move(pending));
  commands_.Command(
      {"PUBLISH", keys_.NodeChannel(node), std::move(bytes)}, [this, id](RedisReply reply) {
        // Nobody listens to that node's channel (it is gone), or Redis did not
        // take the request: no reply will come.
        if (reply.is_error() || (reply.type == RedisReply::Type::kInteger && reply.integer == 0)) {
          Finish(id, {});
        }
      });
}

void CounterExchange::OnEnvelope(const internal::v1::Envelope& envelope) {
  WSBRIDGE_ASSERT_ON(thread_);
  if (detached_) return;
  if (envelope.op() == internal::v1::Envelope::OP_COUNTERS_REQUEST) return OnRequest(envelope);
  if (envelope.op() == internal::v1::Envelope::OP_COUNTERS_REPLY) return OnReply(envelope);
}

void CounterExchange::OnRequest(const internal::v1::Envelope& request) {
  const size_t bytes = request.ByteSizeLong();
  if (static_cast<size_t>(request.session_ids_size()) > kMaxIdsPerRequest) {
    spdlog::warn("cluster: a counters request of node {} names {} sessions, more than {}: ignored",
                 request.origin_node(), request.session_ids_size(), kMaxIdsPerRequest);
    return;
  }
  if (serving_ >= kMaxPending || serving_bytes_ + bytes > kMaxPendingBytes) {
    spdlog::debug("cluster: {} counters requests of other nodes in hand: one of node {} ignored",
                  serving_, request.origin_node());
    return;
  }
  ++serving_;
  serving_bytes_ += bytes;
  auto ids = std::make_shared<const std::vector<std::string>>(request.session_ids().begin(),
                                                              request.session_ids().end());
  hub_.CountersOf(std::move(ids), [this, bytes, asker = request.origin_node(),
                                   request_id =
                                       request.message_id()](std::vector<Hub::HeldCounters> held) {
    internal::v1::Envelope reply;
    reply.set_op(internal::v1::Envelope::OP_COUNTERS_REPLY);
    reply.set_origin_node(node_id_);
    reply.set_message_id(request_id);
    for (const Hub::HeldCounters& h : held) Fill(h, reply.add_counters());
    thread_.Post([this, bytes, asker, reply = reply.SerializeAsString()]() mutable {
      --serving_;
      serving_bytes_ -= bytes;
      if (detached_) return;
      commands_.Command({"PUBLISH", keys_.NodeChannel(asker), std::move(reply)}, [](RedisReply) {});
    });
  });
}

void CounterExchange::OnReply(const internal::v1::Envelope& reply) {
  auto it = pending_.find(reply.message_id());
  if (it == pending_.end() || it->second->node != reply.origin_node()) {
    spdlog::debug("cluster: a counters reply of node {} came after its wait ended: ignored",
                  reply.origin_node());
    return;
  }
  silent_nodes_.erase(reply.origin_node());
  CountersById counters;
  for (const internal::v1::SessionCounters& c : reply.counters()) {
    counters.emplace(c.session_id(), CountersOf(c.stats()));
  }
  Finish(reply.message_id(), std::move(counters));
}

void CounterExchange::TimedOut(uint64_t request_id) {
  auto it = pending_.find(request_id);
  if (it == pending_.end()) return;
  const std::string& node = it->second->node;
  if (silent_nodes_.size() >= kMaxSilentNodes) silent_nodes_.clear();
  if (silent_nodes_.insert(node).second) {
    spdlog::info(
        "cluster: node {} did not answer a counters request within {}: its sessions show zero "
        "counters in GetSession / ListSessions until it answers again",
        node, absl::FormatDuration(kReplyPatience));
  }
  Finish(request_id, {});
}

void CounterExchange::Finish(uint64_t request_id, CountersById counters) {
  auto it = pending_.find(request_id);
  if (it == pending_.end()) return;
  // Out of the map first: `done` may fetch again.
  std::unique_ptr<Pending> pending = std::move(it->second);
  pending_.erase(it);
  pending_bytes_ -= pending->bytes;
  if (pending_.empty()) refusing_ = false;
  pending->timer->cancel();
  pending->done(std::move(counters));
}

void CounterExchange::Detach() {
  WSBRIDGE_ASSERT_ON(thread_);
  detached_ = true;
  while (!pending_.empty()) Finish(pending_.begin()->first, {});
}

}  // namespace wsbridge::cluster
