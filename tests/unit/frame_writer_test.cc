// FrameWriter: what reaches the browser's socket, and in which pieces. Each test queues frames,
// writes them into a fake socket that takes a given number of bytes per call (or would block, or
// fails), and checks the bytes the socket got, what stays queued, and which frames were reported
// as written.
#include "ws/frame_writer.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ws/payload.h"

namespace wsbridge::ws {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Outcome = FrameWriter::Outcome;

// A socket that takes up to `per_call` bytes per write and then `budget` bytes in all before it
// would block; or fails every write with `error`.
class FakeSocket final : public ByteSink {
 public:
  size_t WriteSome(std::span<const boost::asio::const_buffer> buffers,
                   boost::system::error_code& ec) override {
    ++calls;
    buffer_counts.push_back(buffers.size());
    if (error) {
      ec = error;
      return 0;
    }
    size_t allowed = std::min(per_call, budget);
    if (allowed == 0) {
      ec = boost::asio::error::would_block;
      return 0;
    }
    size_t taken = 0;
    for (const auto& buffer : buffers) {
      const size_t n = std::min(buffer.size(), allowed - taken);
      received.append(static_cast<const char*>(buffer.data()), n);
      taken += n;
      if (taken == allowed) break;
    }
    budget -= taken;
    return taken;
  }

  size_t per_call = SIZE_MAX;
  size_t budget = SIZE_MAX;
  boost::system::error_code error;
  std::string received;
  int calls = 0;
  std::vector<size_t> buffer_counts;
};

PayloadPtr Text(std::string bytes) { return MakePayload(Payload::Kind::kText, std::move(bytes)); }

// The wire bytes of `payload`: header then body.
std::string Wire(const PayloadPtr& payload) {
  return std::string(payload->header()) + payload->bytes;
}

SendQueueLimits Roomy() {
  SendQueueLimits limits;
  limits.max_bytes = 1 << 30;
  limits.max_messages = 100000;
  return limits;
}

// Records each frame reported as written, as "<kind>:<body bytes>". (Called through a
// FunctionRef, which calls a const object.)
struct Written {
  bool operator()(Payload::Kind kind, size_t bytes, Payload::TimePoint /*accepted_at*/) const {
    kinds.push_back(std::to_string(static_cast<int>(kind)) + ":" + std::to_string(bytes));
    return keep_going;
  }
  mutable std::vector<std::string> kinds;
  bool keep_going = true;
};

TEST(FrameWriterTest, WritesEveryQueuedFrameInOneGatheredWriteWhenTheSocketTakesIt) {
  FrameWriter writer(Roomy());
  const PayloadPtr a = Text("hello"), b = Text("world!");
  ASSERT_TRUE(writer.TryPush(a));
  ASSERT_TRUE(writer.TryPush(b));
  FakeSocket socket;
  Written written;
  boost::system::error_code ec;

  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);

  EXPECT_EQ(socket.received, Wire(a) + Wire(b));
  EXPECT_EQ(socket.calls, 1);
  EXPECT_THAT(socket.buffer_counts, ElementsAre(4u));  // header and body of each
  EXPECT_THAT(written.kinds, ElementsAre("0:5", "0:6"));
  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.bytes(), 0u);
}

TEST(FrameWriterTest, ASocketTakingFewBytesPerCallGetsEveryByteInOrder) {
  FrameWriter writer(Roomy());
  std::string expected;
  for (int i = 0; i < 10; ++i) {
    const PayloadPtr p = Text(std::string(static_cast<size_t>(i) * 7, static_cast<char>('a' + i)));
    expected += Wire(p);
    ASSERT_TRUE(writer.TryPush(p));
  }
  FakeSocket socket;
  socket.per_call = 3;
  Written written;
  boost::system::error_code ec;

  // A short write means "full": the writer returns and the session waits for writability, so
  // the writes here are repeated until the queue is drained.
  int writes = 0;
  while (writer.Write(socket, written, ec) == Outcome::kBlocked) ++writes;

  EXPECT_EQ(socket.received, expected);
  EXPECT_EQ(written.kinds.size(), 10u);
  EXPECT_GT(writes, 10);
  EXPECT_TRUE(writer.empty());
}

