// ClusterBroker across three `wsbridge` processes sharing one redis-server (ClusterFixture):
// calls made on one node act on the browsers of the others, one order per topic holds across
// nodes, what one node publishes to one session stays in order across channels, GetSession and
// ListSessions on one node show the live counters of every node's sessions (zeros, within a
// bounded wait, for a node that does not answer), and a Redis outage fails calls (the reads too)
// with UNAVAILABLE while local browser traffic goes on, until Redis is back.
//
// The session directory is written by each node's SessionLog a moment after a browser's
// upgrade: tests that address a session by id on another node wait until it is there. The
// counts are also tested against a directory written by hand in cluster_scripts_test.cc.
#include <signal.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "support/child_process.h"
#include "support/cluster_fixture.h"
#include "support/eventually.h"
#include "support/sanitizers.h"
#include "support/test_bridge.h"
#include "support/ws_client.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Whole-product tests from outside: the processes are the release build's binary.
#define SKIP_UNDER_SANITIZERS() \
  if (kUnderSanitizers) GTEST_SKIP() << "drives three wsbridge processes: normal pass only"

constexpr size_t kA = 0, kB = 1, kC = 2;

class ClusterBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_UNDER_SANITIZERS();
    ClusterFixture::Options options;
    options.extra_args = {absl::StrCat("--jwt_secret=", kTestSecret), "--log_level=warn",
                          "--ping_interval=1s"};
    cluster_ = std::make_unique<ClusterFixture>(options);
  }

  // A browser of `user` on node `i`, subscribed to `topics` by its token; waits until the node
  // listens to the channels it needs (its user's and its topics').
  std::unique_ptr<WsClient> Browser(size_t i, const std::string& user,
                                    std::vector<std::string> topics = {}) {
    TokenSpec token;
    token.user_id = user;
    token.topics = topics;
    auto browser = WsClient::Connect(cluster_->node(i).ws, "/ws?token=" + MakeToken(token));
    EXPECT_TRUE(browser != nullptr) << "browser of " << user << " on node " << i;
    if (browser == nullptr) return nullptr;
    std::vector<std::string> channels = {"wsb:u:" + user};
    for (const std::string& topic : topics) channels.push_back("wsb:t:" + topic);
    for (const std::string& channel : channels) {
      EXPECT_TRUE(Eventually([&] { return cluster_->Subscribers(channel) >= 1; }))
          << channel << " never subscribed";
    }
    return browser;
  }

  v1::PushResponse Push(size_t node, std::vector<std::string> ids, std::vector<std::string> users,
                        const std::string& text, grpc::Status* status_out = nullptr) {
    v1::PushRequest request;
    for (auto& id : ids) request.add_session_ids(id);
    for (auto& user : users) request.add_user_ids(user);
    request.mutable_message()->set_text(text);
    v1::PushResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status status = cluster_->api(node).Push(&context, request, &response);
    if (status_out != nullptr) {
      *status_out = status;
    } else {
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    return response;
  }

  v1::BroadcastResponse Broadcast(size_t node, std::vector<std::string> topics, bool all,
                                  const std::string& text, grpc::Status* status_out = nullptr) {
    v1::BroadcastRequest request;
    for (auto& topic : topics) request.add_topics(topic);
    request.set_all_sessions(all);
    request.mutable_message()->set_text(text);
    v1::BroadcastResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status status = cluster_->api(node).Broadcast(&context, request, &response);
    if (status_out != nullptr) {
      *status_out = status;
    } else {
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    return response;
  }

  // Waits until the session's node wrote it into the directory (SessionLog, on its opened).
  void AwaitInDirectory(const std::string& session_id) {
    EXPECT_TRUE(Eventually([&] {
      return absl::StripAsciiWhitespace(
                 cluster_->RedisCli({"HEXISTS", "wsb:s:" + session_id, "node"})) == "1";
    })) << session_id
        << " never reached the directory";
  }

  grpc::Status GetSession(size_t node, const std::string& id, v1::Session* session) {
    v1::GetSessionRequest request;
    request.set_session_id(id);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return cluster_->api(node).GetSession(&context, request, session);
  }

  // One page of every session, by id, from `node`.
  grpc::Status ListSessions(size_t node, std::map<std::string, v1::Session>* by_id) {
    v1::ListSessionsRequest request;
    request.set_page_size(100);
    v1::ListSessionsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status status = cluster_->api(node).ListSessions(&context, request, &response);
    by_id->clear();
    for (const v1::Session& session : response.sessions()) (*by_id)[session.session_id()] = session;
    return status;
  }

  // Pushes `count` texts of `bytes` bytes from node A to `browser` by id and reads them there.
  void PushAndRead(const std::unique_ptr<WsClient>& browser, int count, size_t bytes) {
    for (int i = 0; i < count; ++i) {
      const std::string text(bytes, static_cast<char>('a' + i % 26));
      Push(kA, {browser->session_id()}, {}, text);
      ASSERT_EQ(Text(browser), text);
    }
  }

  static std::string Text(const std::unique_ptr<WsClient>& browser) {
    auto message = browser->NextMessage(absl::Seconds(5));
    return message.has_value() ? message->data : "(nothing)";
  }

  std::unique_ptr<ClusterFixture> cluster_;
};

TEST_F(ClusterBrokerTest, PushByIdAndByUserOnAReachesSessionsOnBAndC) {
  auto bob = Browser(kB, "bob");
  auto carol = Browser(kC, "carol");
  AwaitInDirectory(bob->session_id());
  AwaitInDirectory(carol->session_id());

  v1::PushResponse by_id = Push(kA, {bob->session_id(), carol->session_id()}, {}, "by id");
  EXPECT_EQ(Text(bob), "by id");
  EXPECT_EQ(Text(carol), "by id");
  EXPECT_EQ(by_id.matched(), 2u);
  EXPECT_EQ(by_id.unknown_session_ids_size(), 0);

  // Counts from the directory: both sessions live on other nodes, so both are queued once Redis
  // took the message for their nodes.
  v1::PushResponse by_user = Push(kA, {}, {"bob", "carol"}, "by user");
  EXPECT_EQ(Text(bob), "by user");
  EXPECT_EQ(Text(carol), "by user");
  EXPECT_EQ(by_user.matched(), 2u);
  EXPECT_EQ(by_user.queued(), 2u);
  EXPECT_EQ(by_user.dropped(), 0u);

  // Named by id AND as its user: once.
  Push(kA, {bob->session_id()}, {"bob"}, "once");
  EXPECT_EQ(Text(bob), "once");
  EXPECT_FALSE(bob->NextMessage(absl::Milliseconds(300)).has_value());

  v1::PushResponse ghost = Push(kA, {"no-such-session"}, {}, "ghost");
  EXPECT_THAT(ghost.unknown_session_ids(), ElementsAre("no-such-session"));
}

TEST_F(ClusterBrokerTest, BroadcastFromAReachesTopicSubscribersAndEveryoneOnEveryNode) {
  auto on_a = Browser(kA, "alice", {"news"});
  auto on_b = Browser(kB, "bob", {"news"});
  auto on_c = Browser(kC, "carol", {"sports"});

  Broadcast(kA, {"news"}, false, "news 1");
  EXPECT_EQ(Text(on_a), "news 1");
  EXPECT_EQ(Text(on_b), "news 1");
  EXPECT_FALSE(on_c->NextMessage(absl::Milliseconds(300)).has_value());

  // Several topics: once each, from whichever topic it has.
  Broadcast(kA, {"news", "sports"}, false, "both");
  EXPECT_EQ(Text(on_a), "both");
  EXPECT_EQ(Text(on_b), "both");
  EXPECT_EQ(Text(on_c), "both");

  Broadcast(kA, {}, true, "everyone");
  EXPECT_EQ(Text(on_a), "everyone");
  EXPECT_EQ(Text(on_b), "everyone");
  EXPECT_EQ(Text(on_c), "everyone");
  for (auto* browser : {&on_a, &on_b, &on_c}) {
    EXPECT_FALSE((*browser)->NextMessage(absl::Milliseconds(300)).has_value());
  }
}

TEST_F(ClusterBrokerTest, EveryNodesSubscribersSeeOneOrderPerTopicWithPublishersOnEveryNode) {
  constexpr int kPerPublisher = 200;
  std::vector<std::unique_ptr<WsClient>> subscribers;
  for (size_t node : {kA, kA, kB, kB, kC, kC}) {
    subscribers.push_back(Browser(node, absl::StrCat("u", subscribers.size()), {"race"}));
  }
  // One publisher per node, all at once, each on its own channel to its node.
  std::vector<std::thread> publishers;
  for (size_t node : {kA, kB, kC}) {
    publishers.emplace_back([this, node] {
      for (int i = 0; i < kPerPublisher; ++i) {
        Broadcast(node, {"race"}, false, absl::StrCat("n", node, "-", i));
      }
    });
  }
  for (auto& t : publishers) t.join();
  std::vector<std::vector<std::string>> seen(subscribers.size());
  for (size_t s = 0; s < subscribers.size(); ++s) {
    for (int i = 0; i < 3 * kPerPublisher; ++i) {
      auto message = subscribers[s]->NextMessage(absl::Seconds(5));
      ASSERT_TRUE(message.has_value()) << "subscriber " << s << " got only " << i;
      seen[s].push_back(message->data);
    }
  }
  for (size_t s = 1; s < subscribers.size(); ++s) {
    EXPECT_EQ(seen[s], seen[0]) << "subscriber " << s << " saw another order than subscriber 0";
  }
  // Each publisher's own messages in its order.
  for (size_t node : {kA, kB, kC}) {
    int next = 0;
    for (const std::string& text : seen[0]) {
      if (text.rfind(absl::StrCat("n", node, "-"), 0) != 0) continue;
      EXPECT_EQ(text, absl::StrCat("n", node, "-", next)) << "publisher " << node;
      ++next;
    }
  }
}

TEST_F(ClusterBrokerTest, SubscribeOnAMakesBsSessionReceiveTheTopicAndUnsubscribeStopsIt) {
  auto bob = Browser(kB, "bob");
  AwaitInDirectory(bob->session_id());

  v1::SubscribeRequest subscribe;
  subscribe.add_session_ids(bob->session_id());
  subscribe.add_topics("late");
  v1::SubscribeResponse subscribed;
  grpc::ClientContext subscribe_context;
  grpc::Status status = cluster_->api(kA).Subscribe(&subscribe_context, subscribe, &subscribed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(subscribed.sessions(), 1u);
  ASSERT_TRUE(Eventually([&] { return cluster_->Subscribers("wsb:t:late") == 1; }));

  Broadcast(kA, {"late"}, false, "after subscribe");
  EXPECT_EQ(Text(bob), "after subscribe");

  v1::UnsubscribeRequest unsubscribe;
  unsubscribe.add_user_ids("bob");
  unsubscribe.add_topics("late");
  v1::UnsubscribeResponse unsubscribed;
  grpc::ClientContext unsubscribe_context;
  status = cluster_->api(kA).Unsubscribe(&unsubscribe_context, unsubscribe, &unsubscribed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(Eventually([&] { return cluster_->Subscribers("wsb:t:late") == 0; }))
      << "node-b still listens to the topic its only subscriber left";

  Broadcast(kA, {"late"}, false, "after unsubscribe");
  Push(kA, {}, {"bob"}, "marker");
  EXPECT_EQ(Text(bob), "marker");
}

TEST_F(ClusterBrokerTest, DisconnectOnAClosesCsSessionWithTheCodeAndReason) {
  auto carol = Browser(kC, "carol");
  AwaitInDirectory(carol->session_id());

  v1::DisconnectRequest request;
  request.add_session_ids(carol->session_id());
  request.set_code(4001);
  request.set_reason("moved elsewhere");
  v1::DisconnectResponse response;
  grpc::ClientContext context;
  grpc::Status status = cluster_->api(kA).Disconnect(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.sessions(), 1u);
  auto close = carol->WaitClosed(absl::Seconds(5));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 4001);
  EXPECT_EQ(close->reason, "moved elsewhere");
}

TEST_F(ClusterBrokerTest, WhatOneNodePublishesToOneSessionArrivesInOrderAcrossChannels) {
  auto bob = Browser(kB, "bob", {"feed"});
  AwaitInDirectory(bob->session_id());
  constexpr int kMessages = 300;
  // One stream, pipelined: requests alternate between the node channel (by id), the user
  // channel (by user); broadcasts to the topic channel go on another stream in between.
  grpc::ClientContext context;
  auto stream = cluster_->api(kA).PushStream(&context);
  for (int i = 0; i < kMessages; ++i) {
    v1::PushRequest request;
    if (i % 2 == 0) {
      request.add_session_ids(bob->session_id());
    } else {
      request.add_user_ids("bob");
    }
    request.mutable_message()->set_text(absl::StrCat(i));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::PushResponse response;
  int answers = 0;
  while (stream->Read(&response)) ++answers;
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(answers, kMessages);
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(Text(bob), absl::StrCat(i)) << "out of order or missing at " << i;
  }
  // Sequential calls on three channels (node, topic, user) keep their order too.
  Push(kA, {bob->session_id()}, {}, "x1");
  Broadcast(kA, {"feed"}, false, "x2");
  Push(kA, {}, {"bob"}, "x3");
  EXPECT_EQ(Text(bob), "x1");
  EXPECT_EQ(Text(bob), "x2");
  EXPECT_EQ(Text(bob), "x3");
}

TEST_F(ClusterBrokerTest, APushBatchOnAReachesSessionsOnBInItemOrderAcrossChannels) {
  auto alice = Browser(kA, "alice");
  auto bob = Browser(kB, "bob");
  auto carol = Browser(kB, "carol");
  AwaitInDirectory(bob->session_id());
  AwaitInDirectory(carol->session_id());

  // Pushes alternate between bob's node channel (by id) and the users' channels; some reach
  // both browsers on B, one reaches alice on A, one names nobody.
  constexpr int kPushes = 60;
  v1::PushBatchRequest request;
  std::vector<std::string> to_bob, to_carol;
  for (int k = 0; k < kPushes; ++k) {
    v1::PushRequest* push = request.add_pushes();
    const std::string text = absl::StrCat(k);
    push->mutable_message()->set_text(text);
    switch (k % 4) {
      case 0:
        push->add_session_ids(bob->session_id());
        to_bob.push_back(text);
        break;
      case 1:
        push->add_user_ids("carol");
        to_carol.push_back(text);
        break;
      case 2:
        push->add_user_ids("bob");
        push->add_user_ids("carol");
        to_bob.push_back(text);
        to_carol.push_back(text);
        break;
      default:
        push->add_user_ids("alice");
        break;
    }
  }
  v1::PushRequest* ghost = request.add_pushes();
  ghost->add_session_ids("no-such-session");
  ghost->mutable_message()->set_text("ghost");

  v1::PushBatchResponse response;
  grpc::Status status = cluster_->api(kA).PushBatch(CallContext().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), kPushes + 1);
  for (int k = 0; k < kPushes; ++k) {
    const v1::PushBatchResult& result = response.results(k);
    EXPECT_EQ(result.error_code(), 0u) << k << ": " << result.error_message();
    EXPECT_EQ(result.response().matched(), k % 4 == 2 ? 2u : 1u) << k;
    EXPECT_EQ(result.response().queued(), k % 4 == 2 ? 2u : 1u) << k;
  }
  EXPECT_THAT(response.results(kPushes).response().unknown_session_ids(),
              ElementsAre("no-such-session"));

  for (const std::string& text : to_bob) ASSERT_EQ(Text(bob), text) << "bob";
  for (const std::string& text : to_carol) ASSERT_EQ(Text(carol), text) << "carol";
  for (int k = 3; k < kPushes; k += 4) ASSERT_EQ(Text(alice), absl::StrCat(k)) << "alice";
}

TEST_F(ClusterBrokerTest, RedisDownFailsEachPushOfABatchWithUnavailableInItsResult) {
  auto bob = Browser(kB, "bob");
  cluster_->redis().Stop();

  v1::PushBatchRequest request;
  for (const char* user : {"bob", "", "bob"}) {
    v1::PushRequest* push = request.add_pushes();
    push->add_user_ids(user);
    push->mutable_message()->set_text("while down");
  }
  v1::PushBatchResponse response;
  grpc::Status status = cluster_->api(kA).PushBatch(CallContext().get(), request, &response);

  // The call itself went through: each push says what became of it.
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 3);
  for (int k : {0, 2}) {
    EXPECT_EQ(response.results(k).error_code(),
              static_cast<uint32_t>(grpc::StatusCode::UNAVAILABLE));
    EXPECT_THAT(response.results(k).error_message(),
                HasSubstr(absl::StrCat("pushes[", k, "]: redis unavailable")));
  }
  EXPECT_EQ(response.results(1).error_code(),
            static_cast<uint32_t>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_FALSE(bob->NextMessage(absl::Milliseconds(300)).has_value());
}

TEST_F(ClusterBrokerTest, RedisDownFailsCallsWithUnavailableLocalTrafficGoesOnAndRecovers) {
  auto on_a = Browser(kA, "alice", {"news"});
  auto on_b = Browser(kB, "bob", {"news"});
  auto leaving = Browser(kA, "dave");
  Broadcast(kA, {"news"}, false, "before");
  ASSERT_EQ(Text(on_a), "before");
  ASSERT_EQ(Text(on_b), "before");

  cluster_->redis().Stop();
  grpc::Status status;
  Push(kA, {}, {"bob"}, "while down", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("redis unavailable"));
  Broadcast(kA, {"news"}, false, "while down", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("redis unavailable"));

  v1::SubscribeRequest subscribe;
  subscribe.add_user_ids("bob");
  subscribe.add_topics("later");
  v1::SubscribeResponse subscribed;
  grpc::ClientContext subscribe_context;
  status = cluster_->api(kA).Subscribe(&subscribe_context, subscribe, &subscribed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("redis unavailable"));
  // The directory cannot be read: that is what GetSession and ListSessions say, not "no such
  // session" nor an empty page, for this node's own sessions too.
  for (const std::string& id : {on_b->session_id(), on_a->session_id()}) {
    v1::Session session;
    status = GetSession(kA, id, &session);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("redis unavailable: "));
  }
  std::map<std::string, v1::Session> listed;
  status = ListSessions(kA, &listed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("redis unavailable: "));
  {
    // A PushStream ends with the same status at the request that could not be carried out.
    grpc::ClientContext context;
    auto stream = cluster_->api(kA).PushStream(&context);
    v1::PushRequest request;
    request.add_user_ids("bob");
    request.mutable_message()->set_text("streamed while down");
    ASSERT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::PushResponse response;
    EXPECT_FALSE(stream->Read(&response));
    grpc::Status finished = stream->Finish();
    EXPECT_EQ(finished.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(finished.error_message(), HasSubstr("redis unavailable"));
  }

  // Local browser traffic needs no Redis: the node keeps pinging its sessions
  // (--ping_interval=1s), and a browser's close is answered.
  const int pings = on_a->pings_received();
  EXPECT_TRUE(Eventually([&] { return on_a->pings_received() > pings; }, absl::Seconds(5)))
      << "no ping reached the browser while Redis was down";
  leaving->Close(1000, "bye");
  auto close = leaving->WaitClosed(absl::Seconds(5));
  ASSERT_TRUE(close.has_value()) << "the close was not answered while Redis was down";
  EXPECT_EQ(close->code, 1000);

  cluster_->RestartRedis();
  // Every node listens again by itself (its own channel, and its sessions' topics).
  for (const char* channel : {"wsb:n:node-a", "wsb:n:node-b", "wsb:n:node-c", "wsb:t:news"}) {
    EXPECT_TRUE(Eventually([&] { return cluster_->Subscribers(channel) >= 1; }, absl::Seconds(15)))
        << channel << " not subscribed again after the restart";
  }
  int probe = 0;
  EXPECT_TRUE(Eventually(
      [&] {
        grpc::Status retry;
        Broadcast(kA, {"news"}, false, absl::StrCat("probe ", probe++), &retry);
        return retry.ok();
      },
      absl::Seconds(15)))
      << "calls still fail after Redis came back";
  Broadcast(kA, {"news"}, false, "after");
  // Probes that went out before may come first.
  for (auto* browser : {&on_a, &on_b}) {
    EXPECT_TRUE(Eventually([&] { return Text(*browser) == "after"; }, absl::Seconds(10)));
  }
  // The nodes wrote their sessions back into the (emptied) directory: the reads answer again.
  EXPECT_TRUE(Eventually(
      [&] {
        v1::Session session;
        return GetSession(kA, on_b->session_id(), &session).ok();
      },
      absl::Seconds(15)))
      << "GetSession still fails after Redis came back";
  EXPECT_TRUE(Eventually(
      [&] {
        return ListSessions(kC, &listed).ok() && listed.contains(on_a->session_id()) &&
               listed.contains(on_b->session_id());
      },
      absl::Seconds(15)))
      << "ListSessions does not list the sessions again after Redis came back";
}

TEST_F(ClusterBrokerTest, GetSessionAndListSessionsOnAShowLiveCountersOfEveryNodesSessions) {
  auto on_a = Browser(kA, "alice");
  auto on_b = Browser(kB, "bob");
  auto on_c = Browser(kC, "carol");
  for (auto* browser : {&on_a, &on_b, &on_c}) AwaitInDirectory((*browser)->session_id());
  PushAndRead(on_a, 1, 10);
  PushAndRead(on_b, 3, 20);
  PushAndRead(on_c, 2, 30);
  on_b->SendText("hello");  // 5 bytes from bob's browser to node B
  struct Expected {
    uint64_t sent, sent_bytes, received, received_bytes;
  };
  const std::map<std::string, Expected> expected = {{on_a->session_id(), {1, 10, 0, 0}},
                                                    {on_b->session_id(), {3, 60, 1, 5}},
                                                    {on_c->session_id(), {2, 60, 0, 0}}};
  auto matches = [&](const v1::Session& session) {
    const Expected& e = expected.at(session.session_id());
    const v1::SessionStats& stats = session.stats();
    return stats.messages_sent() == e.sent && stats.bytes_sent() == e.sent_bytes &&
           stats.messages_received() == e.received && stats.bytes_received() == e.received_bytes;
  };

  // A session held by B, asked on A (a frame is counted once its write completed: eventually).
  v1::Session bob;
  EXPECT_TRUE(Eventually([&] {
    return GetSession(kA, on_b->session_id(), &bob).ok() && matches(bob);
  })) << "GetSession on A: "
      << bob.ShortDebugString();

  // One page spanning the three nodes: every session with its own node's counters.
  std::map<std::string, v1::Session> listed;
  EXPECT_TRUE(Eventually([&] {
    if (!ListSessions(kA, &listed).ok() || listed.size() != expected.size()) return false;
    for (const auto& [id, session] : listed) {
      if (!matches(session)) return false;
    }
    return true;
  })) << "ListSessions on A did not show every node's counters";
  for (const auto& [id, session] : listed) {
    EXPECT_TRUE(matches(session)) << session.ShortDebugString();
  }
}

TEST_F(ClusterBrokerTest, AHolderThatDoesNotAnswerLeavesZeroCountersAndTheAnswerStillComes) {
  auto on_b = Browser(kB, "bob");
  auto on_c = Browser(kC, "carol");
  AwaitInDirectory(on_b->session_id());
  AwaitInDirectory(on_c->session_id());
  PushAndRead(on_b, 2, 10);
  PushAndRead(on_c, 3, 10);
  v1::Session session;
  ASSERT_TRUE(Eventually([&] {
    return GetSession(kA, on_c->session_id(), &session).ok() &&
           session.stats().messages_sent() == 3;
  })) << "node C's counters never reached A";
  // A session whose node is gone for good (nobody listens to its channel): zeros, no wait.
  cluster_->RegisterInDirectory("ghost-session", "node-ghost", "ghost", {});
  ASSERT_TRUE(GetSession(kA, "ghost-session", &session).ok());
  EXPECT_EQ(session.stats().messages_sent(), 0u);

  // Node C stopped (still subscribed, never answering): A answers within its bounded wait
  // (well inside the call's 10 s deadline), C's session and the ghost with zero counters, B's
  // with its own.
  cluster_->process(kC).Signal(SIGSTOP);
  std::map<std::string, v1::Session> listed;
  grpc::Status status = ListSessions(kA, &listed);
  cluster_->process(kC).Signal(SIGCONT);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed.at(on_b->session_id()).stats().messages_sent(), 2u);
  EXPECT_EQ(listed.at(on_b->session_id()).stats().bytes_sent(), 20u);
  EXPECT_EQ(listed.at(on_c->session_id()).stats().messages_sent(), 0u);
  EXPECT_EQ(listed.at("ghost-session").stats().messages_sent(), 0u);

  // C answers again once it runs (its late reply to the stopped wait is ignored).
  EXPECT_TRUE(Eventually([&] {
    return GetSession(kA, on_c->session_id(), &session).ok() &&
           session.stats().messages_sent() == 3;
  })) << "node C's counters did not come back";
}

TEST(ClusterBinaryTest, ABadRedisUrlStopsTheStartNamingTheFlagAndThePasswordNeverShows) {
  SKIP_UNDER_SANITIZERS();
  ChildProcess bridge(WSBRIDGE_BINARY,
                      {"--bind=127.0.0.1", "--grpc_port=0", "--ws_port=0", "--admin_port=0",
                       "--redis_url=rediss://:hunter2@127.0.0.1:1"});
  auto code = bridge.WaitExit(absl::Seconds(15));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(bridge.Stderr(), HasSubstr("--redis_url"));
  EXPECT_THAT(bridge.Stderr(), ::testing::Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace wsbridge::testing
