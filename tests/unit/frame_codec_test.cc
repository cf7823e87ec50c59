// The RFC 6455 wire format as the server side needs it, with no sockets: server frame headers,
// close bodies, the handshake's accept key, strict UTF-8, and FrameReader parsing client frames
// fed in any split.
#include "ws/frame_codec.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/raw_frames.h"
#include "ws/permessage_deflate.h"

namespace wsbridge::ws {
namespace {

using testing::ClientFrame;
using testing::ClientFrameHeader;
using testing::ClientFrameOptions;
using testing::CloseBody;
using testing::DeflateMessage;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::kBinary;
using testing::kClose;
using testing::kContinuation;
using testing::kPing;
using testing::kPong;
using testing::kRsv1;
using testing::kText;
using testing::LengthForm;
using testing::NotFinal;

std::string Bytes(std::initializer_list<uint8_t> bytes) {
  std::string out;
  for (const uint8_t byte : bytes) out.push_back(static_cast<char>(byte));
  return out;
}

// ---- EncodeServerFrameHeader ----

std::string ServerHeader(Opcode opcode, uint64_t length) {
  std::array<uint8_t, kMaxServerHeaderBytes + 4> out;
  out.fill(0xEE);  // shows bytes written past the returned size
  const size_t size = EncodeServerFrameHeader(opcode, length, out.data());
  EXPECT_LE(size, kMaxServerHeaderBytes);
  for (size_t i = size; i < out.size(); ++i) EXPECT_EQ(out[i], 0xEE) << "byte " << i;
  return std::string(reinterpret_cast<const char*>(out.data()), size);
}

TEST(FrameCodecServerHeaderTest, EmptyPayloadHasATwoByteHeader) {
  EXPECT_EQ(ServerHeader(Opcode::kText, 0), Bytes({0x81, 0x00}));
}

TEST(FrameCodecServerHeaderTest, UpTo125BytesTheLengthFitsTheSecondByte) {
  EXPECT_EQ(ServerHeader(Opcode::kText, 125), Bytes({0x81, 125}));
  EXPECT_EQ(ServerHeader(Opcode::kBinary, 1), Bytes({0x82, 1}));
}

TEST(FrameCodecServerHeaderTest, From126To65535BytesTheLengthTakesTwoMoreBytes) {
  EXPECT_EQ(ServerHeader(Opcode::kText, 126), Bytes({0x81, 126, 0x00, 126}));
  EXPECT_EQ(ServerHeader(Opcode::kBinary, 300), Bytes({0x82, 126, 0x01, 0x2C}));
  EXPECT_EQ(ServerHeader(Opcode::kBinary, 65535), Bytes({0x82, 126, 0xFF, 0xFF}));
}

TEST(FrameCodecServerHeaderTest, From65536BytesTheLengthTakesEightMoreBytes) {
  EXPECT_EQ(ServerHeader(Opcode::kBinary, 65536),
            Bytes({0x82, 127, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
  EXPECT_EQ(ServerHeader(Opcode::kText, uint64_t{1} << 32),
            Bytes({0x81, 127, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}));
  EXPECT_EQ(ServerHeader(Opcode::kBinary, 0x0102030405060708ULL),
            Bytes({0x82, 127, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
}

TEST(FrameCodecServerHeaderTest, EveryFrameIsFinalUnmaskedAndCarriesItsOpcode) {
  EXPECT_EQ(ServerHeader(Opcode::kText, 3)[0], '\x81');
  EXPECT_EQ(ServerHeader(Opcode::kBinary, 3)[0], '\x82');
  EXPECT_EQ(ServerHeader(Opcode::kClose, 2)[0], '\x88');
  EXPECT_EQ(ServerHeader(Opcode::kPing, 0)[0], '\x89');
  EXPECT_EQ(ServerHeader(Opcode::kPong, 0)[0], '\x8A');
  for (const uint64_t length : {uint64_t{0}, uint64_t{125}, uint64_t{126}, uint64_t{1} << 20}) {
    EXPECT_EQ(static_cast<uint8_t>(ServerHeader(Opcode::kText, length)[1]) & 0x80, 0)
        << "mask bit set for length " << length;
  }
}

// ---- ComputeAcceptKey / IsValidClientKey ----

TEST(FrameCodecHandshakeTest, AcceptKeyOfTheRfcExample) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(ComputeAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(FrameCodecHandshakeTest, ValidClientKeys) {
  EXPECT_TRUE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(IsValidClientKey(std::string(22, 'A') + "=="));
  EXPECT_TRUE(IsValidClientKey("x3JJHMbDL1EzLkh9GBhXDw=="));
  EXPECT_TRUE(IsValidClientKey("+/+/+/+/+/+/+/+/+/+/+w=="));
}

TEST(FrameCodecHandshakeTest, ClientKeyOfTheWrongLengthIsRefused) {
  EXPECT_FALSE(IsValidClientKey(""));
  EXPECT_FALSE(IsValidClientKey("=="));
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZ=="));    // 23
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZQQ=="));  // 25
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ=="));
}

TEST(FrameCodecHandshakeTest, ClientKeyWithCharactersOutsideBase64IsRefused) {
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZ-=="));
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZ_=="));
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25j Q=="));
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZ\xC3=="));
  EXPECT_FALSE(IsValidClientKey(std::string("dGhlIHNhbXBsZSBub25j\0Q==", 24)));
  EXPECT_FALSE(IsValidClientKey("=GhlIHNhbXBsZSBub25jZQ=="));
}

TEST(FrameCodecHandshakeTest, ClientKeyWithoutItsPaddingIsRefused) {
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZQAA"));
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZQA="));
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZQ=A"));
  EXPECT_FALSE(IsValidClientKey("dGhlIHNhbXBsZSBub25jZQ="));  // 23: one '=' only
}

// ---- IsValidUtf8 ----

TEST(FrameCodecUtf8Test, AsciiAndEmptyAreValid) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("hello"));
  EXPECT_TRUE(IsValidUtf8(std::string("nul \0 inside", 12)));
  EXPECT_TRUE(IsValidUtf8("\x7F"));
}

TEST(FrameCodecUtf8Test, MultiByteSequencesAreValid) {
  EXPECT_TRUE(IsValidUtf8("\xC2\x80"));          // U+0080, smallest 2-byte
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9"));       // é
  EXPECT_TRUE(IsValidUtf8("\xDF\xBF"));          // U+07FF, largest 2-byte
  EXPECT_TRUE(IsValidUtf8("\xE0\xA0\x80"));      // U+0800, smallest 3-byte
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));      // €
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xEE\x80\x80"));      // U+E000, just above the surrogates
  EXPECT_TRUE(IsValidUtf8("\xEF\xBF\xBF"));      // U+FFFF
  EXPECT_TRUE(IsValidUtf8("\xF0\x90\x80\x80"));  // U+10000, smallest 4-byte
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));  // 😀
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
  EXPECT_TRUE(
      IsValidUtf8("a\xC3\xA9z\xE2\x82\xAC"
                  "b\xF0\x9F\x98\x80"
                  "c"));
}

TEST(FrameCodecUtf8Test, OverlongFormsAreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));
}

TEST(FrameCodecUtf8Test, SurrogatesAreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));              // U+D800
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));              // U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\xBD\xED\xB8\x80"));  // a CESU-8 pair
}

