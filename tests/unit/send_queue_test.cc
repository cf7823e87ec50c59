// SendQueue: the messages waiting to be written to one browser. Each test fills a queue the way a
// session would (the hub pushes, the writer pops the front once it is on the wire, a slow
// consumer gets truncated) and checks what the browser would receive next and what is counted.
#include "ws/send_queue.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ws/payload.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;

PayloadPtr Text(std::string bytes) { return MakePayload(Payload::Kind::kText, std::move(bytes)); }

PayloadPtr OfSize(size_t bytes) { return Text(std::string(bytes, 'x')); }

SendQueueLimits Limits(uint64_t max_bytes, uint32_t max_messages) {
  SendQueueLimits limits;
  limits.max_bytes = max_bytes;
  limits.max_messages = max_messages;
  return limits;
}

// Pops everything, returning the texts in the order a writer would send them.
std::vector<std::string> Drain(SendQueue& queue) {
  std::vector<std::string> sent;
  while (!queue.empty()) {
    sent.push_back(queue.front()->bytes);
    queue.PopFront();
  }
  return sent;
}

TEST(SendQueueTest, DefaultLimitsAreOneMebibyteAnd1024Messages) {
  const SendQueueLimits limits;
  EXPECT_EQ(limits.max_bytes, 1u << 20);
  EXPECT_EQ(limits.max_messages, 1024u);
}

TEST(SendQueueTest, ANewQueueIsEmpty) {
  const SendQueue queue(SendQueueLimits{});
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(SendQueueTest, MessagesLeaveInTheOrderTheyWerePushed) {
  SendQueue queue(SendQueueLimits{});
  ASSERT_TRUE(queue.TryPush(Text("one")));
  ASSERT_TRUE(queue.TryPush(Text("two")));
  ASSERT_TRUE(queue.TryPush(Text("three")));

  EXPECT_FALSE(queue.empty());
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.bytes(), 11u);
  EXPECT_THAT(Drain(queue), ElementsAre("one", "two", "three"));
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(SendQueueTest, TheQueueHoldsTheSharedPayloadNotACopy) {
  SendQueue first(SendQueueLimits{});
  SendQueue second(SendQueueLimits{});
  const PayloadPtr payload = MakePayload(Payload::Kind::kBinary, std::string("\x00\x01\x02", 3));

  ASSERT_TRUE(first.TryPush(payload));
  ASSERT_TRUE(second.TryPush(payload));

  EXPECT_EQ(first.front().get(), payload.get());
  EXPECT_EQ(second.front().get(), payload.get());
  EXPECT_EQ(first.front()->kind, Payload::Kind::kBinary);
  EXPECT_EQ(payload.use_count(), 3);

  first.PopFront();
  second.Truncate(0);
  EXPECT_EQ(payload.use_count(), 1) << "a popped or truncated message must be released";
}

TEST(SendQueueTest, BytesFollowEveryPushAndPop) {
  SendQueue queue(SendQueueLimits{});
  ASSERT_TRUE(queue.TryPush(OfSize(100)));
  ASSERT_TRUE(queue.TryPush(OfSize(20)));
  ASSERT_TRUE(queue.TryPush(OfSize(0)));
  EXPECT_EQ(queue.bytes(), 120u);
  EXPECT_EQ(queue.size(), 3u);

  queue.PopFront();
  EXPECT_EQ(queue.bytes(), 20u);
  queue.PopFront();
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.size(), 1u) << "an empty message still counts as a message";
  queue.PopFront();
  EXPECT_TRUE(queue.empty());
}

// --- Message limit ----------------------------------------------------------------------------

TEST(SendQueueTest, AMessagePastTheMessageLimitIsRefusedAndTheQueueIsUnchanged) {
  SendQueue queue(Limits(1 << 20, 3));
  ASSERT_TRUE(queue.TryPush(Text("a")));
  ASSERT_TRUE(queue.TryPush(Text("b")));
  ASSERT_TRUE(queue.TryPush(Text("c")));

  EXPECT_FALSE(queue.TryPush(Text("d")));

  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.bytes(), 3u);
  EXPECT_EQ(queue.front()->bytes, "a");
  EXPECT_THAT(Drain(queue), ElementsAre("a", "b", "c"));
}

