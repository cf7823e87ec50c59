// The bridge's own RFC 6455 server side, spoken to by hand over a raw TCP socket: the upgrade
// answers, frames pipelined behind the request, ping/pong, fragmentation, the close handshake,
// protocol failures, and the exact frames of pushed messages, also to a reader that stalls.
#include <algorithm>
#include <array>
#include <cctype>
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

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "support/events_reader.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

namespace asio = boost::asio;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint8_t kText = 0x1;
constexpr uint8_t kBinary = 0x2;
constexpr uint8_t kContinuation = 0x0;
constexpr uint8_t kClose = 0x8;
constexpr uint8_t kPing = 0x9;
constexpr uint8_t kPong = 0xA;

// The key of the RFC 6455 example handshake (section 1.3) and its accept value.
constexpr char kRfcKey[] = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr char kRfcAccept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// An upgrade request for /ws (anonymous). `key` and `version` empty leave the header out.
std::string UpgradeRequest(std::string_view key = kRfcKey, std::string_view version = "13",
                           std::string_view target = "/ws") {
  std::string request = "GET " + std::string(target) +
                        " HTTP/1.1\r\n"
                        "Host: 127.0.0.1\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n";
  if (!key.empty()) request += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
  if (!version.empty()) request += "Sec-WebSocket-Version: " + std::string(version) + "\r\n";
  return request + "\r\n";
}

struct FrameOptions {
  bool fin = true;
  bool masked = true;
  std::array<uint8_t, 4> mask = {0x5A, 0x01, 0xC3, 0x7E};
};

// A client frame as a browser sends it: masked (unless told otherwise), shortest length form.
std::string ClientFrame(uint8_t opcode, std::string_view payload, FrameOptions options = {}) {
  std::string out;
  out.push_back(static_cast<char>((options.fin ? 0x80 : 0) | opcode));
  const uint8_t mask_bit = options.masked ? 0x80 : 0;
  const uint64_t length = payload.size();
  if (length < 126) {
    out.push_back(static_cast<char>(mask_bit | length));
  } else if (length <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(length >> 8));
    out.push_back(static_cast<char>(length));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(length >> (8 * i)));
  }
  if (options.masked) out.append(reinterpret_cast<const char*>(options.mask.data()), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    const uint8_t mask = options.masked ? options.mask[i & 3] : 0;
    out.push_back(static_cast<char>(static_cast<uint8_t>(payload[i]) ^ mask));
  }
  return out;
}

std::string CloseBody(uint16_t code, std::string_view reason) {
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xFF));
  body.append(reason);
  return body;
}

struct ServerFrame {
  bool fin = false;
  uint8_t rsv = 0;
  bool masked = false;
  uint8_t opcode = 0;
  size_t header_size = 0;
  std::string payload;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// The value of header `name` in an HTTP head ("" when absent); names compare case-insensitively.
std::string HeaderValue(std::string_view head, std::string_view name) {
  size_t start = 0;
  while (start < head.size()) {
    size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(start, end - start);
    start = end + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !EqualsIgnoreCase(line.substr(0, colon), name)) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    return std::string(value);
  }
  return "";
}