TEST(FrameWriterTest, AFullSocketLeavesThePartialFrontToBeContinuedLater) {
  FrameWriter writer(Roomy());
  const PayloadPtr a = Text(std::string(100, 'a')), b = Text("bb");
  ASSERT_TRUE(writer.TryPush(a));
  ASSERT_TRUE(writer.TryPush(b));
  FakeSocket socket;
  socket.budget = 40;
  Written written;
  boost::system::error_code ec;

  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kBlocked);
  EXPECT_FALSE(ec);
  EXPECT_EQ(writer.front_written(), 40u);
  EXPECT_EQ(writer.size(), 2u);
  EXPECT_THAT(written.kinds, IsEmpty());

  // Would block: nothing taken, nothing changes.
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kBlocked);
  EXPECT_FALSE(ec);
  EXPECT_EQ(writer.front_written(), 40u);

  socket.budget = SIZE_MAX;
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);
  EXPECT_EQ(socket.received, Wire(a) + Wire(b));
  EXPECT_THAT(written.kinds, ElementsAre("0:100", "0:2"));
}

TEST(FrameWriterTest, GathersAtMostSixtyFourFramesPerWrite) {
  FrameWriter writer(Roomy());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(writer.TryPush(Text("x")));
  FakeSocket socket;
  Written written;
  boost::system::error_code ec;

  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);

  EXPECT_THAT(socket.buffer_counts, ElementsAre(128u, 72u));
  EXPECT_EQ(written.kinds.size(), 100u);
}

TEST(FrameWriterTest, ASocketErrorIsReportedAndKeepsTheQueue) {
  FrameWriter writer(Roomy());
  ASSERT_TRUE(writer.TryPush(Text("hello")));
  FakeSocket socket;
  socket.error = boost::asio::error::connection_reset;
  Written written;
  boost::system::error_code ec;

  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kFailed);
  EXPECT_EQ(ec, boost::asio::error::connection_reset);
  EXPECT_EQ(writer.size(), 1u);
}

TEST(FrameWriterTest, StopsAsSoonAsTheCallbackSaysTheSessionEnded) {
  FrameWriter writer(Roomy());
  ASSERT_TRUE(writer.TryPush(Text("a")));
  ASSERT_TRUE(writer.TryPush(Text("b")));
  FakeSocket socket;
  Written written;
  written.keep_going = false;
  boost::system::error_code ec;

  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kStopped);
  EXPECT_THAT(written.kinds, ElementsAre("0:1"));
}

TEST(FrameWriterTest, DiscardUnstartedDropsEverythingWhenNothingWasWritten) {
  FrameWriter writer(Roomy());
  ASSERT_TRUE(writer.TryPush(Text("a")));
  ASSERT_TRUE(writer.TryPush(Text("b")));

  writer.DiscardUnstarted();

  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.bytes(), 0u);
}

TEST(FrameWriterTest, DiscardUnstartedKeepsAFrameHalfOnTheWireSoTheStreamStaysWellFormed) {
  FrameWriter writer(Roomy());
  const PayloadPtr a = Text(std::string(50, 'a'));
  ASSERT_TRUE(writer.TryPush(a));
  ASSERT_TRUE(writer.TryPush(Text("b")));
  ASSERT_TRUE(writer.TryPush(Text("c")));
  FakeSocket socket;
  socket.budget = 10;
  Written written;
  boost::system::error_code ec;
  ASSERT_EQ(writer.Write(socket, written, ec), Outcome::kBlocked);

  writer.DiscardUnstarted();
  const PayloadPtr close = MakePayload(Payload::Kind::kClose, "\x03\xe8");
  writer.PushUnbounded(close);
  socket.budget = SIZE_MAX;
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);

  EXPECT_EQ(socket.received, Wire(a) + Wire(close));
}

TEST(FrameWriterTest, DiscardUnstartedNeverDropsTheUpgradeResponse) {
  FrameWriter writer(Roomy());
  const PayloadPtr upgrade = MakePayload(Payload::Kind::kHandshake, "HTTP/1.1 101\r\n\r\n");
  writer.PushUnbounded(upgrade);
  ASSERT_TRUE(writer.TryPush(Text("b")));

  writer.DiscardUnstarted();

  ASSERT_EQ(writer.size(), 1u);
  FakeSocket socket;
  Written written;
  boost::system::error_code ec;
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);
  EXPECT_EQ(socket.received, "HTTP/1.1 101\r\n\r\n");
}

