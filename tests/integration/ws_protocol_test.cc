// The bridge's own RFC 6455 server side, spoken to by hand over a raw TCP socket: the upgrade
// answers, frames pipelined behind the request, ping/pong, fragmentation, the close handshake,
// protocol failures, and the exact frames of pushed messages, also to a reader that stalls.
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "support/events_reader.h"
#include "support/raw_frames.h"
#include "support/raw_ws_client.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class WsProtocolTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kQueueBytes = 16 << 20;

  void SetUp() override {
    reader_ = std::make_unique<EventsReader>(bridge_.api(), v1::EventsRequest());
    ASSERT_TRUE(Eventually([&] { return bridge_.server().events().subscription_count() == 1; }));
  }

  // Sends the upgrade request, with `behind` in the same write, and returns the session id from
  // the 101 (empty, with a test failure, when there is no 101).
  std::string Upgrade(RawWsClient& socket, std::string_view behind = "",
                      std::string_view target = "/ws") {
    socket.Write(UpgradeRequest(kRfcKey, "13", target) + std::string(behind));
    auto head = socket.ReadHttpHead();
    EXPECT_TRUE(head.has_value()) << "no HTTP answer to the upgrade";
    if (!head) return "";
    EXPECT_THAT(*head, StartsWith("HTTP/1.1 101 ")) << *head;
    std::string id = HeaderValue(*head, "X-Wsbridge-Session-Id");
    EXPECT_FALSE(id.empty()) << *head;
    return id;
  }

  // Events of `session_id`, read until `done` holds for them (or 10 s pass).
  std::vector<v1::Event> EventsOfUntil(
      const std::string& session_id,
      const std::function<bool(const std::vector<v1::Event>&)>& done) {
    std::vector<v1::Event> mine;
    reader_->ReadUntil([&](const std::vector<v1::Event>& events) {
      if (!events.empty() && events.back().session_id() == session_id) {
        mine.push_back(events.back());
      }
      return done(mine);
    });
    return mine;
  }

  static bool HasClosed(const std::vector<v1::Event>& events) {
    return !events.empty() && events.back().has_closed();
  }

  static std::vector<std::string> TextsOf(const std::vector<v1::Event>& events) {
    std::vector<std::string> texts;
    for (const v1::Event& event : events) {
      if (event.has_message()) texts.push_back(event.message().message().text());
    }
    return texts;
  }

  // Texts of the session's message events, read until `count` have arrived.
  std::vector<std::string> MessagesOf(const std::string& session_id, size_t count) {
    return TextsOf(EventsOfUntil(session_id, [&](const std::vector<v1::Event>& events) {
      return TextsOf(events).size() >= count;
    }));
  }

  // A new browser can connect and receives a Push: the bridge is still serving.
  void ExpectStillServing() {
    auto browser = bridge_.ConnectAnonymous();
    ASSERT_TRUE(browser) << "a normal browser can no longer connect";
    v1::PushRequest push;
    push.add_session_ids(browser->session_id());
    push.mutable_message()->set_text("still here");
    v1::PushResponse response;
    ASSERT_TRUE(bridge_.api().Push(CallContext().get(), push, &response).ok());
    auto message = browser->NextMessage();
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->data, "still here");
  }

  void Push(const std::string& session_id, bool binary, std::string bytes) {
    v1::PushRequest push;
    push.add_session_ids(session_id);
    if (binary) {
      push.mutable_message()->set_binary(std::move(bytes));
    } else {
      push.mutable_message()->set_text(std::move(bytes));
    }
    v1::PushResponse response;
    ASSERT_TRUE(bridge_.api().Push(CallContext().get(), push, &response).ok());
    ASSERT_EQ(response.queued(), 1u);
  }

  TestBridge bridge_{[](Config& config) {
    config.session.send_queue.max_bytes = kQueueBytes;
    config.session.send_queue.max_messages = 4096;
  }};
  std::unique_ptr<EventsReader> reader_;
};

// ---- The upgrade ----

TEST_F(WsProtocolTest, VersionOtherThan13Gets426NamingVersion13) {
  RawWsClient socket(bridge_.ws_port());
  socket.Write(UpgradeRequest(kRfcKey, "8"));
  auto answer = socket.ReadToEnd();
  ASSERT_TRUE(answer.has_value()) << "the bridge did not close after refusing";
  EXPECT_THAT(*answer, StartsWith("HTTP/1.1 426"));
  EXPECT_EQ(HeaderValue(*answer, "Sec-WebSocket-Version"), "13") << *answer;
  ExpectStillServing();
}

