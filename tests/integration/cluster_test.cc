// Cluster mode as a service sees it, across three `wsbridge` processes sharing one redis-server
// (ClusterFixture): ListSessions pages the sessions of every node from any node; one Events
// stream gets the events of every node in one order with the holding node named; a group of two
// streams on two nodes shares the events (each exactly once, a session's to one member); a node
// killed with SIGKILL gives exactly one `closed` (1006, TRANSPORT) per session it held, written by
// a survivor within 10 s, and leaves the directory; a Redis restart (every key gone) is
// recovered by the nodes themselves: directory, channels and events come back.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/cluster_fixture.h"
#include "support/events_reader.h"
#include "support/eventually.h"
#include "support/sanitizers.h"
#include "support/test_bridge.h"
#include "support/ws_client.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

constexpr size_t kA = 0, kB = 1, kC = 2;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kUnderSanitizers) GTEST_SKIP() << "drives three wsbridge processes: normal pass only";
    ClusterFixture::Options options;
    // A lost node is noticed after 2 s of silence.
    options.extra_args = {absl::StrCat("--jwt_secret=", kTestSecret), "--log_level=warn",
                          "--ping_interval=1s", "--node_timeout=2s"};
    cluster_ = std::make_unique<ClusterFixture>(options);
  }

  std::unique_ptr<WsClient> Browser(size_t node, const std::string& user,
                                    std::vector<std::string> topics = {}) {
    TokenSpec token;
    token.user_id = user;
    token.topics = std::move(topics);
    auto browser = WsClient::Connect(cluster_->node(node).ws, "/ws?token=" + MakeToken(token));
    EXPECT_TRUE(browser != nullptr) << "browser of " << user << " on node " << node;
    return browser;
  }

  bool InDirectory(const std::string& session_id) {
    return absl::StripAsciiWhitespace(
               cluster_->RedisCli({"HEXISTS", "wsb:s:" + session_id, "node"})) == "1";
  }
  void AwaitInDirectory(const std::string& session_id) {
    EXPECT_TRUE(Eventually([&] { return InDirectory(session_id); }))
        << session_id << " never reached the directory";
  }

  // Every page of ListSessions on `node`, `page_size` at a time.
  std::vector<v1::Session> ListAll(size_t node, int page_size, const std::string& user = "",
                                   const std::string& topic = "", int* pages = nullptr) {
    std::vector<v1::Session> all;
    std::string token;
    int count = 0;
    do {
      v1::ListSessionsRequest request;
      request.set_page_size(page_size);
      request.set_page_token(token);
      request.set_user_id(user);
      request.set_topic(topic);
      v1::ListSessionsResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Status status = cluster_->api(node).ListSessions(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      EXPECT_LE(response.sessions_size(), page_size);
      EXPECT_GT(response.sequence(), 0u) << "a cluster page names the log position it shows";
      for (const v1::Session& session : response.sessions()) all.push_back(session);
      token = response.next_page_token();
      ++count;
    } while (!token.empty() && count < 100);
    if (pages != nullptr) *pages = count;
    return all;
  }

  std::unique_ptr<ClusterFixture> cluster_;
};