TEST(FrameWriterTest, DiscardUnstartedKeepsThePongsOwedToTheBrowserInOrder) {
  // A ping read together with the browser's close: its pong must still go out before our close.
  FrameWriter writer(Roomy());
  const PayloadPtr pong1 = MakePayload(Payload::Kind::kPong, "p1");
  const PayloadPtr pong2 = MakePayload(Payload::Kind::kPong, "p2");
  ASSERT_TRUE(writer.TryPush(Text("a")));
  writer.PushUnbounded(pong1);
  ASSERT_TRUE(writer.TryPush(Text("b")));
  writer.PushUnbounded(MakePayload(Payload::Kind::kPing, ""));
  writer.PushUnbounded(pong2);

  writer.DiscardUnstarted();
  const PayloadPtr close = MakePayload(Payload::Kind::kClose, "\x03\xe8");
  writer.PushUnbounded(close);

  FakeSocket socket;
  Written written;
  boost::system::error_code ec;
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);
  EXPECT_EQ(socket.received, Wire(pong1) + Wire(pong2) + Wire(close));
}

TEST(FrameWriterTest, PushAheadOfCloseGoesBetweenTheQueuedMessagesAndTheCloseFrame) {
  FrameWriter writer(Roomy());
  const PayloadPtr a = Text(std::string(50, 'a'));
  const PayloadPtr close = MakePayload(Payload::Kind::kClose, "\x03\xe8");
  const PayloadPtr pong = MakePayload(Payload::Kind::kPong, "p");
  ASSERT_TRUE(writer.TryPush(a));
  writer.PushUnbounded(close);
  FakeSocket socket;
  socket.budget = 10;  // `a` is half out
  Written written;
  boost::system::error_code ec;
  ASSERT_EQ(writer.Write(socket, written, ec), Outcome::kBlocked);

  EXPECT_TRUE(writer.PushAheadOfClose(pong));

  socket.budget = SIZE_MAX;
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);
  EXPECT_EQ(socket.received, Wire(a) + Wire(pong) + Wire(close));
}

TEST(FrameWriterTest, PushAheadOfCloseRefusesOnceTheCloseFrameIsStartedOrWithoutOne) {
  const PayloadPtr pong = MakePayload(Payload::Kind::kPong, "p");
  FrameWriter writer(Roomy());
  EXPECT_FALSE(writer.PushAheadOfClose(pong));  // empty
  ASSERT_TRUE(writer.TryPush(Text("a")));
  EXPECT_FALSE(writer.PushAheadOfClose(pong));  // no close frame at the back
  EXPECT_EQ(writer.size(), 1u);

  FakeSocket socket;
  Written written;
  boost::system::error_code ec;
  ASSERT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);
  const PayloadPtr close = MakePayload(Payload::Kind::kClose, "\x03\xe8");
  writer.PushUnbounded(close);
  socket.budget = 1;  // the close frame is started: nothing may follow it, nor cut into it
  ASSERT_EQ(writer.Write(socket, written, ec), Outcome::kBlocked);

  EXPECT_FALSE(writer.PushAheadOfClose(pong));

  socket.budget = SIZE_MAX;
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);
  EXPECT_EQ(socket.received, Wire(Text("a")) + Wire(close));
}

TEST(FrameWriterTest, ReplaceUnstartedPongAnswersOnlyTheNewestPingInThePlaceOfTheOldPong) {
  FrameWriter writer(Roomy());
  const PayloadPtr a = Text("a");
  const PayloadPtr b = Text("b");
  EXPECT_FALSE(writer.ReplaceUnstartedPong(MakePayload(Payload::Kind::kPong, "p0")))
      << "no pong queued";
  ASSERT_TRUE(writer.TryPush(a));
  writer.PushUnbounded(MakePayload(Payload::Kind::kPong, "p1"));
  ASSERT_TRUE(writer.TryPush(b));
  const PayloadPtr newest = MakePayload(Payload::Kind::kPong, "p3");
  EXPECT_TRUE(writer.ReplaceUnstartedPong(MakePayload(Payload::Kind::kPong, "p2")));
  EXPECT_TRUE(writer.ReplaceUnstartedPong(newest));
  EXPECT_EQ(writer.size(), 3u);
  EXPECT_EQ(writer.bytes(), 4u);

  FakeSocket socket;
  Written written;
  boost::system::error_code ec;
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);
  EXPECT_EQ(socket.received, Wire(a) + Wire(newest) + Wire(b));
  EXPECT_FALSE(writer.ReplaceUnstartedPong(MakePayload(Payload::Kind::kPong, "p4")))
      << "the pong was written: none is owed any more";
}

