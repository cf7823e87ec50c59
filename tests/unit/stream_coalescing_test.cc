// StreamCoalescing: which sessions let the kernel coalesce their frames (the decision, pure, with
// hand-made times), and PushHeldFrames on a real loopback connection whose receiver delays its
// acknowledgements, the case the bound exists for: pushed only once the receiver has been silent
// for the given time.
#include "ws/stream_coalescing.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "gtest/gtest.h"

namespace wsbridge::ws {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using Change = StreamCoalescing::Change;

constexpr milliseconds kGap{50};
const StreamCoalescing::TimePoint kStart{std::chrono::seconds(1000)};

TEST(StreamCoalescingTest, ASessionStartsCoalescingOnlyWhenItsWritesComeWithinTheGap) {
  StreamCoalescing coalescing;
  EXPECT_EQ(coalescing.BeforeMessageWrite(kStart, kGap), Change::kNone);  // the first write
  EXPECT_EQ(coalescing.BeforeMessageWrite(kStart + milliseconds(60), kGap), Change::kNone);
  EXPECT_FALSE(coalescing.coalescing()) << "writes 60 ms apart are not a stream";
  EXPECT_EQ(coalescing.BeforeMessageWrite(kStart + milliseconds(80), kGap),
            Change::kStartCoalescing);
  EXPECT_TRUE(coalescing.coalescing());
  EXPECT_EQ(coalescing.BeforeMessageWrite(kStart + milliseconds(100), kGap), Change::kNone)
      << "already coalescing: no second switch";
}

TEST(StreamCoalescingTest, AWriteAfterAPauseSendsAtOnceAgain) {
  StreamCoalescing coalescing;
  coalescing.BeforeMessageWrite(kStart, kGap);
  ASSERT_EQ(coalescing.BeforeMessageWrite(kStart + milliseconds(5), kGap),
            Change::kStartCoalescing);
  EXPECT_EQ(coalescing.BeforeMessageWrite(kStart + milliseconds(55), kGap), Change::kSendAtOnce);
  EXPECT_FALSE(coalescing.coalescing());
}

TEST(StreamCoalescingTest, AZeroGapNeverCoalesces) {
  StreamCoalescing coalescing;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(coalescing.BeforeMessageWrite(kStart + milliseconds(i), milliseconds(0)),
              Change::kNone);
  }
  EXPECT_FALSE(coalescing.coalescing());
}

TEST(StreamCoalescingTest, TheSweepEndsCoalescingWhenTheStreamPausedOrTheSessionCloses) {
  StreamCoalescing streaming;
  streaming.BeforeMessageWrite(kStart, kGap);
  streaming.BeforeMessageWrite(kStart + milliseconds(10), kGap);
  EXPECT_EQ(streaming.OnSweep(kStart + milliseconds(30), kGap, /*closing=*/false), Change::kNone)
      << "still streaming: the caller pushes what is held instead";
  EXPECT_TRUE(streaming.coalescing());
  EXPECT_EQ(streaming.OnSweep(kStart + milliseconds(60), kGap, /*closing=*/false),
            Change::kSendAtOnce);
  EXPECT_FALSE(streaming.coalescing());
  EXPECT_EQ(streaming.OnSweep(kStart + milliseconds(90), kGap, /*closing=*/false), Change::kNone);

  StreamCoalescing closing;
  closing.BeforeMessageWrite(kStart, kGap);
  closing.BeforeMessageWrite(kStart + milliseconds(10), kGap);
  EXPECT_EQ(closing.OnSweep(kStart + milliseconds(11), kGap, /*closing=*/true),
            Change::kSendAtOnce);
}

// A loopback connection: `sender` with Nagle's algorithm on, `receiver` delaying its ACKs.
class HeldFramesTest : public ::testing::Test {
 protected:
  HeldFramesTest() {
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    receiver_.connect(acceptor.local_endpoint());
    sender_ = acceptor.accept();
    SetSendAtOnce(sender_, false);
    int off = 0;
    ::setsockopt(receiver_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
    receiver_.non_blocking(true);
  }

  int Unsent() {
    int unsent = -1;
    EXPECT_EQ(::ioctl(sender_.native_handle(), SIOCOUTQNSD, &unsent), 0);
    return unsent;
  }

  std::string ReceiverReadsNow() {
    char buffer[256];
    boost::system::error_code ec;
    const size_t n = receiver_.read_some(asio::buffer(buffer), ec);
    return ec ? std::string() : std::string(buffer, n);
  }

  asio::io_context io_;
  asio::ip::tcp::socket receiver_{io_};
  asio::ip::tcp::socket sender_{io_};
};

TEST_F(HeldFramesTest,
       WhatNaglesAlgorithmHoldsIsPushedOnceTheBrowserAcknowledgedNothingLongEnough) {
  asio::write(sender_, asio::buffer(std::string("first")));
  asio::write(sender_, asio::buffer(std::string("second")));
  // The receiver has not acknowledged "first" (delayed ACK), so the kernel holds "second".
  ASSERT_GT(Unsent(), 0) << "the kernel sent the second write at once: nothing to test";
  EXPECT_EQ(ReceiverReadsNow(), "first");

  // Its last ACK (of the handshake) is milliseconds old: not silent for 10 s, no push.
  EXPECT_FALSE(PushHeldFrames(sender_, std::chrono::seconds(10)));
  EXPECT_GT(Unsent(), 0);
  EXPECT_EQ(ReceiverReadsNow(), "");

  EXPECT_TRUE(PushHeldFrames(sender_, milliseconds(0)));
  EXPECT_EQ(Unsent(), 0);
  EXPECT_EQ(ReceiverReadsNow(), "second") << "the held bytes were not sent by the push";

  EXPECT_FALSE(PushHeldFrames(sender_, milliseconds(0))) << "nothing held: no push";
  int nodelay = 1;
  socklen_t length = sizeof nodelay;
  ::getsockopt(sender_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &length);
  EXPECT_EQ(nodelay, 0) << "after the push the socket coalesces again";
}

}  // namespace
}  // namespace wsbridge::ws
