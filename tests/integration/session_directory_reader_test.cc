// SessionDirectoryReader against a real redis-server: GetSession and ListSessions answered from
// a directory the test writes in the schema of docs/cluster.md (paged by all, user, topic and
// user AND topic; after_id, page_size, `more`), the page's `sequence` being the last log entry's,
// live counters for this node's own sessions from its hub, and a "redis unavailable" failure
// (never "not found" / an empty page) while Redis is gone, answers again once it is back.
#include "cluster/session_directory_reader.h"

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hub/connection_limiter.h"
#include "hub/hub.h"
#include "hub/session_endpoint.h"
#include "runtime/io_thread.h"
#include "support/cluster_directory_fixture.h"
#include "support/eventually.h"
#include "support/redis_server.h"

namespace wsbridge {
namespace {

using testing::Call;
using testing::CountingSession;
using testing::DirectorySession;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::RedisOptionsFor;
using testing::RedisServer;
using testing::WriteOpened;

std::vector<std::string> IdsOf(const SessionPage& page) {
  std::vector<std::string> ids;
  for (const SessionView& v : page.sessions) ids.push_back(v.info.id);
  return ids;
}

class SessionDirectoryReaderTest : public ::testing::Test {
 protected:
  SessionDirectoryReaderTest()
      : redis_(redis_thread_, RedisOptionsFor(server_.Url())),
        hub_({&io_thread_}, 16, limiter_),
        counters_(redis_thread_, redis_, keys_, "node-a", hub_),
        reader_(redis_thread_, redis_, keys_, counters_) {}

  void SetUp() override {
    redis_thread_.Start();
    io_thread_.Start();
  }
  // The hub's thread stops before the hub goes; the Redis thread runs until the connection is
  // gone (its destructor needs it), then stops with its IoThread.
  ~SessionDirectoryReaderTest() override { io_thread_.StopAndJoin(); }

  SessionPage List(std::string after, size_t page_size, std::string user = "",
                   std::string topic = "") {
    ListQuery query;
    query.after_id = std::move(after);
    query.page_size = page_size;
    query.user_id = std::move(user);
    query.topic = std::move(topic);
    auto promise = std::make_shared<std::promise<SessionPage>>();
    auto result = promise->get_future();
    reader_.List(std::move(query),
                 [promise](SessionPage page) { promise->set_value(std::move(page)); });
    EXPECT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return result.get();
  }

  SessionLookup Get(std::string id) {
    auto promise = std::make_shared<std::promise<SessionLookup>>();
    auto result = promise->get_future();
    reader_.Get(std::move(id),
                [promise](SessionLookup lookup) { promise->set_value(std::move(lookup)); });
    EXPECT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return result.get();
  }

  // Twelve sessions s01..s12 on two nodes: users alice (odd) and bob (even); topic news on
  // multiples of 3, sport on s01..s04. Returns the stream id of the last `opened`.
  std::string WriteTwelve() {
    std::string last;
    for (int i = 1; i <= 12; ++i) {
      DirectorySession s;
      s.id = (i < 10 ? "s0" : "s") + std::to_string(i);
      s.node = i <= 6 ? "node-a" : "node-b";
      s.user = i % 2 == 1 ? "alice" : "bob";
      if (i <= 4) s.topics.push_back("sport");
      if (i % 3 == 0) s.topics.insert(s.topics.begin(), "news");
      last = WriteOpened(redis_, keys_, s);
    }
    return last;
  }