// One TCP connection to the bridge, driven byte by byte. Every read has a deadline, so a missing
// answer fails the test instead of hanging it.
//
// Thread-safety: one thread.
class RawSocket {
 public:
  // `receive_buffer_bytes` > 0 shrinks the kernel's receive buffer, so a peer that does not read
  // pushes back on the bridge sooner.
  explicit RawSocket(uint16_t port, int receive_buffer_bytes = 0) {
    socket_.open(asio::ip::tcp::v4());
    if (receive_buffer_bytes > 0) {
      socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer_bytes));
    }
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  void Write(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  void Close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  // The HTTP response head up to and including its blank line; what follows stays buffered for
  // ReadFrame. nullopt when the head does not arrive in time.
  std::optional<std::string> ReadHttpHead(absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + timeout;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(deadline)) return std::nullopt;
    }
    std::string head = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    return head;
  }

  // The next frame from the bridge, or nullopt if the connection ends or nothing whole arrives
  // in time.
  std::optional<ServerFrame> ReadFrame(absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + timeout;
    if (!Fill(2, deadline)) return std::nullopt;
    ServerFrame frame;
    const auto byte = [this](size_t i) { return static_cast<uint8_t>(buffer_[i]); };
    frame.fin = (byte(0) & 0x80) != 0;
    frame.rsv = static_cast<uint8_t>((byte(0) >> 4) & 7);
    frame.opcode = byte(0) & 0x0F;
    frame.masked = (byte(1) & 0x80) != 0;
    const uint8_t length7 = byte(1) & 0x7F;
    frame.header_size = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + (frame.masked ? 4 : 0);
    if (!Fill(frame.header_size, deadline)) return std::nullopt;
    uint64_t length = length7;
    if (length7 >= 126) {
      length = 0;
      const size_t bytes = length7 == 126 ? 2 : 8;
      for (size_t i = 0; i < bytes; ++i) length = (length << 8) | byte(2 + i);
    }
    if (!Fill(frame.header_size + length, deadline)) return std::nullopt;
    frame.payload = buffer_.substr(frame.header_size, length);
    buffer_.erase(0, frame.header_size + length);
    return frame;
  }

  // The next text, binary or close frame, answering nothing and skipping the bridge's pings.
  std::optional<ServerFrame> ReadDataFrame(absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      auto frame = ReadFrame(deadline - absl::Now());
      if (!frame || frame->opcode != kPing) return frame;
    }
  }

  // Reads until the bridge closes the connection; returns every byte not taken yet, or nullopt
  // if the connection is still open at the timeout.
  std::optional<std::string> ReadToEnd(absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!ended_) {
      if (!ReadMore(deadline) && !ended_) return std::nullopt;
    }
    return std::exchange(buffer_, {});
  }

 private:
  bool Fill(size_t bytes, absl::Time deadline) {
    while (buffer_.size() < bytes) {
      if (!ReadMore(deadline)) return false;
    }
    return true;
  }

  // One read of whatever is available, waiting at most until `deadline`. False when nothing
  // arrived: the connection ended (ended_), failed, or the deadline passed.
  bool ReadMore(absl::Time deadline) {
    if (ended_) return false;
    std::array<char, 64 * 1024> chunk;
    boost::system::error_code result;
    size_t received = 0;
    bool done = false;
    socket_.async_read_some(asio::buffer(chunk), [&](boost::system::error_code ec, size_t bytes) {
      result = ec;
      received = bytes;
      done = true;
    });
    io_.restart();
    io_.run_for(absl::ToChronoNanoseconds(std::max(deadline - absl::Now(), absl::Milliseconds(1))));
    if (!done) {
      socket_.cancel();
      io_.restart();
      io_.run();  // completes the read: cancelled, or done just in time
    }
    buffer_.append(chunk.data(), received);
    if (result && result != asio::error::operation_aborted) ended_ = true;
    return received > 0;
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_{io_};
  std::string buffer_;
  bool ended_ = false;  // end of stream, reset, or another error
};

class WsProtocolTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kQueueBytes = 16 << 20;

  void SetUp() override {
    reader_ = std::make_unique<EventsReader>(bridge_.api(), v1::EventsRequest());
    ASSERT_TRUE(Eventually([&] { return bridge_.server().events().subscription_count() == 1; }));
  }

  // Sends the upgrade request, with `behind` in the same write, and returns the session id from
  // the 101 (empty, with a test failure, when there is no 101).
  std::string Upgrade(RawSocket& socket, std::string_view behind = "",
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
  RawSocket socket(bridge_.ws_port());
  socket.Write(UpgradeRequest(kRfcKey, "8"));
  auto answer = socket.ReadToEnd();
  ASSERT_TRUE(answer.has_value()) << "the bridge did not close after refusing";
  EXPECT_THAT(*answer, StartsWith("HTTP/1.1 426"));
  EXPECT_EQ(HeaderValue(*answer, "Sec-WebSocket-Version"), "13") << *answer;
  ExpectStillServing();
}

TEST_F(WsProtocolTest, MissingVersionGets426) {
  RawSocket socket(bridge_.ws_port());
  socket.Write(UpgradeRequest(kRfcKey, ""));
  auto answer = socket.ReadToEnd();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(*answer, StartsWith("HTTP/1.1 426"));
  EXPECT_EQ(HeaderValue(*answer, "Sec-WebSocket-Version"), "13") << *answer;
}