TEST_F(ClusterTest, ListSessionsPagesEveryNodesSessionsFromAnyNode) {
  std::vector<std::unique_ptr<WsClient>> browsers;
  std::set<std::string> expected, of_topic, of_user;
  for (size_t node : {kA, kB, kC}) {
    for (int i = 0; i < 4; ++i) {
      const bool news = i % 2 == 0;
      browsers.push_back(
          Browser(node, absl::StrCat("user", i),
                  news ? std::vector<std::string>{"news"} : std::vector<std::string>{}));
      ASSERT_NE(browsers.back(), nullptr);
      const std::string& id = browsers.back()->session_id();
      expected.insert(id);
      if (news) of_topic.insert(id);
      if (i == 1) of_user.insert(id);
    }
  }
  for (const std::string& id : expected) AwaitInDirectory(id);

  for (size_t asked : {kA, kC}) {
    int pages = 0;
    std::vector<v1::Session> all = ListAll(asked, 5, "", "", &pages);
    std::vector<std::string> ids;
    for (const v1::Session& session : all) ids.push_back(session.session_id());
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "pages come in id order";
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), expected);
    EXPECT_EQ(ids.size(), expected.size()) << "no session on two pages";
    EXPECT_EQ(pages, 3);  // 12 sessions, 5 per page
  }
  std::set<std::string> news_ids, user1_ids;
  for (const v1::Session& session : ListAll(kB, 2, "", "news")) {
    news_ids.insert(session.session_id());
    EXPECT_THAT(session.topics(), ::testing::Contains("news"));
  }
  for (const v1::Session& session : ListAll(kB, 2, "user1")) {
    user1_ids.insert(session.session_id());
    EXPECT_EQ(session.user_id(), "user1");
  }
  EXPECT_EQ(news_ids, of_topic);
  EXPECT_EQ(user1_ids, of_user);

  // GetSession on A of a session held by C.
  v1::GetSessionRequest get;
  get.set_session_id(browsers.back()->session_id());
  v1::Session session;
  grpc::ClientContext context;
  ASSERT_TRUE(cluster_->api(kA).GetSession(&context, get, &session).ok());
  EXPECT_EQ(session.user_id(), "user3");

  // A Broadcast's `matched` counts every node's subscribers.
  v1::BroadcastRequest broadcast;
  broadcast.add_topics("news");
  broadcast.mutable_message()->set_text("hello");
  v1::BroadcastResponse answer;
  grpc::ClientContext broadcast_context;
  ASSERT_TRUE(cluster_->api(kB).Broadcast(&broadcast_context, broadcast, &answer).ok());
  EXPECT_EQ(answer.matched(), of_topic.size());
}

TEST_F(ClusterTest, OneEventsStreamGetsEveryNodesEventsInOneOrderNamingTheNode) {
  EventsReader stream(cluster_->api(kA), v1::EventsRequest{});
  std::map<std::string, std::string> node_of;  // session id -> node it was opened on
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (size_t node : {kA, kB, kC}) {
    browsers.push_back(Browser(node, absl::StrCat("watched-", node)));
    ASSERT_NE(browsers.back(), nullptr);
    node_of[browsers.back()->session_id()] = cluster_->node(node).node_id;
  }
  for (auto& browser : browsers) browser->Close(1000, "bye");

  std::vector<v1::Event> events = stream.ReadUntil([&](const std::vector<v1::Event>& seen) {
    return std::count_if(seen.begin(), seen.end(),
                         [](const v1::Event& e) { return e.has_closed(); }) >= 3;
  });
  uint64_t previous = 0;
  std::map<std::string, int> opened, closed;
  for (const v1::Event& event : events) {
    EXPECT_GT(event.sequence(), previous) << "one strictly increasing order";
    previous = event.sequence();
    auto it = node_of.find(event.session_id());
    if (it == node_of.end()) continue;
    EXPECT_EQ(event.node_id(), it->second) << "node_id names the node that held the session";
    if (event.has_opened()) ++opened[event.session_id()];
    if (event.has_closed()) {
      ++closed[event.session_id()];
      EXPECT_EQ(event.closed().code(), 1000u);
      EXPECT_EQ(event.closed().initiator(), v1::INITIATOR_CLIENT);
    }
  }
  for (const auto& [id, node] : node_of) {
    EXPECT_EQ(opened[id], 1) << id << " of " << node;
    EXPECT_EQ(closed[id], 1) << id << " of " << node;
  }

  // start_after_sequence on another node replays from the same log: the same events, same order.
  v1::EventsRequest resume;
  resume.set_start_after_sequence(events.front().sequence());
  EventsReader replay(cluster_->api(kC), resume);
  std::vector<v1::Event> replayed = replay.ReadUntil(
      [&](const std::vector<v1::Event>& seen) { return seen.size() >= events.size() - 1; });
  ASSERT_EQ(replayed.size(), events.size() - 1);
  for (size_t i = 0; i < replayed.size(); ++i) {
    EXPECT_EQ(replayed[i].sequence(), events[i + 1].sequence());
    EXPECT_EQ(replayed[i].session_id(), events[i + 1].session_id());
  }
}