TEST(SendQueueTest, ASentMessageMakesRoomForAnother) {
  SendQueue queue(Limits(1 << 20, 2));
  ASSERT_TRUE(queue.TryPush(Text("a")));
  ASSERT_TRUE(queue.TryPush(Text("b")));
  ASSERT_FALSE(queue.TryPush(Text("c")));

  queue.PopFront();

  EXPECT_TRUE(queue.TryPush(Text("c")));
  EXPECT_THAT(Drain(queue), ElementsAre("b", "c"));
}

TEST(SendQueueTest, AOneMessageLimitHoldsOneMessageAtATime) {
  SendQueue queue(Limits(1 << 20, 1));
  ASSERT_TRUE(queue.TryPush(Text("a")));
  EXPECT_FALSE(queue.TryPush(Text("b")));
  queue.PopFront();
  EXPECT_TRUE(queue.TryPush(Text("b")));
  EXPECT_THAT(Drain(queue), ElementsAre("b"));
}

// --- Byte limit -------------------------------------------------------------------------------

TEST(SendQueueTest, MessagesUpToExactlyTheByteLimitAreAccepted) {
  SendQueue queue(Limits(10, 100));
  ASSERT_TRUE(queue.TryPush(OfSize(4)));
  ASSERT_TRUE(queue.TryPush(OfSize(6)));
  EXPECT_EQ(queue.bytes(), 10u);
  EXPECT_TRUE(queue.TryPush(OfSize(0))) << "an empty message passes no byte limit";
  EXPECT_EQ(queue.size(), 3u);
}

TEST(SendQueueTest, AMessagePastTheByteLimitIsRefusedAndTheQueueIsUnchanged) {
  SendQueue queue(Limits(10, 100));
  ASSERT_TRUE(queue.TryPush(OfSize(4)));
  ASSERT_TRUE(queue.TryPush(OfSize(4)));

  EXPECT_FALSE(queue.TryPush(OfSize(3)));

  EXPECT_EQ(queue.size(), 2u);
  EXPECT_EQ(queue.bytes(), 8u);
  // A smaller message still fits.
  EXPECT_TRUE(queue.TryPush(OfSize(2)));
  EXPECT_EQ(queue.bytes(), 10u);
}

TEST(SendQueueTest, AMessageLargerThanTheByteLimitIsAcceptedIntoAnEmptyQueue) {
  SendQueue queue(Limits(10, 100));

  EXPECT_TRUE(queue.TryPush(OfSize(1000)));

  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.bytes(), 1000u);
  EXPECT_EQ(queue.front()->bytes.size(), 1000u);
}

TEST(SendQueueTest, NothingJoinsAnOversizedMessageUntilItIsSent) {
  SendQueue queue(Limits(10, 100));
  ASSERT_TRUE(queue.TryPush(OfSize(1000)));

  EXPECT_FALSE(queue.TryPush(OfSize(1)));
  EXPECT_FALSE(queue.TryPush(OfSize(0)));

  queue.PopFront();
  EXPECT_TRUE(queue.empty());
  EXPECT_TRUE(queue.TryPush(OfSize(1000))) << "an empty queue accepts a large message again";
}

TEST(SendQueueTest, AMessageLargerThanTheByteLimitIsRefusedWhenOthersWait) {
  SendQueue queue(Limits(10, 100));
  ASSERT_TRUE(queue.TryPush(OfSize(1)));

  EXPECT_FALSE(queue.TryPush(OfSize(1000)));

  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.bytes(), 1u);
}

// --- Truncate ---------------------------------------------------------------------------------

TEST(SendQueueTest, TruncateOneKeepsOnlyTheMessageBeingWritten) {
  SendQueue queue(SendQueueLimits{});
  ASSERT_TRUE(queue.TryPush(Text("on the wire")));
  ASSERT_TRUE(queue.TryPush(Text("waiting 1")));
  ASSERT_TRUE(queue.TryPush(Text("waiting 2")));

  queue.Truncate(1);

  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.bytes(), 11u);
  EXPECT_THAT(Drain(queue), ElementsAre("on the wire"));
}

TEST(SendQueueTest, TruncateZeroDropsEverythingAndTheQueueIsUsableAgain) {
  SendQueue queue(Limits(100, 3));
  ASSERT_TRUE(queue.TryPush(Text("a")));
  ASSERT_TRUE(queue.TryPush(Text("b")));
  ASSERT_TRUE(queue.TryPush(Text("c")));

  queue.Truncate(0);

  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.bytes(), 0u);
  ASSERT_TRUE(queue.TryPush(Text("d")));
  ASSERT_TRUE(queue.TryPush(Text("e")));
  ASSERT_TRUE(queue.TryPush(Text("f")));
  EXPECT_THAT(Drain(queue), ElementsAre("d", "e", "f"));
}

