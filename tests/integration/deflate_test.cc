// permessage-deflate (RFC 7692) over real sockets: what the 101 answers to each kind of offer,
// exact bytes both ways for a browser that negotiated deflate next to one that did not (same
// topic, the same broadcasts), the window rule for a browser that asked for a small server
// window, the inflated size limit against a zip bomb, corrupt data, RSV1 where it is not allowed,
// --compression=false, and Boost.Beast's own permessage-deflate as an independent peer.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/events_reader.h"
#include "support/raw_frames.h"
#include "support/raw_ws_client.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAreArray;
using ::testing::StartsWith;

constexpr char kAnswer[] =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
constexpr uint64_t kMaxMessageBytes = 1 << 20;
constexpr size_t kMinBytes = 256;

// Options of a frame that starts a compressed message.
ClientFrameOptions Rsv1() {
  ClientFrameOptions options;
  options.rsv = kRsv1;
  return options;
}

struct Sent {
  bool binary = false;
  std::string bytes;
};

// A browser on a raw socket: the frames as they came, and each message's bytes after inflating
// RSV1 frames.
struct Received {
  bool binary = false;
  bool rsv1 = false;
  std::string bytes;
};

class DeflateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reader_ = std::make_unique<EventsReader>(bridge_.api(), v1::EventsRequest());
    ASSERT_TRUE(Eventually([&] { return bridge_.server().events().subscription_count() == 1; }));
  }

  // Upgrades with the given Sec-WebSocket-Extensions fields; returns the 101's head.
  static std::string Upgrade(RawWsClient& socket, const std::vector<std::string>& offers,
                             std::string_view target = "/ws?topics=news") {
    socket.Write(UpgradeRequestWithExtensions(offers, target));
    std::optional<std::string> head = socket.ReadHttpHead();
    EXPECT_TRUE(head.has_value()) << "no answer to the upgrade";
    if (!head.has_value()) return "";
    EXPECT_THAT(*head, StartsWith("HTTP/1.1 101 ")) << *head;
    return *head;
  }

  static std::optional<Received> ReadMessage(RawWsClient& socket) {
    std::optional<ServerFrame> frame = socket.ReadDataFrame(absl::Seconds(10));
    if (!frame.has_value()) return std::nullopt;
    EXPECT_TRUE(frame->fin);
    EXPECT_FALSE(frame->masked);
    EXPECT_EQ(frame->rsv & ~kRsv1, 0);
    Received received;
    received.binary = frame->opcode == kBinary;
    received.rsv1 = (frame->rsv & kRsv1) != 0;
    if (received.rsv1) {
      std::optional<std::string> inflated = InflateMessage(frame->payload);
      EXPECT_TRUE(inflated.has_value()) << "an RSV1 frame that does not inflate";
      received.bytes = inflated.value_or("");
    } else {
      received.bytes = std::move(frame->payload);
    }
    return received;
  }

  // The close code of the bridge's close frame, skipping data frames; 0 when none came.
  static uint16_t CloseCode(RawWsClient& socket) {
    while (std::optional<ServerFrame> frame = socket.ReadDataFrame(absl::Seconds(10))) {
      if (frame->opcode != kClose) continue;
      if (frame->payload.size() < 2) return 0;
      return static_cast<uint16_t>((static_cast<uint8_t>(frame->payload[0]) << 8) |
                                   static_cast<uint8_t>(frame->payload[1]));
    }
    return 0;
  }

  void Broadcast(const Sent& message) {
    v1::BroadcastRequest request;
    request.add_topics("news");
    if (message.binary) {
      request.mutable_message()->set_binary(message.bytes);
    } else {
      request.mutable_message()->set_text(message.bytes);
    }
    v1::BroadcastResponse response;
    ASSERT_TRUE(bridge_.api().Broadcast(CallContext().get(), request, &response).ok());
  }

  // Waits until `count` sessions are subscribed to "news" (the raw sockets' upgrades are done).
  void WaitForSubscribers(uint32_t count) {
    ASSERT_TRUE(Eventually([&] {
      v1::ListSessionsRequest request;
      request.set_topic("news");
      v1::ListSessionsResponse response;
      return bridge_.api().ListSessions(CallContext().get(), request, &response).ok() &&
             static_cast<uint32_t>(response.sessions_size()) == count;
    }));
  }

  // The message events of `session_id`, read until `count` arrived.
  std::vector<Sent> MessagesFrom(const std::string& session_id, size_t count) {
    std::vector<Sent> messages;
    reader_->ReadUntil([&](const std::vector<v1::Event>& events) {
      if (events.empty()) return false;
      const v1::Event& last = events.back();
      if (last.session_id() == session_id && last.has_message()) {
        const v1::Message& message = last.message().message();
        messages.push_back(message.has_binary() ? Sent{true, message.binary()}
                                                : Sent{false, message.text()});
      }
      return messages.size() >= count;
    });
    return messages;
  }

  TestBridge bridge_{[](Config& config) {
    config.session.max_message_bytes = kMaxMessageBytes;
    config.session.send_queue.max_bytes = 64 << 20;
    config.session.send_queue.max_messages = 4096;
    config.session.compression.min_bytes = kMinBytes;
  }};
  std::unique_ptr<EventsReader> reader_;
};