TEST_F(ClusterTest, AGroupOfTwoStreamsOnTwoNodesSharesTheEventsEachExactlyOnce) {
  v1::EventsRequest request;
  request.set_group("workers");
  request.add_kinds(v1::EVENT_KIND_OPENED);
  request.add_kinds(v1::EVENT_KIND_CLOSED);
  EventsReader on_a(cluster_->api(kA), request);
  EventsReader on_b(cluster_->api(kB), request);
  // Both members joined the log before the sessions come.
  ASSERT_TRUE(Eventually([&] {
    return absl::StripAsciiWhitespace(cluster_->RedisCli({"HLEN", "wsb:g:workers:members"})) == "2";
  }));

  constexpr int kSessions = 24;
  std::set<std::string> ids;
  for (int i = 0; i < kSessions; ++i) {
    auto browser = Browser(i % 3, absl::StrCat("grouped-", i));
    ASSERT_NE(browser, nullptr);
    ids.insert(browser->session_id());
    browser->Close(1000, "done");
  }
  std::vector<v1::Event> got_a, got_b;
  ASSERT_TRUE(Eventually(
      [&] {
        while (auto event = on_a.Next(absl::Milliseconds(10))) got_a.push_back(*event);
        while (auto event = on_b.Next(absl::Milliseconds(10))) got_b.push_back(*event);
        return got_a.size() + got_b.size() >= 2 * kSessions;
      },
      absl::Seconds(20)))
      << got_a.size() << " + " << got_b.size();
  absl::SleepFor(absl::Milliseconds(500));  // nothing more may come
  while (auto event = on_a.Next(absl::Milliseconds(10))) got_a.push_back(*event);
  while (auto event = on_b.Next(absl::Milliseconds(10))) got_b.push_back(*event);

  std::map<std::string, std::set<char>> members_of;  // session -> which member got its events
  std::map<std::pair<std::string, bool>, int> times;
  for (auto [events, member] : {std::pair{&got_a, 'a'}, std::pair{&got_b, 'b'}}) {
    for (const v1::Event& event : *events) {
      if (!ids.contains(event.session_id())) continue;
      members_of[event.session_id()].insert(member);
      ++times[{event.session_id(), event.has_opened()}];
    }
  }
  for (const std::string& id : ids) {
    EXPECT_EQ((times[{id, true}]), 1) << "opened of " << id;
    EXPECT_EQ((times[{id, false}]), 1) << "closed of " << id;
    EXPECT_EQ(members_of[id].size(), 1u) << "all events of " << id << " go to one member";
  }
  EXPECT_FALSE(got_a.empty()) << "both members share the work";
  EXPECT_FALSE(got_b.empty()) << "both members share the work";
}

TEST_F(ClusterTest, ANodeKilledGivesExactlyOneClosedPerSessionWithin10Seconds) {
  v1::EventsRequest request;
  request.add_kinds(v1::EVENT_KIND_CLOSED);
  EventsReader stream(cluster_->api(kA), request);
  constexpr int kSessions = 30;
  std::vector<std::unique_ptr<WsClient>> on_c;
  std::set<std::string> lost;
  for (int i = 0; i < kSessions; ++i) {
    on_c.push_back(Browser(kC, absl::StrCat("doomed-", i), {"ticker"}));
    ASSERT_NE(on_c.back(), nullptr);
    lost.insert(on_c.back()->session_id());
  }
  auto survivor = Browser(kB, "survivor");
  ASSERT_NE(survivor, nullptr);
  for (const std::string& id : lost) AwaitInDirectory(id);
  AwaitInDirectory(survivor->session_id());

  const absl::Time killed = absl::Now();
  cluster_->Kill(kC);
  std::vector<v1::Event> events = stream.ReadUntil(
      [&](const std::vector<v1::Event>& seen) {
        return std::count_if(seen.begin(), seen.end(), [&](const v1::Event& e) {
                 return lost.contains(e.session_id());
               }) >= kSessions;
      },
      absl::Seconds(10));
  const absl::Duration took = absl::Now() - killed;
  // Anything more would be a second closed.
  absl::SleepFor(absl::Seconds(3));
  while (auto event = stream.Next(absl::Milliseconds(10))) events.push_back(*event);

  std::map<std::string, int> closed;
  for (const v1::Event& event : events) {
    if (!lost.contains(event.session_id())) {
      ADD_FAILURE() << "a closed for a session that was not lost: " << event.session_id();
      continue;
    }
    ++closed[event.session_id()];
    EXPECT_EQ(event.node_id(), cluster_->node(kC).node_id);
    EXPECT_EQ(event.closed().code(), 1006u);
    EXPECT_EQ(event.closed().initiator(), v1::INITIATOR_TRANSPORT);
    EXPECT_THAT(event.closed().reason(), HasSubstr("lost"));
    EXPECT_THAT(event.closed().reason(), HasSubstr(cluster_->node(kC).node_id));
  }
  for (const std::string& id : lost) EXPECT_EQ(closed[id], 1) << id;
  EXPECT_LT(took, absl::Seconds(10));

  // Out of the directory: ListSessions and the topic's count know only the survivor now.
  std::vector<v1::Session> left = ListAll(kB, 100);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].session_id(), survivor->session_id());
  v1::BroadcastRequest broadcast;
  broadcast.add_topics("ticker");
  broadcast.mutable_message()->set_text("anyone?");
  v1::BroadcastResponse answer;
  grpc::ClientContext context;
  ASSERT_TRUE(cluster_->api(kA).Broadcast(&context, broadcast, &answer).ok());
  EXPECT_EQ(answer.matched(), 0u);
}

