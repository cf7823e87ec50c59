// ConnectionLimiter: whether one more browser may connect. Each test connects users one after
// the other (and disconnects some), and checks who was let in, who was refused, and whether the
// refusal names the limit an operator would have to raise.
#include "hub/connection_limiter.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wsbridge {
namespace {

using ::testing::HasSubstr;

void ExpectRefused(const absl::Status& status, const std::string& limit) {
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(limit)) << status;
}

TEST(ConnectionLimiterTest, ZeroMeansUnlimited) {
  ConnectionLimiter limiter(0, 0);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(limiter.TryAcquire("alice").ok()) << i;
    ASSERT_TRUE(limiter.TryAcquire("").ok()) << i;
  }
  EXPECT_EQ(limiter.sessions(), 2000u);
}

TEST(ConnectionLimiterTest, SessionsCountsAcquiresMinusReleases) {
  ConnectionLimiter limiter(0, 0);
  EXPECT_EQ(limiter.sessions(), 0u);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ASSERT_TRUE(limiter.TryAcquire("bob").ok());
  ASSERT_TRUE(limiter.TryAcquire("").ok());
  EXPECT_EQ(limiter.sessions(), 3u);

  limiter.Release("bob");
  limiter.Release("");
  EXPECT_EQ(limiter.sessions(), 1u);
  limiter.Release("alice");
  EXPECT_EQ(limiter.sessions(), 0u);
}

// --- The node-wide limit ----------------------------------------------------------------------

TEST(ConnectionLimiterTest, TheSessionPastTheTotalLimitIsRefusedNamingMaxSessions) {
  ConnectionLimiter limiter(2, 0);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ASSERT_TRUE(limiter.TryAcquire("bob").ok());

  const absl::Status refused = limiter.TryAcquire("carol");

  ExpectRefused(refused, "max_sessions=2");
  EXPECT_THAT(std::string(refused.message()), HasSubstr("session limit reached"));
  EXPECT_EQ(limiter.sessions(), 2u);
}

TEST(ConnectionLimiterTest, TheTotalLimitCountsAnonymousSessionsToo) {
  ConnectionLimiter limiter(2, 0);
  ASSERT_TRUE(limiter.TryAcquire("").ok());
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());

  ExpectRefused(limiter.TryAcquire(""), "max_sessions=2");
  ExpectRefused(limiter.TryAcquire("bob"), "max_sessions=2");
  EXPECT_EQ(limiter.sessions(), 2u);
}

TEST(ConnectionLimiterTest, ADisconnectMakesRoomUnderTheTotalLimit) {
  ConnectionLimiter limiter(1, 0);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ASSERT_FALSE(limiter.TryAcquire("bob").ok());

  limiter.Release("alice");

  EXPECT_TRUE(limiter.TryAcquire("bob").ok());
  EXPECT_EQ(limiter.sessions(), 1u);
}

TEST(ConnectionLimiterTest, ARefusalByTheTotalLimitIsNotCountedAgainstTheUser) {
  ConnectionLimiter limiter(1, 1);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ExpectRefused(limiter.TryAcquire("bob"), "max_sessions=1");

  limiter.Release("alice");

  // Had the refused attempt been counted, bob would now hit his per-user limit of 1.
  EXPECT_TRUE(limiter.TryAcquire("bob").ok());
}

TEST(ConnectionLimiterTest, WhenBothLimitsAreReachedTheTotalLimitIsNamed) {
  ConnectionLimiter limiter(1, 1);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  const absl::Status refused = limiter.TryAcquire("alice");
  ExpectRefused(refused, "max_sessions=1");
  EXPECT_THAT(std::string(refused.message()), testing::Not(HasSubstr("per-user")));
}

// --- The per-user limit -----------------------------------------------------------------------

TEST(ConnectionLimiterTest, AUsersSessionPastThePerUserLimitIsRefusedNamingTheLimit) {
  ConnectionLimiter limiter(0, 2);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());

  const absl::Status refused = limiter.TryAcquire("alice");

  ExpectRefused(refused, "max_sessions_per_user=2");
  EXPECT_THAT(std::string(refused.message()), HasSubstr("per-user session limit reached"));
  EXPECT_EQ(limiter.sessions(), 2u);
}

TEST(ConnectionLimiterTest, ThePerUserLimitIsCountedPerUser) {
  ConnectionLimiter limiter(0, 2);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ASSERT_FALSE(limiter.TryAcquire("alice").ok());

  EXPECT_TRUE(limiter.TryAcquire("bob").ok());
  EXPECT_TRUE(limiter.TryAcquire("bob").ok());
  ExpectRefused(limiter.TryAcquire("bob"), "max_sessions_per_user=2");
  EXPECT_EQ(limiter.sessions(), 4u);
}

TEST(ConnectionLimiterTest, AnonymousSessionsAreNotHeldToThePerUserLimit) {
  ConnectionLimiter limiter(0, 1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.TryAcquire("").ok()) << i;
  EXPECT_EQ(limiter.sessions(), 10u);
  // Nor do they use up anyone's allowance.
  EXPECT_TRUE(limiter.TryAcquire("alice").ok());
}

TEST(ConnectionLimiterTest, ADisconnectGivesTheUserTheirAllowanceBack) {
  ConnectionLimiter limiter(0, 2);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  ASSERT_FALSE(limiter.TryAcquire("alice").ok());

  limiter.Release("alice");
  EXPECT_TRUE(limiter.TryAcquire("alice").ok());
  EXPECT_FALSE(limiter.TryAcquire("alice").ok());

  limiter.Release("alice");
  limiter.Release("alice");
  EXPECT_EQ(limiter.sessions(), 0u);
  EXPECT_TRUE(limiter.TryAcquire("alice").ok());
  EXPECT_TRUE(limiter.TryAcquire("alice").ok());
  EXPECT_FALSE(limiter.TryAcquire("alice").ok());
}

TEST(ConnectionLimiterTest, ARefusedSessionIsNotCounted) {
  ConnectionLimiter limiter(0, 1);
  ASSERT_TRUE(limiter.TryAcquire("alice").ok());
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(limiter.TryAcquire("alice").ok());

  limiter.Release("alice");

  EXPECT_EQ(limiter.sessions(), 0u);
  EXPECT_TRUE(limiter.TryAcquire("alice").ok());
}

// --- Threads ------------------------------------------------------------------------------------

TEST(ConnectionLimiterTest, ConcurrentConnectsNeverPassTheLimits) {
  constexpr uint32_t kMaxSessions = 6;
  constexpr uint32_t kMaxPerUser = 2;
  ConnectionLimiter limiter(kMaxSessions, kMaxPerUser);
  std::atomic<bool> over_limit{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string user = t % 2 == 0 ? "alice" : "bob";
      for (int i = 0; i < 2000; ++i) {
        const std::string who = i % 3 == 0 ? std::string() : user;
        if (!limiter.TryAcquire(who).ok()) continue;
        if (limiter.sessions() > kMaxSessions) over_limit = true;
        limiter.Release(who);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_FALSE(over_limit.load());
  EXPECT_EQ(limiter.sessions(), 0u);
  // Every allowance came back: each user can again hold exactly kMaxPerUser sessions.
  for (const char* user : {"alice", "bob"}) {
    for (uint32_t i = 0; i < kMaxPerUser; ++i) EXPECT_TRUE(limiter.TryAcquire(user).ok()) << user;
    EXPECT_FALSE(limiter.TryAcquire(user).ok()) << user;
  }
}

}  // namespace
}  // namespace wsbridge