// ---- Negotiation over the wire ----

TEST_F(DeflateTest, TheUpgradeAnswersEachKindOfOffer) {
  struct Case {
    std::vector<std::string> offers;
    std::string answer;  // "" = no Sec-WebSocket-Extensions in the 101
  };
  const std::string answer = kAnswer;
  using Offers = std::vector<std::string>;
  const std::vector<Case> cases = {
      Case{Offers{}, ""},
      Case{Offers{"permessage-deflate"}, answer},
      Case{Offers{"permessage-deflate; client_max_window_bits"}, answer},
      Case{Offers{"permessage-deflate; server_max_window_bits=10"},
           answer + "; server_max_window_bits=10"},
      // Two header fields: the first offer is declined, the second accepted.
      Case{
          Offers{"permessage-deflate; bogus=1", "permessage-deflate; server_max_window_bits=\"9\""},
          answer + "; server_max_window_bits=9"},
      Case{Offers{"permessage-deflate; server_max_window_bits=16"}, ""},
      Case{Offers{"x-webkit-deflate-frame"}, ""},
  };
  for (const Case& c : cases) {
    RawWsClient socket(bridge_.ws_port());
    const std::string head = Upgrade(socket, c.offers);
    EXPECT_EQ(HeaderValue(head, "Sec-WebSocket-Extensions"), c.answer) << head;
  }
}

TEST(DeflateOffTest, CompressionFalseNeverNegotiates) {
  TestBridge bridge([](Config& config) { config.session.compression.enabled = false; });
  RawWsClient socket(bridge.ws_port());
  socket.Write(UpgradeRequestWithExtensions({"permessage-deflate"}));
  std::optional<std::string> head = socket.ReadHttpHead();
  ASSERT_TRUE(head.has_value());
  EXPECT_THAT(*head, StartsWith("HTTP/1.1 101 "));
  EXPECT_EQ(HeaderValue(*head, "Sec-WebSocket-Extensions"), "") << *head;
  // And a compressed frame is then a protocol error.
  socket.Write(ClientFrame(kText, DeflateMessage("hello"), Rsv1()));
  std::optional<ServerFrame> close = socket.ReadDataFrame();
  ASSERT_TRUE(close.has_value());
  ASSERT_EQ(close->opcode, kClose);
  EXPECT_EQ(close->payload.substr(0, 2), std::string("\x03\xea", 2));  // 1002
}

// ---- Bridge -> browser ----

