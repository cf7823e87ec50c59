// NodeHeartbeat and LostNodeReaper against a real redis-server, on a real Redis thread, with a
// directory written by the test in the schema of docs/cluster.md: a node that heartbeats stays;
// one that stops is reaped within its timeout and a check (exactly one `closed` per session, the
// lost node named, the directory empty of it, the node gone); two reapers racing and a reaper
// dropped mid-way still give exactly one `closed` each; a node given up learns it from its next
// beat; a node's own leftovers of a previous run are closed before it is ready.
#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cluster/lost_node_reaper.h"
#include "cluster/node_heartbeat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/io_thread.h"
#include "support/cluster_directory_fixture.h"
#include "support/eventually.h"
#include "support/redis_server.h"

namespace wsbridge {
namespace {

using testing::Call;
using testing::DirectorySession;
using testing::Eventually;
using testing::ReadLog;
using testing::RedisOptionsFor;
using testing::RedisServer;
using testing::WriteOpened;
using Type = RedisReply::Type;

constexpr absl::Duration kTimeout = absl::Milliseconds(600);

class LostNodeTest : public ::testing::Test {
 protected:
  LostNodeTest() : redis_(redis_thread_, RedisOptionsFor(server_.Url())) { redis_thread_.Start(); }

  cluster::LostNodeReaperOptions ReaperOptions(std::string node) {
    cluster::LostNodeReaperOptions options;
    options.node_id = std::move(node);
    options.node_timeout = kTimeout;
    options.chunk_size = 7;
    return options;
  }

  static cluster::NodeHeartbeatOptions HeartbeatOptions(std::string node) {
    cluster::NodeHeartbeatOptions options;
    options.node_id = std::move(node);
    options.node_timeout = kTimeout;
    return options;
  }

  // `count` sessions of `node`: users u0..u2, topics on some. Returns their ids.
  std::vector<std::string> WriteSessions(const std::string& node, int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      DirectorySession s;
      s.id = absl::StrCat(node, "-s", i);
      s.node = node;
      s.user = i % 4 == 3 ? "" : absl::StrCat("u", i % 3);
      if (i % 2 == 0) s.topics = {"news", "sport"};
      WriteOpened(redis_, keys_, s);
      ids.push_back(s.id);
    }
    return ids;
  }

  // The node as alive until `in` from now on Redis's clock.
  void Beat(const std::string& node, absl::Duration in) {
    const RedisReply time = Call(redis_, {"TIME"});
    const int64_t now_ms =
        std::stoll(time.elements[0].str) * 1000 + std::stoll(time.elements[1].str) / 1000;
    Call(redis_,
         {"ZADD", keys_.Nodes(), std::to_string(now_ms + absl::ToInt64Milliseconds(in)), node});
  }

  // The `closed` events of the log by session id (more than one per id is a failure).
  std::map<std::string, int> ClosedCounts() {
    std::map<std::string, int> counts;
    for (const testing::LoggedEvent& e : ReadLog(redis_, keys_)) {
      if (e.event.has_closed()) ++counts[e.event.session_id()];
    }
    return counts;
  }

  // Nothing of `node` is left: its sessions' hashes and index entries, its set, its place.
  void ExpectGoneFromDirectory(const std::string& node, const std::vector<std::string>& ids) {
    EXPECT_EQ(Call(redis_, {"EXISTS", keys_.NodeSessions(node)}).integer, 0);
    EXPECT_TRUE(Call(redis_, {"ZSCORE", keys_.Nodes(), node}).is_nil());
    for (const std::string& id : ids) {
      EXPECT_EQ(Call(redis_, {"EXISTS", keys_.Session(id)}).integer, 0) << id;
      EXPECT_TRUE(Call(redis_, {"ZSCORE", keys_.AllSessions(), id}).is_nil()) << id;
    }
    for (const char* key : {"wsb:us:u0", "wsb:us:u1", "wsb:us:u2", "wsb:ts:news", "wsb:ts:sport"}) {
      const RedisReply members = Call(redis_, {"ZRANGE", key, "0", "-1"});
      for (const RedisReply& m : members.elements) {
        EXPECT_EQ(m.str.rfind(node + "-", 0), std::string::npos) << key << " still has " << m.str;
      }
    }
  }

