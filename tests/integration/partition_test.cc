// A node cut off from Redis for longer than --node_timeout while its process lives on (a network
// partition), against a real redis-server: a survivor's LostNodeReaper gives it up and writes the
// `closed` (1006) of its sessions; when Redis comes back to the node, its SessionLog replays its
// outage backlog and reconciles, and its heartbeat learns it was given up (the node then closes
// its sessions with 1012). The cluster's promise must hold through that: exactly one `closed`
// per session in the log, no `opened` or other event of a session after its `closed`, and the
// directory without the sessions the cluster closed (docs/cluster.md "SessionLog", "Heartbeats and
// lost nodes").
//
// The partition is real and cuts only the node: it reaches Redis as an ACL user of its own, and
// the test disables that user and kills its connections (its reconnects then fail at AUTH),
// while the survivor, on the default user, goes on. The node is wired as ClusterNode wires it: its
// command connection's state goes to the SessionLog, its heartbeat's `on_lost` tells the
// SessionLog first; the test then closes the node's sessions with 1012 as the hub's DisconnectAll
// would (the test thread stands in for the I/O threads). Component-level, so it also runs under
// the sanitizers.
#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/cluster_keys.h"
#include "cluster/lost_node_reaper.h"
#include "cluster/node_heartbeat.h"
#include "cluster/session_log.h"
#include "events/event_publisher.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"
#include "support/cluster_directory_fixture.h"
#include "support/eventually.h"
#include "support/redis_server.h"

