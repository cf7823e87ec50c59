// ConnectionLimiter: whether one more browser may connect, and where each user's sessions are.
// Each test connects users one after the other (each admitted session holding its slot, as a
// Session does) and disconnects some (dropping the slot), and checks who was let in, who was
// refused, whether the refusal names the limit an operator would have to raise, and which threads
// a Push to a user would visit.
#include "hub/connection_limiter.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ConnectionLimiterTest : public ::testing::Test {
 protected:
  ConnectionLimiter& Limits(uint32_t max_sessions, uint32_t max_sessions_per_user,
                            size_t threads = 1) {
    limiter_.emplace(threads, max_sessions, max_sessions_per_user);
    return *limiter_;
  }

  // A session of `user` asks to connect on `thread`; when admitted it keeps its slot.
  absl::Status Connect(const std::string& user, size_t thread = 0) {
    absl::StatusOr<SessionSlot> slot = limiter_->TryAdmit(user, thread);
    if (!slot.ok()) return slot.status();
    EXPECT_TRUE(slot->held());
    slots_[user].push_back(std::move(*slot));
    return absl::OkStatus();
  }

  // The most recent session of `user` ends.
  void Disconnect(const std::string& user) { slots_.at(user).pop_back(); }

  std::optional<ConnectionLimiter> limiter_;
  std::map<std::string, std::vector<SessionSlot>> slots_;  // released before the limiter goes
};

void ExpectRefused(const absl::Status& status, const std::string& limit) {
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(limit)) << status;
}

TEST_F(ConnectionLimiterTest, ZeroMeansUnlimited) {
  ConnectionLimiter& limiter = Limits(0, 0);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(Connect("alice").ok()) << i;
    ASSERT_TRUE(Connect("").ok()) << i;
  }
  EXPECT_EQ(limiter.sessions(), 2000u);
}

TEST_F(ConnectionLimiterTest, SessionsCountsAcquiresMinusReleases) {
  ConnectionLimiter& limiter = Limits(0, 0);
  EXPECT_EQ(limiter.sessions(), 0u);
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_TRUE(Connect("bob").ok());
  ASSERT_TRUE(Connect("").ok());
  EXPECT_EQ(limiter.sessions(), 3u);

  Disconnect("bob");
  Disconnect("");
  EXPECT_EQ(limiter.sessions(), 1u);
  Disconnect("alice");
  EXPECT_EQ(limiter.sessions(), 0u);
}

TEST_F(ConnectionLimiterTest, AwaitNoSessionsReturnsWhenTheLastSlotIsGivenBack) {
  ConnectionLimiter& limiter = Limits(0, 0);
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_TRUE(Connect("").ok());
  // With sessions left, the wait ends at its deadline and says so.
  EXPECT_FALSE(limiter.AwaitNoSessions(absl::Now()));
  // A drain waits while the sessions end on other threads; the last release wakes it.
  std::thread sessions_end([this] {
    Disconnect("alice");
    Disconnect("");
  });
  EXPECT_TRUE(limiter.AwaitNoSessions(absl::InfiniteFuture()));
  sessions_end.join();
  EXPECT_EQ(limiter.sessions(), 0u);
}

// --- The node-wide limit ----------------------------------------------------------------------

TEST_F(ConnectionLimiterTest, TheSessionPastTheTotalLimitIsRefusedNamingMaxSessions) {
  ConnectionLimiter& limiter = Limits(2, 0);
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_TRUE(Connect("bob").ok());

  const absl::Status refused = Connect("carol");

  ExpectRefused(refused, "max_sessions=2");
  EXPECT_THAT(std::string(refused.message()), HasSubstr("session limit reached"));
  EXPECT_EQ(limiter.sessions(), 2u);
}

TEST_F(ConnectionLimiterTest, TheTotalLimitCountsAnonymousSessionsToo) {
  ConnectionLimiter& limiter = Limits(2, 0);
  ASSERT_TRUE(Connect("").ok());
  ASSERT_TRUE(Connect("alice").ok());

  ExpectRefused(Connect(""), "max_sessions=2");
  ExpectRefused(Connect("bob"), "max_sessions=2");
  EXPECT_EQ(limiter.sessions(), 2u);
}