TEST_F(ClusterTest, ARedisRestartIsRecoveredByTheNodesThemselves) {
  auto bob = Browser(kB, "bob", {"news"});
  auto carol = Browser(kC, "carol");
  ASSERT_NE(bob, nullptr);
  ASSERT_NE(carol, nullptr);
  AwaitInDirectory(bob->session_id());
  AwaitInDirectory(carol->session_id());

  cluster_->RestartRedis();  // persistence off: every key and subscription is gone

  // The nodes write their sessions into the directory again, and listen again.
  AwaitInDirectory(bob->session_id());
  AwaitInDirectory(carol->session_id());
  ASSERT_TRUE(Eventually([&] { return cluster_->Subscribers("wsb:t:news") >= 1; }));
  v1::BroadcastRequest broadcast;
  broadcast.add_topics("news");
  broadcast.mutable_message()->set_text("after the restart");
  v1::BroadcastResponse answer;
  grpc::Status status;
  // Calls may fail UNAVAILABLE until the publishing node's connection is back.
  ASSERT_TRUE(Eventually([&] {
    grpc::ClientContext context;
    status = cluster_->api(kA).Broadcast(&context, broadcast, &answer);
    return status.ok();
  })) << status.error_message();
  EXPECT_EQ(answer.matched(), 1u);
  auto message = bob->NextMessage(absl::Seconds(5));
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data, "after the restart");

  // Events flow again, on every node. The log lost what the nodes had not read yet, so a node
  // that notices it ends the streams it serves (RESOURCE_EXHAUSTED, never a silent gap): a
  // consumer opens a new one, as after any such end, until one sees a fresh session open.
  std::unique_ptr<EventsReader> stream;
  std::vector<std::unique_ptr<WsClient>> probes;
  ASSERT_TRUE(Eventually(
      [&] {
        stream = std::make_unique<EventsReader>(cluster_->api(kA), v1::EventsRequest{});
        probes.push_back(Browser(kB, absl::StrCat("probe-", probes.size())));
        const std::string id = probes.back()->session_id();
        return !stream
                    ->ReadUntil(
                        [&](const std::vector<v1::Event>& seen) {
                          return std::any_of(seen.begin(), seen.end(), [&](const v1::Event& e) {
                            return e.has_opened() && e.session_id() == id;
                          });
                        },
                        absl::Seconds(2))
                    .empty() &&
               !stream->WaitEnded(absl::Milliseconds(1)).has_value();
      },
      absl::Seconds(20)));
  carol->Close(1000, "bye");
  std::vector<v1::Event> events = stream->ReadUntil([&](const std::vector<v1::Event>& seen) {
    return std::any_of(seen.begin(), seen.end(), [&](const v1::Event& e) {
      return e.has_closed() && e.session_id() == carol->session_id();
    });
  });
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [&](const v1::Event& e) {
    return e.has_closed() && e.session_id() == carol->session_id();
  }));
}

}  // namespace
}  // namespace wsbridge::testing