TEST_F(WsProtocolTest, MissingVersionGets426) {
  RawWsClient socket(bridge_.ws_port());
  socket.Write(UpgradeRequest(kRfcKey, ""));
  auto answer = socket.ReadToEnd();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(*answer, StartsWith("HTTP/1.1 426"));
  EXPECT_EQ(HeaderValue(*answer, "Sec-WebSocket-Version"), "13") << *answer;
}

TEST_F(WsProtocolTest, MissingKeyGets400) {
  RawWsClient socket(bridge_.ws_port());
  socket.Write(UpgradeRequest(""));
  auto answer = socket.ReadToEnd();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(*answer, StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(*answer, HasSubstr("Sec-WebSocket-Key"));
  ExpectStillServing();
}

TEST_F(WsProtocolTest, MalformedKeyGets400) {
  for (const std::string_view key :
       {"not-base64!", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQAA", "c2hvcnQ="}) {
    RawWsClient socket(bridge_.ws_port());
    socket.Write(UpgradeRequest(key));
    auto answer = socket.ReadToEnd();
    ASSERT_TRUE(answer.has_value()) << key;
    EXPECT_THAT(*answer, StartsWith("HTTP/1.1 400")) << key;
  }
  ExpectStillServing();
}

TEST_F(WsProtocolTest, UpgradeAnswersWithTheAcceptKeyAndTheSessionId) {
  RawWsClient socket(bridge_.ws_port());
  socket.Write(UpgradeRequest(kRfcKey));
  auto head = socket.ReadHttpHead();
  ASSERT_TRUE(head.has_value());
  EXPECT_THAT(*head, StartsWith("HTTP/1.1 101 Switching Protocols\r\n"));
  EXPECT_EQ(HeaderValue(*head, "Sec-WebSocket-Accept"), kRfcAccept);
  EXPECT_TRUE(absl::EqualsIgnoreCase(HeaderValue(*head, "Upgrade"), "websocket")) << *head;
  EXPECT_TRUE(absl::EqualsIgnoreCase(HeaderValue(*head, "Connection"), "Upgrade")) << *head;
  EXPECT_EQ(HeaderValue(*head, "Server"), "wsbridge");
  const std::string id = HeaderValue(*head, "X-Wsbridge-Session-Id");
  ASSERT_FALSE(id.empty()) << *head;
  // The id names the session the service sees.
  v1::GetSessionRequest request;
  request.set_session_id(id);
  v1::Session session;
  EXPECT_TRUE(bridge_.api().GetSession(CallContext().get(), request, &session).ok());

  // Another key (the one of the Wikipedia example), another accept value.
  RawWsClient other(bridge_.ws_port());
  other.Write(UpgradeRequest("x3JJHMbDL1EzLkh9GBhXDw=="));
  auto other_head = other.ReadHttpHead();
  ASSERT_TRUE(other_head.has_value());
  EXPECT_EQ(HeaderValue(*other_head, "Sec-WebSocket-Accept"), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  EXPECT_NE(HeaderValue(*other_head, "X-Wsbridge-Session-Id"), id);
}

TEST_F(WsProtocolTest, FramesSentWithTheUpgradeRequestAreHandled) {
  RawWsClient socket(bridge_.ws_port());
  // The request, a text frame and a ping in one write: the frames arrive in the bridge's read of
  // the request.
  const std::string id =
      Upgrade(socket, ClientFrame(kText, "early bird") + ClientFrame(kPing, "early ping"));
  ASSERT_FALSE(id.empty());
  auto pong = socket.ReadFrame();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->opcode, kPong);
  EXPECT_EQ(pong->payload, "early ping");
  EXPECT_THAT(MessagesOf(id, 1), ElementsAre("early bird"));
}

TEST_F(WsProtocolTest, FrameSplitBetweenTheUpgradeWriteAndTheNextIsJoined) {
  RawWsClient socket(bridge_.ws_port());
  const std::string split = ClientFrame(kText, "split across reads");
  const std::string id = Upgrade(socket, ClientFrame(kText, "first") + split.substr(0, 9));
  ASSERT_FALSE(id.empty());
  // The 101 is the bridge's answer to its read of the request, which took the bytes behind it
  // from the same write too: the rest of the frame, written only now, comes in a later read.
  socket.Write(split.substr(9));
  EXPECT_THAT(MessagesOf(id, 2), ElementsAre("first", "split across reads"));
}

TEST_F(WsProtocolTest, CloseFrameSentWithTheUpgradeRequestIsEchoed) {
  RawWsClient socket(bridge_.ws_port());
  const std::string id = Upgrade(socket, ClientFrame(kClose, CloseBody(1000, "just looking")));
  ASSERT_FALSE(id.empty());
  auto close = socket.ReadDataFrame();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, kClose);
  EXPECT_EQ(close->payload.substr(0, 2), CloseBody(1000, ""));
  auto rest = socket.ReadToEnd();
  ASSERT_TRUE(rest.has_value()) << "the bridge kept the connection open";
  EXPECT_EQ(*rest, "");
  auto events = EventsOfUntil(id, HasClosed);
  ASSERT_TRUE(HasClosed(events));
  EXPECT_EQ(events.back().closed().initiator(), v1::INITIATOR_CLIENT);
  EXPECT_EQ(events.back().closed().code(), 1000u);
  EXPECT_EQ(events.back().closed().reason(), "just looking");
}

// ---- Control frames and fragmentation ----

TEST_F(WsProtocolTest, PingIsAnsweredWithAPongCarryingItsPayload) {
  RawWsClient socket(bridge_.ws_port());
  ASSERT_FALSE(Upgrade(socket).empty());
  socket.Write(ClientFrame(kPing, "abc"));
  auto pong = socket.ReadFrame();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->opcode, kPong);
  EXPECT_TRUE(pong->fin);
  EXPECT_FALSE(pong->masked);
  EXPECT_EQ(pong->payload, "abc");
  // An empty ping too.
  socket.Write(ClientFrame(kPing, ""));
  pong = socket.ReadFrame();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->opcode, kPong);
  EXPECT_EQ(pong->payload, "");
}