TEST(FrameCodecUtf8Test, CodePointsAboveU10FFFFAreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xF7\xBF\xBF\xBF"));
  EXPECT_FALSE(IsValidUtf8("\xF8\x88\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFE"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(FrameCodecUtf8Test, TruncatedSequencesAreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));
  EXPECT_FALSE(IsValidUtf8("abc\xF0\x9F"));
  // A lead byte followed by something that is not a continuation.
  EXPECT_FALSE(
      IsValidUtf8("\xC3"
                  "a"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x28\xA1"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82\x28"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x28\x80"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98\x28"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82\xC3\xA9"));
}

TEST(FrameCodecUtf8Test, LoneContinuationBytesAreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xBF"));
  EXPECT_FALSE(IsValidUtf8("a\x80z"));
  EXPECT_FALSE(IsValidUtf8("\xC3\xA9\xA9"));  // one continuation too many
}

// The validator skips eight ASCII bytes at a time; a bad byte anywhere, in or after such a run,
// must still be seen.
TEST(FrameCodecUtf8Test, BadByteAtAnyOffsetOfALongAsciiRunIsFound) {
  for (const size_t length : {size_t{8}, size_t{9}, size_t{16}, size_t{63}, size_t{64}}) {
    for (size_t offset = 0; offset < length; ++offset) {
      std::string text(length, 'a');
      text[offset] = '\xFF';
      EXPECT_FALSE(IsValidUtf8(text)) << "length " << length << " offset " << offset;
      text[offset] = '\x80';
      EXPECT_FALSE(IsValidUtf8(text)) << "length " << length << " offset " << offset;
    }
  }
}

TEST(FrameCodecUtf8Test, ValidCharAtAnyOffsetOfALongAsciiRunIsAccepted) {
  for (size_t offset = 0; offset <= 40; ++offset) {
    std::string text(40, 'a');
    text.insert(offset, "\xF0\x9F\x98\x80");
    EXPECT_TRUE(IsValidUtf8(text)) << "offset " << offset;
    text.insert(offset, "\xC3\xA9");
    EXPECT_TRUE(IsValidUtf8(text)) << "offset " << offset;
  }
}

TEST(FrameCodecUtf8Test, SequenceTruncatedAtTheEndOfALongAsciiRunIsFound) {
  for (size_t run = 0; run <= 24; ++run) {
    const std::string ascii(run, 'x');
    EXPECT_FALSE(IsValidUtf8(ascii + "\xE2\x82")) << run;
    EXPECT_FALSE(IsValidUtf8(ascii + "\xF0\x9F\x98")) << run;
    EXPECT_FALSE(IsValidUtf8(ascii + "\xED\xA0\x80")) << run;
    EXPECT_TRUE(IsValidUtf8(ascii + "\xE2\x82\xAC")) << run;
  }
}

// ---- EncodeCloseBody / IsSendableCloseCode ----

TEST(FrameCodecCloseTest, BodyIsTheCodeInNetworkOrderThenTheReason) {
  EXPECT_EQ(EncodeCloseBody(1000, ""), Bytes({0x03, 0xE8}));
  EXPECT_EQ(EncodeCloseBody(4001, "bye"), Bytes({0x0F, 0xA1}) + "bye");
  EXPECT_EQ(EncodeCloseBody(kCloseProtocolError, "protocol error"),
            Bytes({0x03, 0xEA}) + "protocol error");
}

TEST(FrameCodecCloseTest, NoStatusGivesAnEmptyBody) {
  EXPECT_EQ(EncodeCloseBody(kCloseNoStatus, ""), "");
  EXPECT_EQ(EncodeCloseBody(kCloseNoStatus, "ignored"), "");
}

TEST(FrameCodecCloseTest, LongReasonIsCutTo123Bytes) {
  EXPECT_EQ(EncodeCloseBody(1000, std::string(123, 'r')).size(), 125u);
  const std::string body = EncodeCloseBody(1000, std::string(500, 'r'));
  EXPECT_EQ(body, Bytes({0x03, 0xE8}) + std::string(123, 'r'));
}

TEST(FrameCodecCloseTest, LongReasonIsNotCutInsideAMultiByteChar) {
  // é (2 bytes) at bytes 122..123: the cut at 123 would split it.
  std::string body = EncodeCloseBody(1000, std::string(122, 'a') + "\xC3\xA9" + "tail");
  EXPECT_EQ(body, Bytes({0x03, 0xE8}) + std::string(122, 'a'));
  // € (3 bytes) at bytes 121..123.
  body = EncodeCloseBody(1000, std::string(121, 'a') + "\xE2\x82\xAC");
  EXPECT_EQ(body, Bytes({0x03, 0xE8}) + std::string(121, 'a'));
  // 😀 (4 bytes) at bytes 120..123.
  body = EncodeCloseBody(1000, std::string(120, 'a') + "\xF0\x9F\x98\x80" + "more");
  EXPECT_EQ(body, Bytes({0x03, 0xE8}) + std::string(120, 'a'));
  // A char that ends exactly at byte 123 is kept whole.
  body = EncodeCloseBody(1000, std::string(120, 'a') + "\xE2\x82\xAC" + "more");
  EXPECT_EQ(body, Bytes({0x03, 0xE8}) + std::string(120, 'a') + "\xE2\x82\xAC");
  // Nothing but multi-byte chars.
  std::string euros;
  for (int i = 0; i < 60; ++i) euros += "\xE2\x82\xAC";
  body = EncodeCloseBody(1000, euros);
  EXPECT_EQ(body.size(), 2u + 123u);
  EXPECT_TRUE(IsValidUtf8(std::string_view(body).substr(2)));
}

TEST(FrameCodecCloseTest, SendableCloseCodes) {
  for (const uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4001, 4999}) {
    EXPECT_TRUE(IsSendableCloseCode(code)) << code;
  }
  for (const uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    EXPECT_FALSE(IsSendableCloseCode(code)) << code;
  }
}

// ---- FrameReader ----

std::string CloseFrame(uint16_t code, std::string_view reason) {
  return ClientFrame(kClose, CloseBody(code, reason));
}

// Records every callback as one readable line: "text:hi", "binary:..", "ping:abc",
// "close:1000:bye".
class RecordingHandler : public FrameReader::Handler {
 public:
  virtual ~RecordingHandler() = default;

  void OnMessage(bool text, std::string_view data) override {
    events.push_back((text ? "text:" : "binary:") + std::string(data));
  }
  void OnPing(std::string_view data) override { events.push_back("ping:" + std::string(data)); }
  void OnPong(std::string_view data) override { events.push_back("pong:" + std::string(data)); }
  void OnClose(uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }

  std::vector<std::string> events;
};

constexpr uint64_t kLimit = 1 << 20;

// Feeds a copy of `bytes` (Feed unmasks in place).
FrameReader::Error Feed(FrameReader& reader, std::string_view bytes, RecordingHandler& handler) {
  std::string copy(bytes);
  return reader.Feed(copy.data(), copy.size(), handler);
}

// Feeds `bytes` to a fresh reader in one call; returns the error and the recorded events.
struct Outcome {
  FrameReader::Error error;
  std::vector<std::string> events;
};
Outcome FeedAll(std::string_view bytes, uint64_t limit = kLimit) {
  FrameReader reader(limit);
  RecordingHandler handler;
  const FrameReader::Error error = Feed(reader, bytes, handler);
  EXPECT_EQ(reader.error(), error);
  return {error, std::move(handler.events)};
}

using Error = FrameReader::Error;

TEST(FrameCodecReaderTest, OneTextFrame) {
  FrameReader reader(kLimit);
  RecordingHandler handler;
  EXPECT_EQ(Feed(reader, ClientFrame(kText, "Hello"), handler), Error::kNone);
  EXPECT_THAT(handler.events, ElementsAre("text:Hello"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
  EXPECT_FALSE(reader.close_received());
}

TEST(FrameCodecReaderTest, RfcExampleMaskedTextFrame) {
  // RFC 6455 section 5.7: a single-frame masked text message "Hello".
  const Outcome outcome =
      FeedAll(Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_EQ(outcome.error, Error::kNone);
  EXPECT_THAT(outcome.events, ElementsAre("text:Hello"));
}

TEST(FrameCodecReaderTest, EmptyTextFrame) {
  const Outcome outcome = FeedAll(ClientFrame(kText, ""));
  EXPECT_EQ(outcome.error, Error::kNone);
  EXPECT_THAT(outcome.events, ElementsAre("text:"));
}

TEST(FrameCodecReaderTest, BinaryFrameKeepsEveryByteValue) {
  std::string payload;
  for (int i = 0; i < 256; ++i) payload.push_back(static_cast<char>(i));
  const Outcome outcome = FeedAll(ClientFrame(kBinary, payload));
  EXPECT_EQ(outcome.error, Error::kNone);
  EXPECT_THAT(outcome.events, ElementsAre("binary:" + payload));
}

TEST(FrameCodecReaderTest, LongLengthForms) {
  const std::string medium(300, 'm');   // 16-bit length
  const std::string large(70000, 'L');  // 64-bit length
  const Outcome outcome = FeedAll(ClientFrame(kText, medium) + ClientFrame(kBinary, large));
  EXPECT_EQ(outcome.error, Error::kNone);
  EXPECT_THAT(outcome.events, ElementsAre("text:" + medium, "binary:" + large));
}

TEST(FrameCodecReaderTest, SeveralFramesInOneFeed) {
  const std::string bytes = ClientFrame(kText, "one") + ClientFrame(kBinary, "two") +
                            ClientFrame(kPing, "p") + ClientFrame(kPong, "q") +
                            ClientFrame(kText, std::string(200, 'x')) + ClientFrame(kText, "three");
  const Outcome outcome = FeedAll(bytes);
  EXPECT_EQ(outcome.error, Error::kNone);
  EXPECT_THAT(outcome.events, ElementsAre("text:one", "binary:two", "ping:p", "pong:q",
                                          "text:" + std::string(200, 'x'), "text:three"));
}

// Frames of each length form followed by a control frame and a fragmented message.
std::string MixedStream() {
  ClientFrameOptions other_mask;
  other_mask.mask = {0x00, 0xFF, 0x80, 0x01};
  return ClientFrame(kText, "short") + ClientFrame(kBinary, std::string(300, '\x9C'), other_mask) +
         ClientFrame(kPing, "ping!") + ClientFrame(kText, "frag", NotFinal()) +
         ClientFrame(kContinuation, "men", NotFinal()) + ClientFrame(kContinuation, "ted") +
         ClientFrame(kText, "caf\xC3\xA9");
}

const std::vector<std::string> kMixedEvents = {"text:short", "binary:" + std::string(300, '\x9C'),
                                               "ping:ping!", "text:fragmented", "text:caf\xC3\xA9"};

TEST(FrameCodecReaderTest, StreamSplitAtEveryPositionAcrossTwoFeeds) {
  const std::string bytes = MixedStream();
  for (size_t split = 0; split <= bytes.size(); ++split) {
    FrameReader reader(kLimit);
    RecordingHandler handler;
    ASSERT_EQ(Feed(reader, std::string_view(bytes).substr(0, split), handler), Error::kNone)
        << "split " << split;
    ASSERT_EQ(Feed(reader, std::string_view(bytes).substr(split), handler), Error::kNone)
        << "split " << split;
    ASSERT_EQ(handler.events, kMixedEvents) << "split " << split;
    ASSERT_EQ(reader.buffered_bytes(), 0u) << "split " << split;
  }
}

TEST(FrameCodecReaderTest, StreamFedOneByteAtATime) {
  const std::string bytes = MixedStream();
  FrameReader reader(kLimit);
  RecordingHandler handler;
  for (size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_EQ(Feed(reader, std::string_view(bytes).substr(i, 1), handler), Error::kNone) << i;
  }
  EXPECT_EQ(handler.events, kMixedEvents);
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameCodecReaderTest, LargeFrameFedOneByteAtATime) {
  std::string payload(70000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  const std::string bytes = ClientFrame(kBinary, payload);
  FrameReader reader(kLimit);
  RecordingHandler handler;
  for (size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_EQ(Feed(reader, std::string_view(bytes).substr(i, 1), handler), Error::kNone) << i;
    if (i + 1 < bytes.size()) {
      ASSERT_THAT(handler.events, IsEmpty()) << i;
    }
  }
  EXPECT_THAT(handler.events, ElementsAre("binary:" + payload));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameCodecReaderTest, BufferedBytesCountsAnIncompleteFrameAndReturnsToZero) {
  const std::string bytes = ClientFrame(kText, std::string(1000, 'b'));
  FrameReader reader(kLimit);
  RecordingHandler handler;
  ASSERT_EQ(Feed(reader, std::string_view(bytes).substr(0, 600), handler), Error::kNone);
  EXPECT_EQ(reader.buffered_bytes(), 600u);
  EXPECT_THAT(handler.events, IsEmpty());
  // The rest and the start of the next frame.
  const std::string next = ClientFrame(kText, "next");
  ASSERT_EQ(Feed(reader, bytes.substr(600) + next.substr(0, 3), handler), Error::kNone);
  EXPECT_EQ(reader.buffered_bytes(), 3u);
  ASSERT_EQ(Feed(reader, next.substr(3), handler), Error::kNone);
  EXPECT_EQ(reader.buffered_bytes(), 0u);
  EXPECT_THAT(handler.events, ElementsAre("text:" + std::string(1000, 'b'), "text:next"));
}

TEST(FrameCodecReaderTest, FragmentedMessageWithAPingBetweenFragments) {
  FrameReader reader(kLimit);
  RecordingHandler handler;
  ASSERT_EQ(Feed(reader, ClientFrame(kText, "Hello, ", NotFinal()), handler), Error::kNone);
  EXPECT_THAT(handler.events, IsEmpty());
  EXPECT_EQ(reader.buffered_bytes(), 7u);  // the fragment waits for the rest of the message
  ASSERT_EQ(Feed(reader, ClientFrame(kPing, "mid"), handler), Error::kNone);
  EXPECT_THAT(handler.events, ElementsAre("ping:mid"));  // delivered at once, mid-message
  ASSERT_EQ(Feed(reader, ClientFrame(kContinuation, "frag", NotFinal()), handler), Error::kNone);
  ASSERT_EQ(Feed(reader, ClientFrame(kPong, ""), handler), Error::kNone);
  ASSERT_EQ(Feed(reader, ClientFrame(kContinuation, "mented world"), handler), Error::kNone);
  EXPECT_THAT(handler.events, ElementsAre("ping:mid", "pong:", "text:Hello, fragmented world"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameCodecReaderTest, FragmentedBinaryMessageStaysBinary) {
  const Outcome outcome = FeedAll(ClientFrame(kBinary, std::string("\x00\x01", 2), NotFinal()) +
                                  ClientFrame(kContinuation, "") + ClientFrame(kText, "after"));
  EXPECT_EQ(outcome.error, Error::kNone);
  EXPECT_THAT(outcome.events, ElementsAre("binary:" + std::string("\x00\x01", 2), "text:after"));
}

TEST(FrameCodecReaderTest, LargeFragmentedMessageIsJoinedAndItsBufferReleased) {
  FrameReader reader(kLimit);
  RecordingHandler handler;
  const std::string part(40000, 'p');
  ASSERT_EQ(Feed(reader, ClientFrame(kBinary, part, NotFinal()), handler), Error::kNone);
  ASSERT_EQ(Feed(reader, ClientFrame(kContinuation, part, NotFinal()), handler), Error::kNone);
  EXPECT_EQ(reader.buffered_bytes(), 80000u);
  ASSERT_EQ(Feed(reader, ClientFrame(kContinuation, part), handler), Error::kNone);
  EXPECT_THAT(handler.events, ElementsAre("binary:" + part + part + part));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

// ---- FrameReader: protocol errors ----

TEST(FrameCodecReaderTest, UnmaskedFrameIsAProtocolError) {
  ClientFrameOptions unmasked;
  unmasked.masked = false;
  const Outcome outcome = FeedAll(ClientFrame(kText, "plain", unmasked));
  EXPECT_EQ(outcome.error, Error::kProtocol);
  EXPECT_THAT(outcome.events, IsEmpty());
}

TEST(FrameCodecReaderTest, ReservedBitsAreAProtocolError) {
  for (const uint8_t rsv : {1, 2, 4, 7}) {
    ClientFrameOptions options;
    options.rsv = rsv;
    const Outcome outcome = FeedAll(ClientFrame(kText, "compressed?", options));
    EXPECT_EQ(outcome.error, Error::kProtocol) << int{rsv};
    EXPECT_THAT(outcome.events, IsEmpty());
  }
}

TEST(FrameCodecReaderTest, UnknownOpcodesAreAProtocolError) {
  for (const uint8_t opcode : {0x3, 0x4, 0x7, 0xB, 0xC, 0xF}) {
    const Outcome outcome = FeedAll(ClientFrame(opcode, "x"));
    EXPECT_EQ(outcome.error, Error::kProtocol) << int{opcode};
    EXPECT_THAT(outcome.events, IsEmpty());
  }
}

TEST(FrameCodecReaderTest, ContinuationWithoutAStartIsAProtocolError) {
  EXPECT_EQ(FeedAll(ClientFrame(kContinuation, "orphan")).error, Error::kProtocol);
  EXPECT_EQ(FeedAll(ClientFrame(kContinuation, "orphan", NotFinal())).error, Error::kProtocol);
  // Also right after a message finished.
  const Outcome outcome =
      FeedAll(ClientFrame(kText, "a", NotFinal()) + ClientFrame(kContinuation, "b") +
              ClientFrame(kContinuation, "c"));
  EXPECT_EQ(outcome.error, Error::kProtocol);
  EXPECT_THAT(outcome.events, ElementsAre("text:ab"));
}

TEST(FrameCodecReaderTest, NewMessageWhileAFragmentedOneIsOpenIsAProtocolError) {
  Outcome outcome = FeedAll(ClientFrame(kText, "start", NotFinal()) + ClientFrame(kText, "new"));
  EXPECT_EQ(outcome.error, Error::kProtocol);
  EXPECT_THAT(outcome.events, IsEmpty());
  outcome = FeedAll(ClientFrame(kText, "start", NotFinal()) + ClientFrame(kBinary, "new"));
  EXPECT_EQ(outcome.error, Error::kProtocol);
}

TEST(FrameCodecReaderTest, OversizedControlFrameIsAProtocolError) {
  EXPECT_EQ(FeedAll(ClientFrame(kPing, std::string(125, 'p'))).error, Error::kNone);
  for (const uint8_t opcode : {kPing, kPong, kClose}) {
    const Outcome outcome = FeedAll(ClientFrame(opcode, std::string(126, 'p')));
    EXPECT_EQ(outcome.error, Error::kProtocol) << int{opcode};
    EXPECT_THAT(outcome.events, IsEmpty());
  }
}

TEST(FrameCodecReaderTest, FragmentedControlFrameIsAProtocolError) {
  for (const uint8_t opcode : {kPing, kPong, kClose}) {
    const Outcome outcome = FeedAll(ClientFrame(opcode, "", NotFinal()));
    EXPECT_EQ(outcome.error, Error::kProtocol) << int{opcode};
    EXPECT_THAT(outcome.events, IsEmpty());
  }
}

TEST(FrameCodecReaderTest, LengthNotInItsShortestFormIsAProtocolError) {
  ClientFrameOptions force16;
  force16.length_form = LengthForm::kForce16;
  ClientFrameOptions force64;
  force64.length_form = LengthForm::kForce64;
  EXPECT_EQ(FeedAll(ClientFrame(kText, std::string(100, 'n'), force16)).error, Error::kProtocol);
  EXPECT_EQ(FeedAll(ClientFrame(kText, std::string(125, 'n'), force16)).error, Error::kProtocol);
  EXPECT_EQ(FeedAll(ClientFrame(kText, std::string(100, 'n'), force64)).error, Error::kProtocol);
  EXPECT_EQ(FeedAll(ClientFrame(kText, std::string(65535, 'n'), force64)).error, Error::kProtocol);
  // The boundaries themselves are fine.
  EXPECT_EQ(FeedAll(ClientFrame(kText, std::string(126, 'n'), force16)).error, Error::kNone);
  EXPECT_EQ(FeedAll(ClientFrame(kText, std::string(65536, 'n'), force64)).error, Error::kNone);
}

TEST(FrameCodecReaderTest, SixtyFourBitLengthWithTheTopBitSetIsAProtocolError) {
  ClientFrameOptions force64;
  force64.length_form = LengthForm::kForce64;
  EXPECT_EQ(FeedAll(ClientFrameHeader(kBinary, uint64_t{1} << 63, force64)).error,
            Error::kProtocol);
}

// ---- FrameReader: limits and UTF-8 ----

TEST(FrameCodecReaderTest, MessageAtTheLimitIsAccepted) {
  const Outcome outcome = FeedAll(ClientFrame(kBinary, std::string(1000, 'x')), 1000);
  EXPECT_EQ(outcome.error, Error::kNone);
  EXPECT_EQ(outcome.events.size(), 1u);
}

TEST(FrameCodecReaderTest, OversizedFrameIsRefusedFromItsHeaderAlone) {
  // Only the header of a huge frame: the reader must not wait for (or buffer) its payload.
  for (const uint64_t length : {uint64_t{1001}, uint64_t{1} << 20, uint64_t{1} << 40}) {
    FrameReader reader(1000);
    RecordingHandler handler;
    EXPECT_EQ(Feed(reader, ClientFrameHeader(kBinary, length), handler), Error::kTooBig) << length;
    EXPECT_THAT(handler.events, IsEmpty());
    EXPECT_EQ(reader.error(), Error::kTooBig);
  }
}

TEST(FrameCodecReaderTest, FragmentedMessageOverTheLimitIsRefused) {
  FrameReader reader(1000);
  RecordingHandler handler;
  ASSERT_EQ(Feed(reader, ClientFrame(kText, std::string(600, 'a'), NotFinal()), handler),
            Error::kNone);
  ASSERT_EQ(Feed(reader, ClientFrame(kContinuation, std::string(400, 'b'), NotFinal()), handler),
            Error::kNone);  // exactly 1000 so far
  // One more byte, announced by the next fragment's header.
  EXPECT_EQ(Feed(reader, ClientFrameHeader(kContinuation, 1), handler), Error::kTooBig);
  EXPECT_THAT(handler.events, IsEmpty());
}

TEST(FrameCodecReaderTest, InvalidUtf8TextIsBadUtf8) {
  Outcome outcome = FeedAll(ClientFrame(kText, "bad \xC3\x28 utf8"));
  EXPECT_EQ(outcome.error, Error::kBadUtf8);
  EXPECT_THAT(outcome.events, IsEmpty());
  outcome = FeedAll(ClientFrame(kText, "\xED\xA0\x80"));
  EXPECT_EQ(outcome.error, Error::kBadUtf8);
  // The same bytes as binary are fine.
  outcome = FeedAll(ClientFrame(kBinary, "bad \xC3\x28 utf8"));
  EXPECT_EQ(outcome.error, Error::kNone);
}

TEST(FrameCodecReaderTest, InvalidUtf8SplitAcrossFragmentsIsBadUtf8) {
  // A surrogate: its lead byte ends one fragment, its continuation bytes start the next.
  Outcome outcome = FeedAll(ClientFrame(kText, "abc\xED", NotFinal()) + ClientFrame(kContinuation,
                                                                                    "\xA0\x80"
                                                                                    "def"));
  EXPECT_EQ(outcome.error, Error::kBadUtf8);
  EXPECT_THAT(outcome.events, IsEmpty());
  // A sequence that never completes.
  outcome =
      FeedAll(ClientFrame(kText, "abc\xE2\x82", NotFinal()) + ClientFrame(kContinuation, "def"));
  EXPECT_EQ(outcome.error, Error::kBadUtf8);
  // Truncated at the very end of the message.
  outcome = FeedAll(ClientFrame(kText, "abc", NotFinal()) + ClientFrame(kContinuation, "\xF0\x9F"));
  EXPECT_EQ(outcome.error, Error::kBadUtf8);
}

TEST(FrameCodecReaderTest, ValidCharSplitAcrossFragmentsIsValid) {
  // € split after its first byte, 😀 after its second, é after its first with an empty fragment
  // in between.
  const Outcome valid =
      FeedAll(ClientFrame(kText, "price: \xE2", NotFinal()) +
              ClientFrame(kContinuation,
                          "\x82\xAC"
                          " smile \xF0\x9F",
                          NotFinal()) +
              ClientFrame(kContinuation,
                          "\x98\x80"
                          " caf\xC3",
                          NotFinal()) +
              ClientFrame(kContinuation, "", NotFinal()) + ClientFrame(kContinuation, "\xA9"));
  EXPECT_EQ(valid.error, Error::kNone);
  EXPECT_THAT(valid.events,
              ElementsAre("text:price: \xE2\x82\xAC smile \xF0\x9F\x98\x80 caf\xC3\xA9"));
}

// ---- FrameReader: close ----

TEST(FrameCodecReaderTest, CloseWithoutBodyReportsNoStatus) {
  FrameReader reader(kLimit);
  RecordingHandler handler;
  EXPECT_EQ(Feed(reader, ClientFrame(kClose, ""), handler), Error::kNone);
  EXPECT_THAT(handler.events, ElementsAre("close:1005:"));
  EXPECT_TRUE(reader.close_received());
}

TEST(FrameCodecReaderTest, CloseWithCodeAndReason) {
  FrameReader reader(kLimit);
  RecordingHandler handler;
  EXPECT_EQ(Feed(reader, CloseFrame(4001, "bye"), handler), Error::kNone);
  EXPECT_THAT(handler.events, ElementsAre("close:4001:bye"));
  EXPECT_TRUE(reader.close_received());
  EXPECT_THAT(FeedAll(CloseFrame(1000, "")).events, ElementsAre("close:1000:"));
  EXPECT_THAT(FeedAll(CloseFrame(1001, "caf\xC3\xA9")).events,
              ElementsAre("close:1001:caf\xC3\xA9"));
}

TEST(FrameCodecReaderTest, CloseWithAOneByteBodyIsAProtocolError) {
  const Outcome outcome = FeedAll(ClientFrame(kClose, "\x03"));
  EXPECT_EQ(outcome.error, Error::kProtocol);
  EXPECT_THAT(outcome.events, IsEmpty());
}

TEST(FrameCodecReaderTest, CloseWithACodeNotAllowedOnTheWireIsAProtocolError) {
  for (const uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 2000, 5000}) {
    const Outcome outcome = FeedAll(CloseFrame(code, ""));
    EXPECT_EQ(outcome.error, Error::kProtocol) << code;
    EXPECT_THAT(outcome.events, IsEmpty()) << code;
  }
}

TEST(FrameCodecReaderTest, CloseWithAnInvalidUtf8ReasonIsAProtocolError) {
  const Outcome outcome = FeedAll(CloseFrame(1000, "bad \xFF"));
  EXPECT_EQ(outcome.error, Error::kProtocol);
  EXPECT_THAT(outcome.events, IsEmpty());
}

TEST(FrameCodecReaderTest, BytesAfterACloseFrameAreIgnored) {
  FrameReader reader(kLimit);
  RecordingHandler handler;
  // In the same Feed, a whole frame and a partial one behind the close.
  const std::string trailing = ClientFrame(kText, "after");
  EXPECT_EQ(Feed(reader, CloseFrame(1000, "done") + trailing + trailing.substr(0, 3), handler),
            Error::kNone);
  EXPECT_EQ(reader.buffered_bytes(), 0u);
  // In later Feeds, even garbage.
  EXPECT_EQ(Feed(reader, trailing, handler), Error::kNone);
  EXPECT_EQ(Feed(reader, Bytes({0xFF, 0x00, 0x12}), handler), Error::kNone);
  EXPECT_THAT(handler.events, ElementsAre("close:1000:done"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
  EXPECT_TRUE(reader.close_received());
}

TEST(FrameCodecReaderTest, CloseFrameSplitAcrossFeedsThenTrailingBytesIgnored) {
  const std::string bytes = CloseFrame(4001, "bye") + ClientFrame(kText, "after");
  for (size_t split = 1; split < 9; ++split) {
    FrameReader reader(kLimit);
    RecordingHandler handler;
    ASSERT_EQ(Feed(reader, std::string_view(bytes).substr(0, split), handler), Error::kNone);
    ASSERT_EQ(Feed(reader, std::string_view(bytes).substr(split), handler), Error::kNone);
    EXPECT_THAT(handler.events, ElementsAre("close:4001:bye")) << split;
    EXPECT_EQ(reader.buffered_bytes(), 0u) << split;
  }
}

// ---- FrameReader: after an error ----

TEST(FrameCodecReaderTest, AfterAnErrorFeedsReturnItAndCallNothing) {
  FrameReader reader(kLimit);
  RecordingHandler handler;
  ClientFrameOptions unmasked;
  unmasked.masked = false;
  // A good frame, then a bad one, then a good one in the same Feed.
  EXPECT_EQ(Feed(reader,
                 ClientFrame(kText, "ok") + ClientFrame(kText, "bad", unmasked) +
                     ClientFrame(kText, "lost"),
                 handler),
            Error::kProtocol);
  EXPECT_THAT(handler.events, ElementsAre("text:ok"));
  EXPECT_NE(std::string_view(reader.error_detail()), "");
  const std::string detail = reader.error_detail();
  EXPECT_EQ(Feed(reader, ClientFrame(kText, "later"), handler), Error::kProtocol);
  EXPECT_EQ(Feed(reader, ClientFrame(kPing, "p"), handler), Error::kProtocol);
  EXPECT_EQ(Feed(reader, CloseFrame(1000, ""), handler), Error::kProtocol);
  EXPECT_THAT(handler.events, ElementsAre("text:ok"));
  EXPECT_EQ(reader.error(), Error::kProtocol);
  EXPECT_EQ(reader.error_detail(), detail);
  EXPECT_FALSE(reader.close_received());
}

TEST(FrameCodecReaderTest, AfterTooBigOrBadUtf8FeedsKeepReturningIt) {
  FrameReader big(10);
  RecordingHandler handler;
  EXPECT_EQ(Feed(big, ClientFrame(kBinary, std::string(11, 'x')), handler), Error::kTooBig);
  EXPECT_EQ(Feed(big, ClientFrame(kBinary, "small"), handler), Error::kTooBig);
  FrameReader utf8(kLimit);
  EXPECT_EQ(Feed(utf8, ClientFrame(kText, "\xFF"), handler), Error::kBadUtf8);
  EXPECT_EQ(Feed(utf8, ClientFrame(kText, "fine"), handler), Error::kBadUtf8);
  EXPECT_THAT(handler.events, IsEmpty());
}

TEST(FrameCodecReaderTest, ErrorInASplitFrameIsReportedWhenItsHeaderIsComplete) {
  ClientFrameOptions rsv;
  rsv.rsv = 4;
  const std::string bytes = ClientFrame(kText, "ok") + ClientFrame(kText, "rsv", rsv);
  FrameReader reader(kLimit);
  RecordingHandler handler;
  // Up to the bad frame's first byte (the "ok" frame is 8 bytes): nothing wrong yet.
  ASSERT_EQ(Feed(reader, std::string_view(bytes).substr(0, 9), handler), Error::kNone);
  EXPECT_THAT(handler.events, ElementsAre("text:ok"));
  EXPECT_EQ(reader.buffered_bytes(), 1u);
  EXPECT_EQ(Feed(reader, std::string_view(bytes).substr(9), handler), Error::kProtocol);
  EXPECT_THAT(handler.events, ElementsAre("text:ok"));
}

// ---- permessage-deflate (RSV1) ----

ClientFrameOptions Compressed(bool fin = true) {
  ClientFrameOptions options;
  options.rsv = kRsv1;
  options.fin = fin;
  return options;
}

// Feeds `bytes` to a fresh reader that negotiated deflate.
Outcome FeedDeflate(std::string_view bytes, uint64_t limit = kLimit) {
  FrameReader reader(limit);
  RecordingHandler handler;
  MessageInflater inflater;
  std::string copy(bytes);
  const FrameReader::Error error = reader.Feed(copy.data(), copy.size(), handler, &inflater);
  return {error, std::move(handler.events)};
}

TEST(FrameCodecDeflateTest, CompressedTextAndBinaryMessagesAreInflated) {
  const std::string text(3000, 'h');
  const Outcome outcome =
      FeedDeflate(ClientFrame(kText, DeflateMessage(text), Compressed()) +
                  ClientFrame(kBinary, DeflateMessage("bin\x01", true), Compressed()) +
                  ClientFrame(kText, "plain"));  // RSV1 clear: not compressed
  EXPECT_EQ(outcome.error, Error::kNone);
  EXPECT_THAT(outcome.events, ElementsAre("text:" + text, "binary:bin\x01", "text:plain"));
}

TEST(FrameCodecDeflateTest, AFragmentedCompressedMessageHasRsv1OnItsFirstFrameOnly) {
  const std::string message = "fragmented and compressed " + std::string(500, 'f');
  const std::string compressed = DeflateMessage(message);
  const size_t half = compressed.size() / 2;
  const std::string bytes = ClientFrame(kText, compressed.substr(0, half), Compressed(false)) +
                            ClientFrame(kPing, "p") +
                            ClientFrame(kContinuation, compressed.substr(half));
  // Fed in one piece and one byte at a time.
  EXPECT_THAT(FeedDeflate(bytes).events, ElementsAre("ping:p", "text:" + message));
  FrameReader reader(kLimit);
  RecordingHandler handler;
  MessageInflater inflater;
  for (const char byte : bytes) {
    char copy = byte;
    ASSERT_EQ(reader.Feed(&copy, 1, handler, &inflater), Error::kNone);
  }
  EXPECT_THAT(handler.events, ElementsAre("ping:p", "text:" + message));
}

TEST(FrameCodecDeflateTest, Rsv1WithoutNegotiationIsAProtocolError) {
  const Outcome outcome = FeedAll(ClientFrame(kText, DeflateMessage("hi"), Compressed()));
  EXPECT_EQ(outcome.error, Error::kProtocol);
  EXPECT_THAT(outcome.events, IsEmpty());
}

TEST(FrameCodecDeflateTest, Rsv1OnAControlFrameIsAProtocolError) {
  for (const uint8_t opcode : {kPing, kPong, kClose}) {
    const Outcome outcome = FeedDeflate(ClientFrame(opcode, "", Compressed()));
    EXPECT_EQ(outcome.error, Error::kProtocol) << int{opcode};
    EXPECT_THAT(outcome.events, IsEmpty());
  }
}

TEST(FrameCodecDeflateTest, Rsv1OnAContinuationFrameIsAProtocolError) {
  const std::string compressed = DeflateMessage("abcdefgh");
  const Outcome outcome =
      FeedDeflate(ClientFrame(kText, compressed.substr(0, 2), Compressed(false)) +
                  ClientFrame(kContinuation, compressed.substr(2), Compressed()));
  EXPECT_EQ(outcome.error, Error::kProtocol);
  EXPECT_THAT(outcome.events, IsEmpty());
}

TEST(FrameCodecDeflateTest, Rsv2AndRsv3StayProtocolErrorsWithDeflate) {
  for (const uint8_t rsv : {1, 2, 5}) {
    ClientFrameOptions options;
    options.rsv = rsv;
    EXPECT_EQ(FeedDeflate(ClientFrame(kText, "x", options)).error, Error::kProtocol) << int{rsv};
  }
}

TEST(FrameCodecDeflateTest, CorruptCompressedDataIsAProtocolError) {
  const Outcome outcome = FeedDeflate(ClientFrame(kText, "\xff\xff\xff", Compressed()));
  EXPECT_EQ(outcome.error, Error::kProtocol);
  EXPECT_THAT(outcome.events, IsEmpty());
}

TEST(FrameCodecDeflateTest, TheSizeLimitAppliesToTheInflatedMessage) {
  const std::string bomb = DeflateMessage(std::string(100000, 'a'));
  ASSERT_LT(bomb.size(), 1000u);
  EXPECT_EQ(FeedDeflate(ClientFrame(kBinary, bomb, Compressed()), 100000).error, Error::kNone);
  const Outcome outcome = FeedDeflate(ClientFrame(kBinary, bomb, Compressed()), 99999);
  EXPECT_EQ(outcome.error, Error::kTooBig);
  EXPECT_THAT(outcome.events, IsEmpty());
}

TEST(FrameCodecDeflateTest, Utf8IsCheckedOnTheInflatedText) {
  // Valid UTF-8 whose compressed bytes are not, and the other way round.
  const std::string accents = "\xC3\xA9t\xC3\xA9 " + std::string(100, 'e');
  EXPECT_THAT(FeedDeflate(ClientFrame(kText, DeflateMessage(accents), Compressed())).events,
              ElementsAre("text:" + accents));
  EXPECT_EQ(FeedDeflate(ClientFrame(kText, DeflateMessage("bad \xFF byte"), Compressed())).error,
            Error::kBadUtf8);
}

}  // namespace
}  // namespace wsbridge::ws
