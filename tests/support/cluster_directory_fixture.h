// What the tests of cluster mode's directory readers and reapers need around a real
// redis-server: a blocking command helper, the session directory and event log written the
// way docs/cluster.md fixes them (as SessionLog writes them), so those components can be tested
// before and apart from the writer, and a hub session with fixed counters.
//
// Thread-safety: use from the test's thread; the connection runs on its Redis thread.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cluster/cluster_keys.h"
#include "hub/session_endpoint.h"
#include "redis/redis_connection.h"
#include "redis/redis_url.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge::testing {

inline RedisClientOptions RedisOptionsFor(const std::string& url) {
  RedisClientOptions options;
  options.url = ParseRedisUrl(url).value();
  options.reconnect_initial = absl::Milliseconds(20);
  options.reconnect_max = absl::Milliseconds(200);
  return options;
}

// Sends one command and waits for its reply (a failed test after 10 s).
inline RedisReply Call(RedisConnection& redis, std::vector<std::string> argv) {
  auto promise = std::make_shared<std::promise<RedisReply>>();
  std::future<RedisReply> reply = promise->get_future();
  redis.Command(std::move(argv), [promise](RedisReply r) { promise->set_value(std::move(r)); });
  if (reply.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "no reply within 10 s";
    return RedisReply::Unanswered("test: no reply");
  }
  return reply.get();
}

// A session of a node as its hub sees it: accepts everything, reports fixed `counters`.
class CountingSession : public SessionEndpoint {
 public:
  DeliveryOutcome Deliver(const PayloadPtr&) override { return DeliveryOutcome::kQueued; }
  void Close(uint16_t, absl::string_view) override {}
  SessionCounters Counters() const override { return counters; }
  SessionCounters counters;
};

struct DirectorySession {
  std::string id;
  std::string node;
  std::string user;
  std::vector<std::string> topics;  // sorted
};

// Writes `s` into the directory and appends its `opened` event, as SessionLog does (not
// atomically: the tests write before they read). Returns the event's stream id.
inline std::string WriteOpened(RedisConnection& redis, const cluster::ClusterKeys& keys,
                               const DirectorySession& s) {
  v1::Session info;
  info.set_session_id(s.id);
  info.set_user_id(s.user);
  for (const std::string& t : s.topics) info.add_topics(t);
  info.mutable_connected_at()->set_seconds(1'700'000'000);
  info.set_remote_address("198.51.100.7:4000");
  (*info.mutable_metadata())["plan"] = "pro";
  EXPECT_FALSE(Call(redis, {"HSET", keys.Session(s.id), "node", s.node, "user", s.user, "topics",
                            absl::StrJoin(s.topics, "\n"), "info", info.SerializeAsString()})
                   .is_error());
  Call(redis, {"ZADD", keys.AllSessions(), "0", s.id});
  if (!s.user.empty()) Call(redis, {"ZADD", keys.UserSessions(s.user), "0", s.id});
  for (const std::string& t : s.topics) Call(redis, {"ZADD", keys.TopicSessions(t), "0", s.id});
  Call(redis, {"SADD", keys.NodeSessions(s.node), s.id});
  v1::Event opened;
  opened.set_session_id(s.id);
  opened.set_user_id(s.user);
  opened.set_node_id(s.node);
  opened.mutable_opened()->set_remote_address("198.51.100.7:4000");
  const RedisReply id =
      Call(redis, {"XADD", keys.Events(), "*", std::string(cluster::ClusterKeys::EventField()),
                   opened.SerializeAsString()});
  EXPECT_EQ(id.type, RedisReply::Type::kString) << id.str;
  return id.str;
}

struct LoggedEvent {
  std::string stream_id;
  v1::Event event;
};

// Every event of the log, in order.
inline std::vector<LoggedEvent> ReadLog(RedisConnection& redis, const cluster::ClusterKeys& keys) {
  std::vector<LoggedEvent> out;
  const RedisReply all = Call(redis, {"XRANGE", keys.Events(), "-", "+"});
  for (const RedisReply& entry : all.elements) {
    LoggedEvent logged;
    logged.stream_id = entry.elements.at(0).str;
    const RedisReply& fields = entry.elements.at(1);
    for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
      if (fields.elements[i].str == cluster::ClusterKeys::EventField()) {
        EXPECT_TRUE(logged.event.ParseFromString(fields.elements[i + 1].str));
      }
    }
    out.push_back(std::move(logged));
  }
  return out;
}

}  // namespace wsbridge::testing