TEST_F(WsProtocolTest, FragmentedTextArrivesAsOneMessageEvent) {
  RawWsClient socket(bridge_.ws_port());
  const std::string id = Upgrade(socket);
  ASSERT_FALSE(id.empty());
  ClientFrameOptions more;
  more.fin = false;
  // Each fragment (and a ping between them) in a read of its own: the bridge has handled what
  // came before each write. The last fragment splits a multi-byte character with the one before.
  socket.Write(ClientFrame(kText, "Hello, ", more));
  ASSERT_TRUE(socket.WaitUntilConsumed());
  socket.Write(ClientFrame(kContinuation, "fragmented w\xC3", more));
  ASSERT_TRUE(socket.WaitUntilConsumed());
  socket.Write(ClientFrame(kPing, "between"));
  auto pong = socket.ReadFrame();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->opcode, kPong);
  EXPECT_EQ(pong->payload, "between");
  socket.Write(ClientFrame(kContinuation, "\xB6rld"));
  socket.Write(ClientFrame(kText, "after"));
  EXPECT_THAT(MessagesOf(id, 2), ElementsAre("Hello, fragmented w\xC3\xB6rld", "after"));
}

// ---- Closing ----

TEST_F(WsProtocolTest, ClientCloseIsEchoedThenTheConnectionClosed) {
  RawWsClient socket(bridge_.ws_port());
  const std::string id = Upgrade(socket);
  ASSERT_FALSE(id.empty());
  socket.Write(ClientFrame(kClose, CloseBody(4001, "bye")));
  auto close = socket.ReadDataFrame();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, kClose);
  EXPECT_TRUE(close->fin);
  ASSERT_GE(close->payload.size(), 2u);
  EXPECT_EQ(close->payload.substr(0, 2), CloseBody(4001, ""));
  // Then the bridge closes the TCP connection, with nothing after its close frame.
  auto rest = socket.ReadToEnd();
  ASSERT_TRUE(rest.has_value()) << "the bridge kept the connection open";
  EXPECT_EQ(*rest, "");

  auto events = EventsOfUntil(id, HasClosed);
  ASSERT_TRUE(HasClosed(events));
  const v1::SessionClosed& closed = events.back().closed();
  EXPECT_EQ(closed.initiator(), v1::INITIATOR_CLIENT);
  EXPECT_EQ(closed.code(), 4001u);
  EXPECT_EQ(closed.reason(), "bye");
  for (const v1::Event& event : events) EXPECT_FALSE(event.has_error()) << event.DebugString();
}