  RedisServer server_;
  IoThread redis_thread_{0};
  IoThread io_thread_{0};
  RedisConnection redis_;
  ConnectionLimiter limiter_{1, 1000, 1000};
  Hub hub_;
  cluster::ClusterKeys keys_;
  cluster::CounterExchange counters_;
  cluster::SessionDirectoryReader reader_;
};

TEST_F(SessionDirectoryReaderTest, PagesThroughEverySessionInIdOrder) {
  const std::string last = WriteTwelve();
  const uint64_t sequence = *cluster::SequenceOfStreamId(last);

  auto first = List("", 5);
  ASSERT_EQ(first.failure, "");
  EXPECT_THAT(IdsOf(first), ElementsAre("s01", "s02", "s03", "s04", "s05"));
  EXPECT_TRUE(first.more);
  EXPECT_EQ(first.sequence, sequence);

  auto second = List("s05", 5);
  ASSERT_EQ(second.failure, "");
  EXPECT_THAT(IdsOf(second), ElementsAre("s06", "s07", "s08", "s09", "s10"));
  EXPECT_TRUE(second.more);

  auto third = List("s10", 5);
  ASSERT_EQ(third.failure, "");
  EXPECT_THAT(IdsOf(third), ElementsAre("s11", "s12"));
  EXPECT_FALSE(third.more);

  auto exact = List("s07", 5);  // ends exactly at the last session
  ASSERT_EQ(exact.failure, "");
  EXPECT_THAT(IdsOf(exact), ElementsAre("s08", "s09", "s10", "s11", "s12"));
  EXPECT_FALSE(exact.more);
  EXPECT_THAT(IdsOf(List("s12", 5)), IsEmpty());
}

TEST_F(SessionDirectoryReaderTest, FiltersByUserTopicAndBoth) {
  WriteTwelve();
  EXPECT_THAT(IdsOf(List("", 100, "alice")), ElementsAre("s01", "s03", "s05", "s07", "s09", "s11"));
  EXPECT_THAT(IdsOf(List("", 100, "", "news")), ElementsAre("s03", "s06", "s09", "s12"));
  EXPECT_THAT(IdsOf(List("", 100, "bob", "news")), ElementsAre("s06", "s12"));
  EXPECT_THAT(IdsOf(List("", 100, "alice", "sport")), ElementsAre("s01", "s03"));

  auto page = List("", 1, "bob", "news");
  ASSERT_EQ(page.failure, "");
  EXPECT_THAT(IdsOf(page), ElementsAre("s06"));
  EXPECT_TRUE(page.more);
  page = List("s06", 1, "bob", "news");
  EXPECT_THAT(IdsOf(page), ElementsAre("s12"));
  EXPECT_FALSE(page.more);
  page = List("s01", 2, "alice", "sport");
  EXPECT_THAT(IdsOf(page), ElementsAre("s03"));
  EXPECT_FALSE(page.more);
  EXPECT_THAT(IdsOf(List("", 100, "carol")), IsEmpty());
  EXPECT_THAT(IdsOf(List("", 100, "alice", "weather")), IsEmpty());
}

TEST_F(SessionDirectoryReaderTest, ThePageSequenceIsTheLastLogEntrys) {
  EXPECT_EQ(List("", 10).sequence, 0u);  // no log yet
  WriteTwelve();
  // An entry that changes nothing in the directory still moves the cut: the page is the
  // directory at that entry too.
  const RedisReply id = Call(redis_, {"XADD", keys_.Events(), "*", "e", "x"});
  auto page = List("", 3, "", "news");
  ASSERT_EQ(page.failure, "");
  EXPECT_EQ(page.sequence, *cluster::SequenceOfStreamId(id.str));
}

TEST_F(SessionDirectoryReaderTest, GetDescribesASessionOfAnyNode) {
  WriteTwelve();
  auto s09 = Get("s09");
  ASSERT_EQ(s09.failure, "");
  ASSERT_TRUE(s09.session.has_value());
  const SessionView& view = *s09.session;
  EXPECT_EQ(view.info.id, "s09");
  EXPECT_EQ(view.info.user_id, "alice");
  EXPECT_THAT(view.topics, ElementsAre("news"));
  EXPECT_EQ(view.info.remote_address, "198.51.100.7:4000");
  EXPECT_EQ(view.info.connected_at, absl::FromUnixSeconds(1'700'000'000));
  EXPECT_EQ(view.info.metadata.at("plan"), "pro");
  // node-b's, and no node-b listens: no counters, and no wait for them.
  EXPECT_EQ(view.counters.messages_sent, 0u);

  auto missing = Get("nope");
  ASSERT_EQ(missing.failure, "");
  EXPECT_FALSE(missing.session.has_value());
}

TEST_F(SessionDirectoryReaderTest, SessionsOfThisNodeCarryLiveCountersFromItsHub) {
  WriteTwelve();
  // s03 lives here (node-a) and its hub knows it.
  CountingSession s03;
  s03.counters.messages_sent = 7;
  s03.counters.bytes_received = 99;
  auto slot = limiter_.TryAdmit("alice", 0);
  ASSERT_TRUE(slot.ok());
  absl::Notification registered;
  io_thread_.Post([&] {
    SessionInfo info;
    info.id = "s03";
    info.user_id = "alice";
    hub_.Register(0, info, {"news", "sport"}, &s03);
    registered.Notify();
  });
  registered.WaitForNotification();

  auto got = Get("s03");
  ASSERT_EQ(got.failure, "");
  ASSERT_TRUE(got.session.has_value());
  EXPECT_EQ(got.session->counters.messages_sent, 7u);
  EXPECT_EQ(got.session->counters.bytes_received, 99u);

  auto page = List("", 12);
  ASSERT_EQ(page.failure, "");
  ASSERT_EQ(page.sessions.size(), 12u);
  EXPECT_EQ(page.sessions[2].counters.messages_sent, 7u);
  EXPECT_EQ(page.sessions[1].counters.messages_sent, 0u);

  absl::Notification gone;
  io_thread_.Post([&] {
    hub_.Unregister(0, "s03");
    gone.Notify();
  });
  gone.WaitForNotification();
}

TEST_F(SessionDirectoryReaderTest, AScriptRedisForgotIsSentAgain) {
  WriteTwelve();
  ASSERT_EQ(List("", 5).failure, "");  // loads the script: later calls go by its SHA1
  ASSERT_EQ(List("", 5).failure, "");
  Call(redis_, {"SCRIPT", "FLUSH"});  // as after a Redis restart
  auto page = List("s05", 5);
  ASSERT_EQ(page.failure, "");
  EXPECT_THAT(IdsOf(page), ElementsAre("s06", "s07", "s08", "s09", "s10"));
  ASSERT_EQ(List("", 5).failure, "");
}

TEST_F(SessionDirectoryReaderTest, RedisGoneFailsWithTheReasonAndAnswersAgainWhenItIsBack) {
  WriteTwelve();
  server_.Stop();
  // Not "no such session" nor an empty page: the answer says Redis is missing.
  SessionPage page = List("", 5);
  EXPECT_THAT(page.failure, HasSubstr("redis unavailable: "));
  EXPECT_THAT(page.sessions, IsEmpty());
  SessionLookup got = Get("s01");
  EXPECT_THAT(got.failure, HasSubstr("redis unavailable: "));
  EXPECT_FALSE(got.session.has_value());

  // Back (empty: no persistence): the reader answers again by itself once its connection is.
  server_.Restart();
  EXPECT_TRUE(testing::Eventually([&] { return List("", 5).failure.empty(); }))
      << "still failing after Redis came back";
  DirectorySession s;
  s.id = "s99";
  s.node = "node-a";
  s.user = "alice";
  WriteOpened(redis_, keys_, s);
  got = Get("s99");
  EXPECT_EQ(got.failure, "");
  EXPECT_TRUE(got.session.has_value());
  EXPECT_THAT(IdsOf(List("", 5)), ElementsAre("s99"));
}

}  // namespace
}  // namespace wsbridge