TEST_F(WsProtocolTest, MissingKeyGets400) {
  RawSocket socket(bridge_.ws_port());
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
    RawSocket socket(bridge_.ws_port());
    socket.Write(UpgradeRequest(key));
    auto answer = socket.ReadToEnd();
    ASSERT_TRUE(answer.has_value()) << key;
    EXPECT_THAT(*answer, StartsWith("HTTP/1.1 400")) << key;
  }
  ExpectStillServing();
}

TEST_F(WsProtocolTest, UpgradeAnswersWithTheAcceptKeyAndTheSessionId) {
  RawSocket socket(bridge_.ws_port());
  socket.Write(UpgradeRequest(kRfcKey));
  auto head = socket.ReadHttpHead();
  ASSERT_TRUE(head.has_value());
  EXPECT_THAT(*head, StartsWith("HTTP/1.1 101 Switching Protocols\r\n"));
  EXPECT_EQ(HeaderValue(*head, "Sec-WebSocket-Accept"), kRfcAccept);
  EXPECT_TRUE(EqualsIgnoreCase(HeaderValue(*head, "Upgrade"), "websocket")) << *head;
  EXPECT_TRUE(EqualsIgnoreCase(HeaderValue(*head, "Connection"), "Upgrade")) << *head;
  EXPECT_EQ(HeaderValue(*head, "Server"), "wsbridge");
  const std::string id = HeaderValue(*head, "X-Wsbridge-Session-Id");
  ASSERT_FALSE(id.empty()) << *head;
  // The id names the session the service sees.
  v1::GetSessionRequest request;
  request.set_session_id(id);
  v1::Session session;
  EXPECT_TRUE(bridge_.api().GetSession(CallContext().get(), request, &session).ok());

  // Another key (the one of the Wikipedia example), another accept value.
  RawSocket other(bridge_.ws_port());
  other.Write(UpgradeRequest("x3JJHMbDL1EzLkh9GBhXDw=="));
  auto other_head = other.ReadHttpHead();
  ASSERT_TRUE(other_head.has_value());
  EXPECT_EQ(HeaderValue(*other_head, "Sec-WebSocket-Accept"), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  EXPECT_NE(HeaderValue(*other_head, "X-Wsbridge-Session-Id"), id);
}

TEST_F(WsProtocolTest, FramesSentWithTheUpgradeRequestAreHandled) {
  RawSocket socket(bridge_.ws_port());
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
  RawSocket socket(bridge_.ws_port());
  const std::string split = ClientFrame(kText, "split across reads");
  const std::string id = Upgrade(socket, ClientFrame(kText, "first") + split.substr(0, 9));
  ASSERT_FALSE(id.empty());
  absl::SleepFor(absl::Milliseconds(20));
  socket.Write(split.substr(9));
  EXPECT_THAT(MessagesOf(id, 2), ElementsAre("first", "split across reads"));
}

TEST_F(WsProtocolTest, CloseFrameSentWithTheUpgradeRequestIsEchoed) {
  RawSocket socket(bridge_.ws_port());
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
  RawSocket socket(bridge_.ws_port());
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
  RawSocket socket(bridge_.ws_port());
  const std::string id = Upgrade(socket);
  ASSERT_FALSE(id.empty());
  FrameOptions more;
  more.fin = false;
  // Separate writes with pauses, so the fragments (and a ping between them) come in separate
  // reads; the last fragment splits a multi-byte character with the one before it.
  socket.Write(ClientFrame(kText, "Hello, ", more));
  absl::SleepFor(absl::Milliseconds(20));
  socket.Write(ClientFrame(kContinuation, "fragmented w\xC3", more));
  absl::SleepFor(absl::Milliseconds(20));
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
  RawSocket socket(bridge_.ws_port());
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
  RawSocket socket(bridge_.ws_port());
  const std::string id = Upgrade(socket);
  ASSERT_FALSE(id.empty());
  FrameOptions unmasked;
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
  RawSocket socket(bridge_.ws_port());
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
  RawSocket socket(bridge_.ws_port());
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
  RawSocket socket(bridge_.ws_port(), /*receive_buffer_bytes=*/8 * 1024);
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
  std::cout << "[ info     ] pushed " << sent.size() << " messages, " << total << " bytes; "
            << queued_bytes() << " bytes queued in the bridge\n";
  absl::SleepFor(absl::Milliseconds(200));

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