namespace wsbridge {
namespace {

using testing::Call;
using ::testing::ElementsAre;
using testing::Eventually;
using ::testing::IsEmpty;
using testing::LoggedEvent;
using testing::ReadLog;
using testing::RedisOptionsFor;
using testing::RedisServer;

constexpr char kNode[] = "x";
constexpr char kUser[] = "node-x";
constexpr char kPassword[] = "x-secret";
constexpr absl::Duration kTimeout = absl::Milliseconds(600);

class PartitionTest : public ::testing::Test {
 protected:
  // The node, beating every `beat_interval` (zero: node_timeout / 3).
  void StartNode(absl::Duration beat_interval = absl::ZeroDuration()) {
    survivor_thread_.Start();
    survivor_ = std::make_unique<RedisConnection>(survivor_thread_, RedisOptionsFor(server_.Url()));
    ASSERT_EQ(Call(*survivor_, {"ACL", "SETUSER", kUser, "on", absl::StrCat(">", kPassword), "~*",
                                "&*", "+@all"})
                  .str,
              "OK");
    const std::string node_url =
        absl::StrCat("redis://", kUser, ":", kPassword, "@127.0.0.1:", server_.port());
    // The node's parts, made before its Redis thread runs (as ClusterNode makes them).
    commands_ = std::make_unique<RedisConnection>(
        node_thread_, RedisOptionsFor(node_url),
        [this](const RedisStateChange& change) { log_->OnRedisState(change); });
    cluster::SessionLogOptions log_options;
    log_options.node_id = kNode;
    log_ = std::make_unique<cluster::SessionLog>(node_thread_, *commands_, keys_, log_options);
    publisher_ = std::make_unique<EventPublisher>(*log_);
    own_reaper_ = std::make_unique<cluster::LostNodeReaper>(node_thread_, *commands_, keys_,
                                                            ReaperOptions(kNode));
    cluster::NodeHeartbeatOptions beat;
    beat.node_id = kNode;
    beat.node_timeout = kTimeout;
    beat.interval = beat_interval;
    heartbeat_ = std::make_unique<cluster::NodeHeartbeat>(node_thread_, *commands_, keys_,
                                                          *own_reaper_, beat, [this] {
                                                            log_->OnDeclaredLost();
                                                            declared_lost_.fetch_add(1);
                                                          });
    node_thread_.Start();
    std::promise<void> ready;
    heartbeat_->Start([&] { ready.set_value(); });
    ASSERT_EQ(ready.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }

  void TearDown() override {
    survivor_reaper_.reset();
    heartbeat_.reset();
    own_reaper_.reset();
    publisher_.reset();
    log_.reset();
    commands_.reset();
    survivor_.reset();
  }

  cluster::LostNodeReaperOptions ReaperOptions(std::string node) {
    cluster::LostNodeReaperOptions options;
    options.node_id = std::move(node);
    options.node_timeout = kTimeout;
    return options;
  }

  void Open(const std::string& id, const std::string& user, std::vector<std::string> topics) {
    publisher_->Opened({id, user}, "192.0.2.7:40000", topics, {});
  }
  void Say(const std::string& id, const std::string& user, const std::string& text) {
    publisher_->Message({id, user}, true, text);
  }
  void Close(const std::string& id, const std::string& user, uint16_t code) {
    publisher_->Closed({id, user}, code, "bye", CloseInitiator::kServer);
  }

  // The node's connections fail from now on (AUTH refused), the survivor's do not.
  void CutNodeOff() {
    ASSERT_EQ(Call(*survivor_, {"ACL", "SETUSER", kUser, "off"}).str, "OK");
    Call(*survivor_, {"CLIENT", "KILL", "USER", kUser});
  }
  void HealPartition() { ASSERT_EQ(Call(*survivor_, {"ACL", "SETUSER", kUser, "on"}).str, "OK"); }

  bool InDirectory(const std::string& id) {
    return Call(*survivor_, {"EXISTS", keys_.Session(id)}).integer == 1 ||
           !Call(*survivor_, {"ZSCORE", keys_.AllSessions(), id}).is_nil();
  }
  std::vector<std::string> Members(const std::string& key, bool sorted_set) {
    const RedisReply r =
        Call(*survivor_, sorted_set ? std::vector<std::string>{"ZRANGE", key, "0", "-1"}
                                    : std::vector<std::string>{"SMEMBERS", key});
    std::vector<std::string> out;
    for (const RedisReply& e : r.elements) out.push_back(e.str);
    std::sort(out.begin(), out.end());
    return out;
  }

  // Per session, the kinds of its events in log order: 'o' opened, 'm' message, 'c<code>' closed.
  std::map<std::string, std::vector<std::string>> History() {
    std::map<std::string, std::vector<std::string>> out;
    for (const LoggedEvent& e : ReadLog(*survivor_, keys_)) {
      std::string kind = e.event.has_opened()    ? "o"
                         : e.event.has_message() ? "m"
                         : e.event.has_closed()  ? absl::StrCat("c", e.event.closed().code())
                                                 : "?";
      out[e.event.session_id()].push_back(kind);
    }
    return out;
  }

  RedisServer server_;
  IoThread survivor_thread_{0};
  IoThread node_thread_{1};
  cluster::ClusterKeys keys_;
  std::unique_ptr<RedisConnection> survivor_;
  std::unique_ptr<RedisConnection> commands_;
  std::unique_ptr<cluster::SessionLog> log_;
  std::unique_ptr<EventPublisher> publisher_;
  std::unique_ptr<cluster::LostNodeReaper> own_reaper_;
  std::unique_ptr<cluster::NodeHeartbeat> heartbeat_;
  std::unique_ptr<cluster::LostNodeReaper> survivor_reaper_;
  std::atomic<int> declared_lost_{0};
};

TEST_F(PartitionTest, ANodeGivenUpDuringAPartitionDoesNotComeBackAsAGhost) {
  ASSERT_NO_FATAL_FAILURE(StartNode());
  Open("A", "alice", {"t1"});
  Open("B", "bob", {});
  Open("C", "", {"t1", "t2"});
  ASSERT_TRUE(Eventually([&] { return Members(keys_.NodeSessions(kNode), false).size() == 3; }));
  survivor_reaper_ = std::make_unique<cluster::LostNodeReaper>(survivor_thread_, *survivor_, keys_,
                                                               ReaperOptions("survivor"));
  survivor_reaper_->Start();

  CutNodeOff();
  ASSERT_TRUE(Eventually([&] { return !log_->stats().live; }));
  // While cut off, the node goes on: its sessions talk, one changes topics, one opens.
  Say("A", "alice", "during the partition");
  Open("D", "dave", {"t1"});
  Say("D", "dave", "hello from D");
  SessionInfo b;
  b.id = "B";
  log_->OnSessionTopicsChanged(0, b, {"t3"});
  // The survivor gives it up: every session it had in the directory closed, the tombstone left.
  ASSERT_TRUE(Eventually(
      [&] {
        return Call(*survivor_, {"GET", keys_.ReapLease(kNode)}).str == "reaped";
      },
      absl::Seconds(20)));
  EXPECT_EQ(declared_lost_.load(), 0);

  HealPartition();
  ASSERT_TRUE(Eventually([&] { return declared_lost_.load() == 1; }, absl::Seconds(20)));
  // The node closes what it holds (the hub's DisconnectAll(1012)), then keeps serving.
  for (const auto& [id, user] : std::vector<std::pair<std::string, std::string>>{
           {"A", "alice"}, {"B", "bob"}, {"C", ""}, {"D", "dave"}}) {
    Close(id, user, 1012);
  }
  Open("E", "erin", {"t1"});
  Say("E", "erin", "after");
  ASSERT_TRUE(log_->AwaitFlushed(absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return log_->stats().reconciles >= 1; }));
  ASSERT_TRUE(log_->AwaitFlushed(absl::Seconds(10)));