TEST_F(ConnectionLimiterTest, ADisconnectMakesRoomUnderTheTotalLimit) {
  ConnectionLimiter& limiter = Limits(1, 0);
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_FALSE(Connect("bob").ok());

  Disconnect("alice");

  EXPECT_TRUE(Connect("bob").ok());
  EXPECT_EQ(limiter.sessions(), 1u);
}

TEST_F(ConnectionLimiterTest, ARefusalByTheTotalLimitIsNotCountedAgainstTheUser) {
  Limits(1, 1);
  ASSERT_TRUE(Connect("alice").ok());
  ExpectRefused(Connect("bob"), "max_sessions=1");

  Disconnect("alice");

  // Had the refused attempt been counted, bob would now hit his per-user limit of 1.
  EXPECT_TRUE(Connect("bob").ok());
}

TEST_F(ConnectionLimiterTest, WhenBothLimitsAreReachedTheTotalLimitIsNamed) {
  Limits(1, 1);
  ASSERT_TRUE(Connect("alice").ok());
  const absl::Status refused = Connect("alice");
  ExpectRefused(refused, "max_sessions=1");
  EXPECT_THAT(std::string(refused.message()), testing::Not(HasSubstr("per-user")));
}

// --- The per-user limit -----------------------------------------------------------------------

TEST_F(ConnectionLimiterTest, AUsersSessionPastThePerUserLimitIsRefusedNamingTheLimit) {
  ConnectionLimiter& limiter = Limits(0, 2);
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_TRUE(Connect("alice").ok());

  const absl::Status refused = Connect("alice");

  ExpectRefused(refused, "max_sessions_per_user=2");
  EXPECT_THAT(std::string(refused.message()), HasSubstr("per-user session limit reached"));
  EXPECT_EQ(limiter.sessions(), 2u);
}

TEST_F(ConnectionLimiterTest, ThePerUserLimitIsCountedPerUser) {
  ConnectionLimiter& limiter = Limits(0, 2);
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_FALSE(Connect("alice").ok());

  EXPECT_TRUE(Connect("bob").ok());
  EXPECT_TRUE(Connect("bob").ok());
  ExpectRefused(Connect("bob"), "max_sessions_per_user=2");
  EXPECT_EQ(limiter.sessions(), 4u);
}

TEST_F(ConnectionLimiterTest, AnonymousSessionsAreNotHeldToThePerUserLimit) {
  ConnectionLimiter& limiter = Limits(0, 1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Connect("").ok()) << i;
  EXPECT_EQ(limiter.sessions(), 10u);
  // Nor do they use up anyone's allowance.
  EXPECT_TRUE(Connect("alice").ok());
}

TEST_F(ConnectionLimiterTest, ADisconnectGivesTheUserTheirAllowanceBack) {
  ConnectionLimiter& limiter = Limits(0, 2);
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_TRUE(Connect("alice").ok());
  ASSERT_FALSE(Connect("alice").ok());

  Disconnect("alice");
  EXPECT_TRUE(Connect("alice").ok());
  EXPECT_FALSE(Connect("alice").ok());

  Disconnect("alice");
  Disconnect("alice");
  EXPECT_EQ(limiter.sessions(), 0u);
  EXPECT_TRUE(Connect("alice").ok());
  EXPECT_TRUE(Connect("alice").ok());
  EXPECT_FALSE(Connect("alice").ok());
}

TEST_F(ConnectionLimiterTest, ARefusedSessionIsNotCounted) {
  ConnectionLimiter& limiter = Limits(0, 1);
  ASSERT_TRUE(Connect("alice").ok());
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(Connect("alice").ok());

  Disconnect("alice");

  EXPECT_EQ(limiter.sessions(), 0u);
  EXPECT_TRUE(Connect("alice").ok());
}

// --- Threads ------------------------------------------------------------------------------------

TEST_F(ConnectionLimiterTest, ConcurrentConnectsNeverPassTheLimits) {
  constexpr uint32_t kMaxSessions = 6;
  constexpr uint32_t kMaxPerUser = 2;
  ConnectionLimiter& limiter = Limits(kMaxSessions, kMaxPerUser, /*threads=*/4);
  std::atomic<bool> over_limit{false};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string user = t % 2 == 0 ? "alice" : "bob";
      for (int i = 0; i < 2000; ++i) {
        const std::string who = i % 3 == 0 ? std::string() : user;
        absl::StatusOr<SessionSlot> slot = limiter.TryAdmit(who, t);
        if (!slot.ok()) continue;
        if (limiter.sessions() > kMaxSessions) over_limit = true;
        limiter.ThreadsOf({user});
      }  // each slot is given back as it goes out of scope
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_FALSE(over_limit.load());
  EXPECT_EQ(limiter.sessions(), 0u);
  // Every allowance came back: each user can again hold exactly kMaxPerUser sessions.
  for (const char* user : {"alice", "bob"}) {
    for (uint32_t i = 0; i < kMaxPerUser; ++i) EXPECT_TRUE(Connect(user).ok()) << user;
    EXPECT_FALSE(Connect(user).ok()) << user;
  }
}