TEST_F(DeflateTest, SessionsWithAndWithoutDeflateOnOneTopicGetTheExactBytes) {
  RawWsClient deflate(bridge_.ws_port());
  Upgrade(deflate, {"permessage-deflate; client_max_window_bits"});
  RawWsClient plain(bridge_.ws_port());
  Upgrade(plain, {});
  RawWsClient small_window(bridge_.ws_port());
  Upgrade(small_window, {"permessage-deflate; server_max_window_bits=9"});
  ASSERT_NO_FATAL_FAILURE(WaitForSubscribers(3));

  // Mixed sizes and types around the threshold and the 512-byte window.
  std::vector<Sent> sent;
  int seed = 0;
  for (const size_t size : {0u, 10u, 255u, 256u, 257u, 512u, 513u, 1000u, 5000u, 70000u, 300000u}) {
    sent.push_back({false, JsonLike(size, ++seed)});
    sent.push_back({true, JsonLike(size, ++seed)});
    sent.push_back({true, RandomBytes(size, static_cast<uint32_t>(++seed))});
  }
  for (const Sent& message : sent) ASSERT_NO_FATAL_FAILURE(Broadcast(message));

  for (size_t i = 0; i < sent.size(); ++i) {
    SCOPED_TRACE(::testing::Message()
                 << "message " << i << " of " << sent[i].bytes.size() << " bytes");
    const bool compressible = sent[i].bytes.size() >= kMinBytes && (i % 3) != 2;  // JSON
    std::optional<Received> got = ReadMessage(deflate);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->binary, sent[i].binary);
    EXPECT_TRUE(got->bytes == sent[i].bytes);
    EXPECT_EQ(got->rsv1, compressible);

    got = ReadMessage(plain);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->binary, sent[i].binary);
    EXPECT_TRUE(got->bytes == sent[i].bytes);
    EXPECT_FALSE(got->rsv1);

    // server_max_window_bits=9: compressed only up to 512 bytes.
    got = ReadMessage(small_window);
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(got->bytes == sent[i].bytes);
    EXPECT_EQ(got->rsv1, compressible && sent[i].bytes.size() <= 512);
  }
}

TEST_F(DeflateTest, ACompressedFrameIsSmallerOnTheWire) {
  RawWsClient deflate(bridge_.ws_port());
  Upgrade(deflate, {"permessage-deflate"});
  ASSERT_NO_FATAL_FAILURE(WaitForSubscribers(1));
  const std::string json = JsonLike(1024, 7);
  ASSERT_NO_FATAL_FAILURE(Broadcast({false, json}));
  std::optional<ServerFrame> frame = deflate.ReadDataFrame();
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->rsv, kRsv1);
  EXPECT_LT(frame->payload.size(), json.size() / 2);
}

// ---- Browser -> bridge ----

TEST_F(DeflateTest, CompressedMessagesFromTheBrowserArriveAsEventsWithTheExactBytes) {
  RawWsClient socket(bridge_.ws_port());
  const std::string head = Upgrade(socket, {"permessage-deflate"});
  const std::string id = HeaderValue(head, "X-Wsbridge-Session-Id");
  std::vector<Sent> sent = {
      {false, "short"},
      {false, JsonLike(3000, 1)},
      {true, RandomBytes(4000, 2)},
      {true, JsonLike(200000, 3)},
      {false, "\xC3\xA9t\xC3\xA9 " + std::string(300, 'e')},
  };
  std::string bytes;
  for (size_t i = 0; i < sent.size(); ++i) {
    const uint8_t opcode = sent[i].binary ? kBinary : kText;
    if (i == 3) {  // fragmented: RSV1 on the first frame only
      const std::string compressed = DeflateMessage(sent[i].bytes);
      ClientFrameOptions first = NotFinal();
      first.rsv = kRsv1;
      bytes += ClientFrame(opcode, compressed.substr(0, 100), first);
      bytes += ClientFrame(kContinuation, compressed.substr(100));
    } else {
      bytes += ClientFrame(opcode, DeflateMessage(sent[i].bytes, /*final_block=*/i == 1), Rsv1());
    }
  }
  bytes += ClientFrame(kText, "uncompressed");  // RSV1 clear is always allowed
  sent.push_back({false, "uncompressed"});
  socket.Write(bytes);

  const std::vector<Sent> got = MessagesFrom(id, sent.size());
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(got[i].binary, sent[i].binary) << i;
    EXPECT_TRUE(got[i].bytes == sent[i].bytes) << i;
  }
}