  const std::map<std::string, std::vector<std::string>> history = History();
  // Given up with the node: opened, then the reaper's closed, and nothing after it.
  EXPECT_THAT(history.at("A"), ElementsAre("o", "c1006"));
  EXPECT_THAT(history.at("B"), ElementsAre("o", "c1006"));
  EXPECT_THAT(history.at("C"), ElementsAre("o", "c1006"));
  // Opened while cut off: the cluster never saw it, so it is written as it happened and closed
  // by the node.
  EXPECT_THAT(history.at("D"), ElementsAre("o", "m", "c1012"));
  // Opened after the node learnt it was given up: an ordinary session.
  EXPECT_THAT(history.at("E"), ElementsAre("o", "m"));
  for (const char* id : {"A", "B", "C", "D"}) EXPECT_FALSE(InDirectory(id)) << id;
  EXPECT_TRUE(InDirectory("E"));
  EXPECT_THAT(Members(keys_.NodeSessions(kNode), false), ElementsAre("E"));
  EXPECT_THAT(Members(keys_.AllSessions(), true), ElementsAre("E"));
  EXPECT_THAT(Members(keys_.TopicSessions("t1"), true), ElementsAre("E"));
  EXPECT_THAT(Members(keys_.TopicSessions("t3"), true), IsEmpty());
  EXPECT_THAT(Members(keys_.UserSessions("alice"), true), IsEmpty());
  EXPECT_EQ(declared_lost_.load(), 1);
}

// No partition: the node's connection lives, but its heartbeat is silent past node_timeout (here:
// it beats far less often than the timeout allows), so a survivor gives it up. The node learns it
// from its next beat (NodeHeartbeat's on_lost, which tells the SessionLog first): from then on
// nothing more is written for those sessions, and their 1012 closes write nothing.
TEST_F(PartitionTest, ANodeThatLearnsFromItsHeartbeatWritesNothingMoreForItsReapedSessions) {
  ASSERT_NO_FATAL_FAILURE(StartNode(/*beat_interval=*/kTimeout * 5));
  Open("A", "alice", {"t1"});
  Open("B", "", {});
  ASSERT_TRUE(Eventually([&] { return Members(keys_.NodeSessions(kNode), false).size() == 2; }));
  survivor_reaper_ = std::make_unique<cluster::LostNodeReaper>(survivor_thread_, *survivor_, keys_,
                                                               ReaperOptions("survivor"));
  survivor_reaper_->Start();
  ASSERT_TRUE(Eventually([&] { return declared_lost_.load() == 1; }, absl::Seconds(20)));
  Say("A", "alice", "after the node learnt it");
  SessionInfo a;
  a.id = "A";
  log_->OnSessionTopicsChanged(0, a, {"t2"});
  Close("A", "alice", 1012);
  Close("B", "", 1012);
  Open("E", "erin", {});
  ASSERT_TRUE(log_->AwaitFlushed(absl::Seconds(10)));

  const std::map<std::string, std::vector<std::string>> history = History();
  EXPECT_THAT(history.at("A"), ElementsAre("o", "c1006"));
  EXPECT_THAT(history.at("B"), ElementsAre("o", "c1006"));
  EXPECT_THAT(history.at("E"), ElementsAre("o"));
  EXPECT_FALSE(InDirectory("A"));
  EXPECT_FALSE(InDirectory("B"));
  EXPECT_THAT(Members(keys_.TopicSessions("t2"), true), IsEmpty());
  EXPECT_THAT(Members(keys_.NodeSessions(kNode), false), ElementsAre("E"));
  // A's message (its topic change is not even taken: a given-up session is no longer held).
  EXPECT_EQ(log_->stats().given_up_writes, 1u);
}
}  // namespace
}  // namespace wsbridge