TEST_F(WsProtocolTest, UnmaskedFrameFailsTheConnectionWith1002) {
  auto bystander = bridge_.ConnectAnonymous();
  ASSERT_TRUE(bystander);
  RawWsClient socket(bridge_.ws_port());
  const std::string id = Upgrade(socket);
  ASSERT_FALSE(id.empty());
  ClientFrameOptions unmasked;
  unmasked.masked = false;
  socket.Write(ClientFrame(kText, "not masked", unmasked));
  auto close = socket.ReadDataFrame();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, kClose);
  ASSERT_GE(close->payload.size(), 2u);
  EXPECT_EQ(close->payload.substr(0, 2), CloseBody(1002, ""));
  // The bridge stops sending; it reads on only until the browser closes too.
  auto rest = socket.ReadToEnd();
  ASSERT_TRUE(rest.has_value()) << "the bridge did not shut down its side";
  EXPECT_EQ(*rest, "");
  socket.Close();

  auto events = EventsOfUntil(id, HasClosed);
  ASSERT_TRUE(HasClosed(events));
  std::vector<v1::ErrorCode> errors;
  for (const v1::Event& event : events) {
    if (event.has_error()) errors.push_back(event.error().code());
    EXPECT_FALSE(event.has_message()) << "the unmasked frame was forwarded";
  }
  EXPECT_THAT(errors, ElementsAre(v1::ERROR_CODE_PROTOCOL_ERROR));
  const v1::SessionClosed& closed = events.back().closed();
  EXPECT_EQ(closed.initiator(), v1::INITIATOR_SERVER);
  EXPECT_EQ(closed.code(), 1002u);

  // The bystander is still served, and so is a new browser.
  v1::PushRequest push;
  push.add_session_ids(bystander->session_id());
  push.mutable_message()->set_text("bystander");
  v1::PushResponse response;
  ASSERT_TRUE(bridge_.api().Push(CallContext().get(), push, &response).ok());
  auto message = bystander->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data, "bystander");
  ExpectStillServing();
}

// ---- What the bridge sends ----

struct Expected {
  bool binary;
  std::string bytes;
};

// Message `i` of a sequence: text and binary alternate, sizes cover every length form.
Expected NthMessage(int i) {
  switch (i) {
    case 10:
      return {false, ""};
    case 20:
      return {true, std::string(125, '\x7D')};
    case 30:
      return {false, std::string(126, 'm')};
    case 40:
      return {true, std::string(65535, '\xA5')};
    case 50: {
      std::string bytes(70000, '\0');  // 64-bit length
      for (size_t j = 0; j < bytes.size(); ++j) bytes[j] = static_cast<char>((j * 31 + 7) & 0xFF);
      return {true, bytes};
    }
    case 60:
      return {false, std::string(65536, 't')};
    case 100: {
      std::string text;  // 200 bytes of UTF-8: 16-bit length
      while (text.size() < 200)
        text +=
            "\xC3\xA9"
            "abc";
      return {false, text};
    }
    default:
      break;
  }
  if (i % 2 == 0) return {false, "message " + std::to_string(i)};
  std::string bytes("\x00\xFF", 2);
  bytes += std::to_string(i);
  return {true, bytes};
}

void ExpectFrame(const std::optional<ServerFrame>& frame, const Expected& expected, int i) {
  ASSERT_TRUE(frame.has_value()) << "message " << i << " did not arrive";
  EXPECT_TRUE(frame->fin) << i;
  EXPECT_EQ(frame->rsv, 0) << i;
  EXPECT_FALSE(frame->masked) << i;
  ASSERT_EQ(frame->opcode, expected.binary ? kBinary : kText) << i;
  ASSERT_EQ(frame->payload.size(), expected.bytes.size()) << i;
  ASSERT_TRUE(frame->payload == expected.bytes) << "payload of message " << i << " differs";
  const size_t size = expected.bytes.size();
  const size_t header = size < 126 ? 2 : size <= 0xFFFF ? 4 : 10;
  EXPECT_EQ(frame->header_size, header) << i;
}

TEST_F(WsProtocolTest, BackToBackBroadcastsArriveInOrderAsExactFrames) {
  RawWsClient socket(bridge_.ws_port());
  const std::string id = Upgrade(socket, "", "/ws?topics=news");
  ASSERT_FALSE(id.empty());
  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages; ++i) {
    Expected expected = NthMessage(i);
    v1::BroadcastRequest request;
    request.add_topics("news");
    if (expected.binary) {
      request.mutable_message()->set_binary(std::move(expected.bytes));
    } else {
      request.mutable_message()->set_text(std::move(expected.bytes));
    }
    v1::BroadcastResponse response;
    ASSERT_TRUE(bridge_.api().Broadcast(CallContext().get(), request, &response).ok());
    ASSERT_EQ(response.queued(), 1u) << i;
  }
  for (int i = 0; i < kMessages; ++i) {
    ExpectFrame(socket.ReadDataFrame(), NthMessage(i), i);
    if (HasFatalFailure()) return;
  }
  // Nothing more.
  EXPECT_FALSE(socket.ReadDataFrame(absl::Milliseconds(200)).has_value());
}