  // Exactly one `closed` per id, each as the reaper writes it.
  void ExpectClosedOnceEach(const std::string& node, const std::vector<std::string>& ids) {
    const std::map<std::string, int> counts = ClosedCounts();
    for (const std::string& id : ids) EXPECT_EQ(counts.count(id) ? counts.at(id) : 0, 1) << id;
    std::map<std::string, std::string> users;
    for (const testing::LoggedEvent& e : ReadLog(redis_, keys_)) {
      if (e.event.has_opened()) users[e.event.session_id()] = e.event.user_id();
      if (!e.event.has_closed()) continue;
      EXPECT_EQ(e.event.node_id(), node);
      EXPECT_EQ(e.event.user_id(), users[e.event.session_id()]);
      EXPECT_EQ(e.event.closed().code(), 1006u);
      EXPECT_EQ(e.event.closed().reason(), absl::StrCat("node ", node, " lost"));
      EXPECT_EQ(e.event.closed().initiator(), v1::INITIATOR_TRANSPORT);
      EXPECT_GT(e.event.time().seconds(), 0);
      EXPECT_EQ(e.event.sequence(), 0u);  // the entry id is its sequence
    }
  }

  RedisServer server_;
  IoThread redis_thread_{0};
  RedisConnection redis_;
  cluster::ClusterKeys keys_;
};

TEST_F(LostNodeTest, ANodeThatHeartbeatsStays) {
  cluster::LostNodeReaper own_reaper(redis_thread_, redis_, keys_, ReaperOptions("alive"));
  std::atomic<int> lost{0};
  cluster::NodeHeartbeat heartbeat(redis_thread_, redis_, keys_, own_reaper,
                                   HeartbeatOptions("alive"), [&] { lost.fetch_add(1); });
  std::promise<void> ready;
  heartbeat.Start([&] { ready.set_value(); });
  ASSERT_EQ(ready.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  WriteSessions("alive", 5);  // opened once it is ready

  cluster::LostNodeReaper reaper(redis_thread_, redis_, keys_, ReaperOptions("survivor"));
  reaper.Start();
  absl::SleepFor(kTimeout * 4);  // four timeouts: a stopped heartbeat would have been reaped

  EXPECT_TRUE(ClosedCounts().empty());
  EXPECT_EQ(Call(redis_, {"SCARD", keys_.NodeSessions("alive")}).integer, 5);
  EXPECT_FALSE(Call(redis_, {"ZSCORE", keys_.Nodes(), "alive"}).is_nil());
  EXPECT_EQ(lost.load(), 0);
}

TEST_F(LostNodeTest, ANodeThatStopsHeartbeatingIsReapedOnce) {
  const std::vector<std::string> ids = WriteSessions("gone", 30);
  const std::vector<std::string> others = WriteSessions("stays", 3);
  Beat("gone", kTimeout);
  Beat("stays", absl::Hours(1));

  cluster::LostNodeReaper reaper(redis_thread_, redis_, keys_, ReaperOptions("survivor"));
  reaper.Start();
  // Within the timeout and a check (node_timeout / 3); the margin is for a loaded machine.
  ASSERT_TRUE(Eventually(
      [&] {
        return Call(redis_, {"ZSCORE", keys_.Nodes(), "gone"}).is_nil();
      },
      kTimeout + kTimeout / 3 + absl::Seconds(5)));

  ExpectClosedOnceEach("gone", ids);
  EXPECT_EQ(ClosedCounts().size(), ids.size());
  ExpectGoneFromDirectory("gone", ids);
  EXPECT_EQ(Call(redis_, {"SCARD", keys_.NodeSessions("stays")}).integer, 3);
  for (const std::string& id : others) {
    EXPECT_EQ(Call(redis_, {"EXISTS", keys_.Session(id)}).integer, 1);
  }
  // The tombstone that tells the node, should it come back, that it was given up.
  EXPECT_EQ(Call(redis_, {"GET", keys_.ReapLease("gone")}).str, "reaped");
}

TEST_F(LostNodeTest, TwoReapersRacingCloseEachSessionOnce) {
  const std::vector<std::string> ids = WriteSessions("gone", 60);
  Beat("gone", absl::Milliseconds(1));
  cluster::LostNodeReaper a(redis_thread_, redis_, keys_, ReaperOptions("a"));
  cluster::LostNodeReaper b(redis_thread_, redis_, keys_, ReaperOptions("b"));
  a.Start();
  b.Start();
  ASSERT_TRUE(Eventually(
      [&] {
        return Call(redis_, {"ZSCORE", keys_.Nodes(), "gone"}).is_nil();
      },
      absl::Seconds(10)));
  ExpectClosedOnceEach("gone", ids);
  ExpectGoneFromDirectory("gone", ids);
}

TEST_F(LostNodeTest, TwoReapersWorkingOnTheSameSetWithoutALeaseStillCloseEachOnce) {
  // No lease in the way (leftovers of a node): both pick random chunks of the same set at once.
  const std::vector<std::string> ids = WriteSessions("gone", 80);
  cluster::LostNodeReaper a(redis_thread_, redis_, keys_, ReaperOptions("a"));
  cluster::LostNodeReaper b(redis_thread_, redis_, keys_, ReaperOptions("b"));
  std::promise<absl::Status> done_a, done_b;
  a.ReapLeftovers("gone", [&](absl::Status s) { done_a.set_value(s); });
  b.ReapLeftovers("gone", [&](absl::Status s) { done_b.set_value(s); });
  EXPECT_TRUE(done_a.get_future().get().ok());
  EXPECT_TRUE(done_b.get_future().get().ok());
  ExpectClosedOnceEach("gone", ids);
  EXPECT_EQ(Call(redis_, {"EXISTS", keys_.NodeSessions("gone")}).integer, 0);
}

TEST_F(LostNodeTest, AReaperDroppedMidWayIsTakenOverWithoutDuplicates) {
  const std::vector<std::string> ids = WriteSessions("gone", 40);
  Beat("gone", absl::Milliseconds(1));
  std::atomic<int> chunks{0};
  cluster::LostNodeReaperOptions first_options = ReaperOptions("first");
  first_options.lease = absl::Milliseconds(800);
  cluster::LostNodeReaper* first_ptr = nullptr;
  first_options.on_chunk = [&](const std::string&, int64_t closed) {
    chunks.fetch_add(1);
    EXPECT_EQ(closed, 7);
    first_ptr->Stop();  // dies after its first chunk: the lease stays until it runs out
  };
  cluster::LostNodeReaper first(redis_thread_, redis_, keys_, std::move(first_options));
  first_ptr = &first;
  first.Start();
  ASSERT_TRUE(Eventually([&] { return chunks.load() == 1; }));
  EXPECT_EQ(Call(redis_, {"SCARD", keys_.NodeSessions("gone")}).integer, 33);
  EXPECT_EQ(ClosedCounts().size(), 7u);

  cluster::LostNodeReaper second(redis_thread_, redis_, keys_, ReaperOptions("second"));
  second.Start();
  ASSERT_TRUE(Eventually(
      [&] {
        return Call(redis_, {"ZSCORE", keys_.Nodes(), "gone"}).is_nil();
      },
      absl::Seconds(10)));
  EXPECT_EQ(chunks.load(), 1);
  ExpectClosedOnceEach("gone", ids);
  ExpectGoneFromDirectory("gone", ids);
}

TEST_F(LostNodeTest, AReaperStopsWhenTheNodeComesBack) {
  const std::vector<std::string> ids = WriteSessions("back", 30);
  Beat("back", absl::Milliseconds(1));
  std::atomic<int> chunks{0};
  cluster::LostNodeReaperOptions options = ReaperOptions("survivor");
  options.on_chunk = [&](const std::string&, int64_t) {
    // The node's heartbeat gets through right after the first chunk (sent from the Redis
    // thread, so it reaches Redis before the next chunk does).
    if (chunks.fetch_add(1) == 0) {
      redis_.Command({"ZADD", keys_.Nodes(), "99999999999999", "back"}, [](RedisReply) {});
    }
  };
  cluster::LostNodeReaper reaper(redis_thread_, redis_, keys_, std::move(options));
  reaper.Start();
  ASSERT_TRUE(Eventually([&] { return chunks.load() >= 2; }));
  absl::SleepFor(kTimeout);     // more checks: none claims a node that is alive
  EXPECT_EQ(chunks.load(), 2);  // the second chunk found it back and closed nothing
  EXPECT_EQ(ClosedCounts().size(), 7u);
  EXPECT_EQ(Call(redis_, {"SCARD", keys_.NodeSessions("back")}).integer, 23);
  EXPECT_FALSE(Call(redis_, {"ZSCORE", keys_.Nodes(), "back"}).is_nil());
}

TEST_F(LostNodeTest, ANodeGivenUpLearnsItFromItsNextBeat) {
  cluster::LostNodeReaper own_reaper(redis_thread_, redis_, keys_, ReaperOptions("n1"));
  std::atomic<int> lost{0};
  cluster::NodeHeartbeat heartbeat(redis_thread_, redis_, keys_, own_reaper, HeartbeatOptions("n1"),
                                   [&] { lost.fetch_add(1); });
  std::promise<void> ready;
  heartbeat.Start([&] { ready.set_value(); });
  ASSERT_EQ(ready.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);

  // Redis lost its data (a restart without persistence): absent, but not given up.
  Call(redis_, {"ZREM", keys_.Nodes(), "n1"});
  ASSERT_TRUE(Eventually([&] { return !Call(redis_, {"ZSCORE", keys_.Nodes(), "n1"}).is_nil(); }));
  EXPECT_EQ(lost.load(), 0);

  // Declared lost by a reaper at work (score 0).
  Call(redis_, {"ZADD", keys_.Nodes(), "0", "n1"});
  ASSERT_TRUE(Eventually([&] { return lost.load() == 1; }));
  // Removed by a reaper that finished (its tombstone).
  Call(redis_, {"ZREM", keys_.Nodes(), "n1"});
  Call(redis_, {"SET", keys_.ReapLease("n1"), "reaped"});
  ASSERT_TRUE(Eventually([&] { return lost.load() == 2; }));
  EXPECT_EQ(Call(redis_, {"EXISTS", keys_.ReapLease("n1")}).integer, 0);
  absl::SleepFor(kTimeout);
  EXPECT_EQ(lost.load(), 2);  // alive again: told once each time
}

TEST_F(LostNodeTest, ANodeClosesTheLeftoversOfItsPreviousRunBeforeItIsReady) {
  const std::vector<std::string> ids = WriteSessions("n1", 12);
  cluster::LostNodeReaper own_reaper(redis_thread_, redis_, keys_, ReaperOptions("n1"));
  cluster::NodeHeartbeat heartbeat(redis_thread_, redis_, keys_, own_reaper, HeartbeatOptions("n1"),
                                   [] {});
  std::promise<void> ready;
  heartbeat.Start([&] { ready.set_value(); });
  ASSERT_EQ(ready.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ExpectClosedOnceEach("n1", ids);
  EXPECT_EQ(Call(redis_, {"EXISTS", keys_.NodeSessions("n1")}).integer, 0);
  EXPECT_FALSE(Call(redis_, {"ZSCORE", keys_.Nodes(), "n1"}).is_nil());  // and alive
}

}  // namespace
}  // namespace wsbridge