TEST_F(DeflateTest, AZipBombIsClosedWith1009) {
  RawWsClient socket(bridge_.ws_port());
  Upgrade(socket, {"permessage-deflate"});
  const std::string bomb = DeflateMessage(std::string(10 << 20, '\0'));
  ASSERT_LT(bomb.size(), 20u << 10);
  socket.Write(ClientFrame(kBinary, bomb, Rsv1()));
  EXPECT_EQ(CloseCode(socket), 1009);
}

TEST_F(DeflateTest, CorruptDeflateDataIsClosedWith1002) {
  RawWsClient socket(bridge_.ws_port());
  Upgrade(socket, {"permessage-deflate"});
  socket.Write(ClientFrame(kText, std::string("\xff\xff\xff\xff", 4), Rsv1()));
  EXPECT_EQ(CloseCode(socket), 1002);
}

TEST_F(DeflateTest, InflatedTextThatIsNotUtf8IsClosedWith1007) {
  RawWsClient socket(bridge_.ws_port());
  Upgrade(socket, {"permessage-deflate"});
  socket.Write(ClientFrame(kText, DeflateMessage("bad \xFF utf-8"), Rsv1()));
  EXPECT_EQ(CloseCode(socket), 1007);
}

TEST_F(DeflateTest, Rsv1OnAPingIsClosedWith1002) {
  RawWsClient socket(bridge_.ws_port());
  Upgrade(socket, {"permessage-deflate"});
  socket.Write(ClientFrame(kPing, "", Rsv1()));
  EXPECT_EQ(CloseCode(socket), 1002);
}

TEST_F(DeflateTest, Rsv1WithoutNegotiationIsClosedWith1002) {
  RawWsClient socket(bridge_.ws_port());
  Upgrade(socket, {});
  socket.Write(ClientFrame(kText, DeflateMessage("hello"), Rsv1()));
  EXPECT_EQ(CloseCode(socket), 1002);
}

// ---- An independent peer ----

TEST_F(DeflateTest, BeastWithPermessageDeflateTalksToTheBridgeBothWays) {
  HttpAnswer answer;
  std::unique_ptr<WsClient> browser =
      WsClient::Connect(bridge_.ws_port(), "/ws?topics=news", {}, &answer, /*start_reading=*/true,
                        /*offer_deflate=*/true);
  ASSERT_TRUE(browser) << answer.status << " " << answer.body;
  EXPECT_THAT(answer.extensions, StartsWith("permessage-deflate"));
  ASSERT_NO_FATAL_FAILURE(WaitForSubscribers(1));

  std::vector<Sent> sent = {{false, JsonLike(100, 1)},
                            {false, JsonLike(5000, 2)},
                            {true, RandomBytes(3000, 3)},
                            {true, JsonLike(100000, 4)}};
  for (const Sent& message : sent) ASSERT_NO_FATAL_FAILURE(Broadcast(message));
  for (const Sent& message : sent) {
    std::optional<WsMessage> got = browser->NextMessage(absl::Seconds(10));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->binary, message.binary);
    EXPECT_TRUE(got->data == message.bytes);
  }

  // Beast compresses what it sends (msg_size_threshold 0).
  browser->SendText(JsonLike(4000, 5));
  browser->SendBinary(JsonLike(50, 6));
  const std::vector<Sent> events = MessagesFrom(answer.session_id, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].bytes == JsonLike(4000, 5));
  EXPECT_FALSE(events[0].binary);
  EXPECT_TRUE(events[1].bytes == JsonLike(50, 6));
  EXPECT_TRUE(events[1].binary);
}

}  // namespace
}  // namespace wsbridge::testing