TEST(SendQueueTest, TruncatingAnEmptyOrShortQueueChangesNothing) {
  SendQueue queue(SendQueueLimits{});
  queue.Truncate(0);
  queue.Truncate(1);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);

  ASSERT_TRUE(queue.TryPush(Text("only")));
  queue.Truncate(1);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.bytes(), 4u);
  EXPECT_THAT(Drain(queue), ElementsAre("only"));
}

TEST(SendQueueTest, TruncateFreesRoomUnderBothLimits) {
  SendQueue queue(Limits(10, 3));
  ASSERT_TRUE(queue.TryPush(OfSize(2)));
  ASSERT_TRUE(queue.TryPush(OfSize(4)));
  ASSERT_TRUE(queue.TryPush(OfSize(4)));
  ASSERT_FALSE(queue.TryPush(OfSize(1)));

  queue.Truncate(1);

  EXPECT_EQ(queue.bytes(), 2u);
  EXPECT_TRUE(queue.TryPush(OfSize(8)));
  EXPECT_EQ(queue.bytes(), 10u);
}

TEST(SendQueueTest, TruncateKeepsTheFrontWhenTheRingHasWrappedAround) {
  SendQueue queue(Limits(1 << 20, 100));
  // Move the front away from the start of the ring, then wrap the newest messages around.
  for (const char* text : {"x1", "x2", "x3", "a"}) ASSERT_TRUE(queue.TryPush(Text(text)));
  queue.PopFront();
  queue.PopFront();
  queue.PopFront();
  for (const char* text : {"b", "c", "d"}) ASSERT_TRUE(queue.TryPush(Text(text)));

  queue.Truncate(1);

  EXPECT_EQ(queue.bytes(), 1u);
  EXPECT_THAT(Drain(queue), ElementsAre("a"));
}

// --- RemoveIf and InsertUnbounded --------------------------------------------------------------

TEST(SendQueueTest, RemoveIfDropsWhatItIsToldFromAPositionOnAndKeepsTheOrderOfTheRest) {
  SendQueue queue(SendQueueLimits{});
  // The front one is dropped by the predicate too, but lies before `first`.
  for (const char* text : {"drop 0", "keep 1", "drop 2", "keep 3", "drop 4"}) {
    ASSERT_TRUE(queue.TryPush(Text(text)));
  }

  queue.RemoveIf(1, [](const Payload& p) { return p.bytes.starts_with("drop"); });

  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.bytes(), 18u);
  EXPECT_THAT(Drain(queue), ElementsAre("drop 0", "keep 1", "keep 3"));
}

TEST(SendQueueTest, RemoveIfOverTheWrappedRingAndDownToNothing) {
  SendQueue queue(Limits(1 << 20, 100));
  for (const char* text : {"x1", "x2", "x3", "a"}) ASSERT_TRUE(queue.TryPush(Text(text)));
  queue.PopFront();
  queue.PopFront();
  queue.PopFront();
  for (const char* text : {"b", "cc", "d"}) ASSERT_TRUE(queue.TryPush(Text(text)));

  queue.RemoveIf(0, [](const Payload& p) { return p.bytes.size() == 1; });
  EXPECT_EQ(queue.bytes(), 2u);
  queue.RemoveIf(5, [](const Payload&) { return true; });  // past the end: nothing
  EXPECT_EQ(queue.size(), 1u);
  queue.RemoveIf(0, [](const Payload&) { return true; });
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  ASSERT_TRUE(queue.TryPush(Text("again")));
  EXPECT_THAT(Drain(queue), ElementsAre("again"));
}

TEST(SendQueueTest, InsertUnboundedPutsAMessageAheadOfTheLastOnesEvenPastTheLimits) {
  SendQueue queue(Limits(1 << 20, 4));
  // A wrapped ring, full to its message limit.
  for (const char* text : {"x1", "x2", "a", "b"}) ASSERT_TRUE(queue.TryPush(Text(text)));
  queue.PopFront();
  queue.PopFront();
  for (const char* text : {"c", "close"}) ASSERT_TRUE(queue.TryPush(Text(text)));
  ASSERT_FALSE(queue.TryPush(Text("refused")));

  queue.InsertUnbounded(3, Text("pong"));
  queue.InsertUnbounded(0, Text("first"));

  EXPECT_EQ(queue.size(), 6u);
  EXPECT_EQ(queue.bytes(), 17u);
  EXPECT_THAT(Drain(queue), ElementsAre("first", "a", "b", "c", "pong", "close"));
}