TEST_F(ConnectionLimiterTest, AMovedSlotIsGivenBackOnceByItsLastOwner) {
  ConnectionLimiter& limiter = Limits(0, 0);
  absl::StatusOr<SessionSlot> admitted = limiter.TryAdmit("alice", 0);
  ASSERT_TRUE(admitted.ok());
  SessionSlot first = std::move(*admitted);
  SessionSlot second = std::move(first);
  EXPECT_FALSE(first.held());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_EQ(limiter.sessions(), 1u);

  second.Release();
  second.Release();
  EXPECT_EQ(limiter.sessions(), 0u);
  EXPECT_EQ(limiter.user_count(), 0u);
}

TEST_F(ConnectionLimiterTest, ASlotReleasesItsPlaceWhenDestroyed) {
  ConnectionLimiter& limiter = Limits(1, 0);
  {
    absl::StatusOr<SessionSlot> slot = limiter.TryAdmit("alice", 0);
    ASSERT_TRUE(slot.ok());
    EXPECT_FALSE(limiter.TryAdmit("bob", 0).ok());
  }  // e.g. the handshake failed after admission
  EXPECT_TRUE(limiter.TryAdmit("bob", 0).ok());
}

// --- Where each user's sessions are ------------------------------------------------------------

TEST_F(ConnectionLimiterTest, ThreadsOfListsEachHoldingThreadOnceInOrder) {
  ConnectionLimiter& limiter = Limits(0, 0, /*threads=*/4);
  ASSERT_TRUE(Connect("alice", 3).ok());
  ASSERT_TRUE(Connect("alice", 1).ok());
  ASSERT_TRUE(Connect("alice", 1).ok());
  ASSERT_TRUE(Connect("bob", 1).ok());
  ASSERT_TRUE(Connect("carol", 0).ok());
  EXPECT_THAT(limiter.ThreadsOf({"alice"}), ElementsAre(1, 3));
  EXPECT_THAT(limiter.ThreadsOf({"bob", "alice", "bob"}), ElementsAre(1, 3));
  EXPECT_THAT(limiter.ThreadsOf({"carol", "bob"}), ElementsAre(0, 1));
  EXPECT_THAT(limiter.ThreadsOf({"nobody"}), IsEmpty());
  EXPECT_THAT(limiter.ThreadsOf({}), IsEmpty());
  EXPECT_EQ(limiter.user_count(), 3u);
}

TEST_F(ConnectionLimiterTest, AThreadStaysListedUntilTheUsersLastSessionThereEnds) {
  ConnectionLimiter& limiter = Limits(0, 0, /*threads=*/2);
  ASSERT_TRUE(Connect("alice", 0).ok());
  ASSERT_TRUE(Connect("alice", 0).ok());
  ASSERT_TRUE(Connect("alice", 1).ok());
  Disconnect("alice");  // the one on thread 1
  EXPECT_THAT(limiter.ThreadsOf({"alice"}), ElementsAre(0));
  Disconnect("alice");
  EXPECT_THAT(limiter.ThreadsOf({"alice"}), ElementsAre(0));
  Disconnect("alice");
  EXPECT_THAT(limiter.ThreadsOf({"alice"}), IsEmpty());
  EXPECT_EQ(limiter.user_count(), 0u);
}

TEST_F(ConnectionLimiterTest, AnonymousSessionsAreOnNoUsersThread) {
  ConnectionLimiter& limiter = Limits(0, 0, /*threads=*/2);
  ASSERT_TRUE(Connect("", 1).ok());
  EXPECT_EQ(limiter.user_count(), 0u);
  EXPECT_THAT(limiter.ThreadsOf({""}), IsEmpty());
  EXPECT_EQ(limiter.sessions(), 1u);
}

}  // namespace
}  // namespace wsbridge
