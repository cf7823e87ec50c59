// TokenBucket: the inbound rate limit of one browser session. Each test lets a session send
// messages at chosen instants (the start plus some milliseconds, never the real clock) and checks
// which messages the bucket lets through. Intervals are multiples of 125 ms and rates powers of
// two where fractions of a token matter, so the bucket's floating-point arithmetic is exact.
#include "ws/token_bucket.h"

#include <chrono>
#include <cstdint>

#include "gtest/gtest.h"

namespace wsbridge {
namespace {

using Clock = TokenBucket::Clock;
using std::chrono::hours;
using std::chrono::milliseconds;

constexpr Clock::time_point kStart = Clock::time_point{} + hours(1000);

// How many of `attempts` messages sent all at the same instant get through.
int TakenAt(TokenBucket& bucket, Clock::time_point at, int attempts) {
  int taken = 0;
  for (int i = 0; i < attempts; ++i) {
    if (bucket.TryTake(at)) ++taken;
  }
  return taken;
}

TEST(TokenBucketTest, RateZeroNeverLimits) {
  TokenBucket bucket(/*rate=*/0, /*burst=*/0, kStart);

  EXPECT_EQ(TakenAt(bucket, kStart, 100000), 100000);
  EXPECT_EQ(TakenAt(bucket, kStart + milliseconds(1), 100000), 100000);
}

TEST(TokenBucketTest, RateZeroNeverLimitsWhateverTheBurst) {
  TokenBucket bucket(/*rate=*/0, /*burst=*/3, kStart);

  EXPECT_EQ(TakenAt(bucket, kStart, 1000), 1000);
}

TEST(TokenBucketTest, AFreshBucketLetsABurstThroughThenRefuses) {
  TokenBucket bucket(/*rate=*/1, /*burst=*/5, kStart);

  EXPECT_EQ(TakenAt(bucket, kStart, 5), 5);
  EXPECT_FALSE(bucket.TryTake(kStart));
  EXPECT_FALSE(bucket.TryTake(kStart + milliseconds(999)));
}

TEST(TokenBucketTest, BurstZeroMeansOneSecondOfRate) {
  TokenBucket bucket(/*rate=*/8, /*burst=*/0, kStart);

  EXPECT_EQ(TakenAt(bucket, kStart, 100), 8);
}

TEST(TokenBucketTest, AnEmptyBucketRefillsOneTokenPerOneOverRateSeconds) {
  TokenBucket bucket(/*rate=*/4, /*burst=*/4, kStart);
  ASSERT_EQ(TakenAt(bucket, kStart, 4), 4);

  EXPECT_FALSE(bucket.TryTake(kStart + milliseconds(125)));  // half a token so far
  EXPECT_TRUE(bucket.TryTake(kStart + milliseconds(250)));   // the refused try kept its half
  EXPECT_FALSE(bucket.TryTake(kStart + milliseconds(250)));
  EXPECT_EQ(TakenAt(bucket, kStart + milliseconds(750), 10), 2);
}

TEST(TokenBucketTest, ASessionTryingEvery125MsGetsRateMessagesPerSecond) {
  TokenBucket bucket(/*rate=*/4, /*burst=*/4, kStart);
  ASSERT_EQ(TakenAt(bucket, kStart, 4), 4);

  int taken = 0;
  for (int step = 1; step <= 16; ++step) {  // two seconds
    if (bucket.TryTake(kStart + milliseconds(125 * step))) ++taken;
  }

  EXPECT_EQ(taken, 8);
}

TEST(TokenBucketTest, ALongIdleTimeRefillsNoMoreThanTheBurst) {
  TokenBucket bucket(/*rate=*/2, /*burst=*/3, kStart);
  ASSERT_EQ(TakenAt(bucket, kStart, 3), 3);

  const Clock::time_point an_hour_later = kStart + hours(1);
  EXPECT_EQ(TakenAt(bucket, an_hour_later, 100), 3);
}

TEST(TokenBucketTest, AFreshBucketIdleForLongStillHoldsOnlyTheBurst) {
  TokenBucket bucket(/*rate=*/1000, /*burst=*/10, kStart);

  EXPECT_EQ(TakenAt(bucket, kStart + hours(24), 1000), 10);
}

}  // namespace
}  // namespace wsbridge