TEST(SendQueueTest, ReplacePutsAnotherPayloadInPlaceAndKeepsTheBytesRight) {
  SendQueue queue(Limits(1 << 20, 4));
  for (const char* text : {"a", "pong1", "b"}) ASSERT_TRUE(queue.TryPush(Text(text)));
  queue.Replace(1, Text("pong22"));
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.bytes(), 8u);
  EXPECT_THAT(Drain(queue), ElementsAre("a", "pong22", "b"));
}

TEST(SendQueueTest, OnlyPushesPastTheLimitsPutTheQueueOverThem) {
  SendQueue queue(Limits(10, 2));
  ASSERT_TRUE(queue.TryPush(Text("12345")));
  ASSERT_TRUE(queue.TryPush(Text("67890")));
  EXPECT_FALSE(queue.over_limits()) << "full is not over";
  queue.PushUnbounded(Text("p"));
  EXPECT_TRUE(queue.over_limits()) << "three messages with a limit of two";
  queue.PopFront();
  EXPECT_FALSE(queue.over_limits());
  queue.PushUnbounded(Text("pp"));
  EXPECT_TRUE(queue.over_limits()) << "12 bytes with a limit of 10";

  // One message larger than the byte limit is allowed alone (TryPush takes it into an empty
  // queue); a control frame behind it is over.
  SendQueue big(Limits(10, 8));
  ASSERT_TRUE(big.TryPush(OfSize(100)));
  EXPECT_FALSE(big.over_limits());
  big.PushUnbounded(Text("p"));
  EXPECT_TRUE(big.over_limits());
}

// --- Long lives -------------------------------------------------------------------------------

TEST(SendQueueTest, OrderAndBytesSurviveManyPushPopCyclesAroundTheRing) {
  SendQueue queue(Limits(1 << 20, 7));
  uint64_t next_pushed = 0;
  uint64_t next_sent = 0;
  uint64_t expected_bytes = 0;
  auto push = [&] {
    std::string text = std::to_string(next_pushed++);
    expected_bytes += text.size();
    ASSERT_TRUE(queue.TryPush(Text(std::move(text))));
  };
  auto pop = [&] {
    ASSERT_FALSE(queue.empty());
    ASSERT_EQ(queue.front()->bytes, std::to_string(next_sent++));
    expected_bytes -= queue.front()->bytes.size();
    queue.PopFront();
  };

  // Keep 1 to 7 messages waiting, so the head keeps moving round the ring and the ring keeps
  // growing while wrapped.
  for (int cycle = 0; cycle < 2000; ++cycle) {
    const int target = 1 + cycle % 7;
    while (queue.size() < static_cast<size_t>(target)) push();
    pop();
    ASSERT_EQ(queue.bytes(), expected_bytes) << "cycle " << cycle;
    ASSERT_EQ(queue.size(), next_pushed - next_sent) << "cycle " << cycle;
  }
  while (!queue.empty()) pop();
  EXPECT_EQ(next_sent, next_pushed);
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(SendQueueTest, GrowingWhileWrappedKeepsTheOrder) {
  SendQueue queue(Limits(1 << 20, 100));
  for (const char* text : {"1", "2", "3", "4"}) ASSERT_TRUE(queue.TryPush(Text(text)));
  queue.PopFront();
  queue.PopFront();
  // "5" and "6" wrap to the start of the ring; "7" makes it grow.
  for (const char* text : {"5", "6", "7", "8", "9"}) ASSERT_TRUE(queue.TryPush(Text(text)));

  EXPECT_EQ(queue.size(), 7u);
  EXPECT_EQ(queue.bytes(), 7u);
  EXPECT_THAT(Drain(queue), ElementsAre("3", "4", "5", "6", "7", "8", "9"));
}

TEST(SendQueueTest, TheFullMessageLimitIsUsableAfterTheQueueDrained) {
  SendQueue queue(Limits(1 << 20, 1024));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 1024; ++i) ASSERT_TRUE(queue.TryPush(OfSize(1))) << round << "/" << i;
    EXPECT_FALSE(queue.TryPush(OfSize(1)));
    EXPECT_EQ(queue.bytes(), 1024u);
    while (!queue.empty()) queue.PopFront();
    EXPECT_EQ(queue.bytes(), 0u);
  }
}

}  // namespace
}  // namespace wsbridge