TEST(FrameWriterTest, ReplaceUnstartedPongLeavesAPongHalfOnTheWire) {
  FrameWriter writer(Roomy());
  const PayloadPtr started = MakePayload(Payload::Kind::kPong, "started");
  writer.PushUnbounded(started);
  FakeSocket socket;
  socket.budget = 3;
  Written written;
  boost::system::error_code ec;
  ASSERT_EQ(writer.Write(socket, written, ec), Outcome::kBlocked);

  EXPECT_FALSE(writer.ReplaceUnstartedPong(MakePayload(Payload::Kind::kPong, "newer")));
  const PayloadPtr queued = MakePayload(Payload::Kind::kPong, "queued");
  writer.PushUnbounded(queued);
  const PayloadPtr newest = MakePayload(Payload::Kind::kPong, "newest");
  EXPECT_TRUE(writer.ReplaceUnstartedPong(newest));

  socket.budget = SIZE_MAX;
  EXPECT_EQ(writer.Write(socket, written, ec), Outcome::kDrained);
  EXPECT_EQ(socket.received, Wire(started) + Wire(newest));
}

TEST(FrameWriterTest, AReportThatDiscardsSeesTheFramesOfTheSameWriteAsAlreadySent) {
  // The browser's close arrives with the upgrade: its answer is decided while the 101 is
  // reported, after the messages queued behind the 101 already left in the same write.
  FrameWriter writer(Roomy());
  const PayloadPtr upgrade = MakePayload(Payload::Kind::kHandshake, "HTTP/1.1 101\r\n\r\n");
  const PayloadPtr a = Text("a"), b = Text("b");
  const PayloadPtr close = MakePayload(Payload::Kind::kClose, "\x03\xe8");
  writer.PushUnbounded(upgrade);
  ASSERT_TRUE(writer.TryPush(a));
  ASSERT_TRUE(writer.TryPush(b));
  FakeSocket socket;
  std::vector<Payload::Kind> reported;
  boost::system::error_code ec;

  const Outcome outcome = writer.Write(
      socket,
      [&](Payload::Kind kind, size_t, Payload::TimePoint) {
        reported.push_back(kind);
        if (kind == Payload::Kind::kHandshake) {
          writer.DiscardUnstarted();
          writer.PushUnbounded(close);
        }
        return true;
      },
      ec);

  EXPECT_EQ(outcome, Outcome::kDrained);
  EXPECT_EQ(socket.received, Wire(upgrade) + Wire(a) + Wire(b) + Wire(close));
  EXPECT_THAT(reported, ElementsAre(Payload::Kind::kHandshake, Payload::Kind::kText,
                                    Payload::Kind::kText, Payload::Kind::kClose));
}

TEST(FrameWriterTest, ClearForgetsThePartialFront) {
  FrameWriter writer(Roomy());
  ASSERT_TRUE(writer.TryPush(Text(std::string(50, 'a'))));
  FakeSocket socket;
  socket.budget = 10;
  Written written;
  boost::system::error_code ec;
  ASSERT_EQ(writer.Write(socket, written, ec), Outcome::kBlocked);

  writer.Clear();

  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.front_written(), 0u);
}

// The delivery latency metric ends at the write that completes a frame: the writer reports the
// time its call was accepted with each completed frame, and the zero time for frames nobody
// measures (control frames).
TEST(FrameWriterTest, ReportsWhenEachWrittenFrameWasAccepted) {
  FrameWriter writer(Roomy());
  const Payload::TimePoint accepted = Payload::TimePoint() + std::chrono::seconds(42);
  ASSERT_TRUE(writer.TryPush(MakePayload(Payload::Kind::kText, "hi", accepted)));
  writer.PushUnbounded(MakePayload(Payload::Kind::kPing, ""));
  FakeSocket socket;
  std::vector<Payload::TimePoint> reported;
  boost::system::error_code ec;
  EXPECT_EQ(writer.Write(
                socket,
                [&](Payload::Kind, size_t, Payload::TimePoint accepted_at) {
                  reported.push_back(accepted_at);
                  return true;
                },
                ec),
            Outcome::kDrained);
  EXPECT_THAT(reported, ElementsAre(accepted, Payload::TimePoint()));
}

}  // namespace
}  // namespace wsbridge::ws
