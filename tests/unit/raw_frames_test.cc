// The hand-made frames of tests/support/raw_frames.h, checked against the bridge's own codec: the
// parser that the raw-socket tests trust reads what EncodeServerFrameHeader writes, in every
// length form, and waits for a whole frame. (ClientFrame itself is checked by every FrameReader
// test in frame_codec_test.cc, which feeds its frames to the production parser.)
#include "support/raw_frames.h"

#include <array>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "ws/frame_codec.h"

namespace wsbridge::testing {
namespace {

// A server frame as the bridge writes it: its header encoder, then the payload.
std::string BridgeFrame(ws::Opcode opcode, const std::string& payload) {
  std::array<uint8_t, ws::kMaxServerHeaderBytes> header;
  const size_t size = ws::EncodeServerFrameHeader(opcode, payload.size(), header.data());
  return std::string(reinterpret_cast<const char*>(header.data()), size) + payload;
}

TEST(RawFramesTest, ParsesWhatTheBridgeEncodesInEveryLengthForm) {
  for (const size_t length : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    const std::string payload(length, 'p');
    const std::string bytes = BridgeFrame(ws::Opcode::kBinary, payload) + "next";
    size_t consumed = 0;
    const auto frame = ParseServerFrame(bytes, &consumed);
    ASSERT_TRUE(frame.has_value()) << length;
    EXPECT_TRUE(frame->fin);
    EXPECT_EQ(frame->rsv, 0);
    EXPECT_FALSE(frame->masked);
    EXPECT_EQ(frame->opcode, kBinary);
    EXPECT_EQ(frame->header_size, length < 126 ? 2u : length <= 0xFFFF ? 4u : 10u);
    EXPECT_EQ(frame->payload, payload);
    EXPECT_EQ(consumed, bytes.size() - 4) << "the bytes behind the frame are not part of it";
  }
}

TEST(RawFramesTest, IncompleteFrameIsNotParsed) {
  const std::string bytes = BridgeFrame(ws::Opcode::kText, std::string(300, 't'));
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_FALSE(ParseServerFrame(bytes.substr(0, size)).has_value()) << size;
  }
  EXPECT_TRUE(ParseServerFrame(bytes).has_value());
}

TEST(RawFramesTest, ClientFrameParsedBackKeepsItsFlagsAndMask) {
  ClientFrameOptions options = NotFinal();
  options.rsv = 5;
  options.length_form = LengthForm::kForce64;
  const auto frame = ParseServerFrame(ClientFrame(kContinuation, "ab", options));
  ASSERT_TRUE(frame.has_value());
  EXPECT_FALSE(frame->fin);
  EXPECT_EQ(frame->rsv, 5);
  EXPECT_TRUE(frame->masked);
  EXPECT_EQ(frame->opcode, kContinuation);
  EXPECT_EQ(frame->header_size, 2u + 8u + 4u);
  // The payload comes back as sent, masked with the RFC example key.
  EXPECT_EQ(frame->payload,
            std::string({static_cast<char>('a' ^ 0x37), static_cast<char>('b' ^ 0xFA)}));
}

TEST(RawFramesTest, CloseBodyIsTheCodeInNetworkOrderThenTheReason) {
  EXPECT_EQ(CloseBody(1000, ""), std::string("\x03\xE8", 2));
  EXPECT_EQ(CloseBody(4001, "bye"), std::string("\x0F\xA1") + "bye");
}

}  // namespace
}  // namespace wsbridge::testing