TEST_F(WsProtocolTest, BackToBackPushStreamArrivesInOrderAsExactFrames) {
  RawWsClient socket(bridge_.ws_port());
  const std::string id = Upgrade(socket);
  ASSERT_FALSE(id.empty());
  constexpr int kMessages = 200;
  // Written without waiting for answers: messages pile up in the send queue and leave in
  // gathered writes of many frames.
  auto context = CallContext();
  auto stream = bridge_.api().PushStream(context.get());
  for (int i = 0; i < kMessages; ++i) {
    Expected expected = NthMessage(i);
    v1::PushRequest request;
    request.add_session_ids(id);
    if (expected.binary) {
      request.mutable_message()->set_binary(std::move(expected.bytes));
    } else {
      request.mutable_message()->set_text(std::move(expected.bytes));
    }
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::PushResponse response;
  int answered = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.queued(), 1u) << answered;
    ++answered;
  }
  const grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(answered, kMessages);
  for (int i = 0; i < kMessages; ++i) {
    ExpectFrame(socket.ReadDataFrame(), NthMessage(i), i);
    if (HasFatalFailure()) return;
  }
}

TEST_F(WsProtocolTest, StalledReaderGetsEverythingIntactOnceItReads) {
  // A small receive buffer: the bridge's writes fill the socket and stop part-way through frames.
  RawWsClient socket(bridge_.ws_port(), /*receive_buffer_bytes=*/8 * 1024);
  const std::string id = Upgrade(socket);
  ASSERT_FALSE(id.empty());
  v1::GetSessionRequest request;
  request.set_session_id(id);
  auto queued_bytes = [&]() -> uint64_t {
    v1::Session session;
    EXPECT_TRUE(bridge_.api().GetSession(CallContext().get(), request, &session).ok());
    return session.stats().queued_bytes();
  };
  // 2 MiB at least, and on until the bridge holds plenty the socket did not take (the kernel's
  // buffers absorb a few MiB first): it has had to stop writing, part-way through a frame most
  // likely, and must resume where it stopped once the socket drains.
  constexpr uint64_t kStalledBytes = 512 * 1024;
  std::vector<Expected> sent;
  size_t total = 0;
  for (int i = 0; total < (2u << 20) || queued_bytes() < kStalledBytes; ++i) {
    ASSERT_LT(total, kQueueBytes / 2) << "the socket took everything: nothing stalled";
    // Odd sizes, so frames end anywhere in a write.
    std::string bytes(32 * 1024 + static_cast<size_t>(i) * 13 % 997, '\0');
    for (size_t j = 0; j < bytes.size(); ++j) {
      bytes[j] = static_cast<char>('a' + (j + static_cast<size_t>(i)) % 26);
    }
    const bool binary = i % 3 == 1;
    if (binary) bytes[0] = static_cast<char>(i & 0xFF);
    total += bytes.size();
    sent.push_back({binary, bytes});
    ASSERT_NO_FATAL_FAILURE(Push(id, binary, std::move(bytes)));
  }
  // No pause needed before reading: the loop ended on the observable stall itself, the bridge
  // holding kStalledBytes that the kernel's buffers would not take.
  std::cout << "[ info     ] pushed " << sent.size() << " messages, " << total << " bytes; "
            << queued_bytes() << " bytes queued in the bridge\n";

  for (size_t i = 0; i < sent.size(); ++i) {
    ExpectFrame(socket.ReadDataFrame(absl::Seconds(10)), sent[i], static_cast<int>(i));
    if (HasFatalFailure()) return;
  }
  EXPECT_FALSE(socket.ReadDataFrame(absl::Milliseconds(200)).has_value());
  EXPECT_TRUE(Eventually([&] {
    v1::Session session;
    return bridge_.api().GetSession(CallContext().get(), request, &session).ok() &&
           session.stats().queued_bytes() == 0 && session.stats().messages_sent() == sent.size();
  })) << "the bridge's counters do not show every message sent";
  // Slow, but never a slow consumer: no error, still open.
  socket.Write(ClientFrame(kText, "done reading"));
  auto events = EventsOfUntil(id, [](const std::vector<v1::Event>& so_far) {
    return !so_far.empty() && so_far.back().has_message();
  });
  for (const v1::Event& event : events) {
    EXPECT_FALSE(event.has_error()) << event.DebugString();
    EXPECT_FALSE(event.has_closed()) << event.DebugString();
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().message().message().text(), "done reading");
}

}  // namespace
}  // namespace wsbridge::testing
