#include "support/raw_ws_client.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace wsbridge::testing {

namespace asio = boost::asio;

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::string UpgradeRequest(std::string_view key, std::string_view version,
                           std::string_view target) {
  std::string request = "GET " + std::string(target) +
                        " HTTP/1.1\r\n"
                        "Host: 127.0.0.1\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n";
  if (!key.empty()) request += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
  if (!version.empty()) request += "Sec-WebSocket-Version: " + std::string(version) + "\r\n";
  return request + "\r\n";
}

std::string UpgradeRequestWithExtensions(const std::vector<std::string>& extensions,
                                         std::string_view target) {
  std::string request = UpgradeRequest(kRfcKey, "13", target);
  request.resize(request.size() - 2);  // reopen the head
  for (const std::string& field : extensions) {
    request += "Sec-WebSocket-Extensions: " + std::string(field) + "\r\n";
  }
  return request + "\r\n";
}

std::string HeaderValue(std::string_view head, std::string_view name) {
  size_t start = 0;
  while (start < head.size()) {
    size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(start, end - start);
    start = end + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !EqualsIgnoreCase(line.substr(0, colon), name)) {
      continue;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    return std::string(value);
  }
  return "";
}

RawWsClient::RawWsClient(uint16_t port, int receive_buffer_bytes) {
  socket_.open(asio::ip::tcp::v4());
  if (receive_buffer_bytes > 0) {
    socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer_bytes));
  }
  socket_.set_option(asio::ip::tcp::no_delay(true));
  socket_.connect({asio::ip::make_address("127.0.0.1"), port});
}

void RawWsClient::Write(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

bool RawWsClient::WaitUntilConsumed(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string payload = absl::StrCat("wait-until-consumed-", ++pings_sent_);
  Write(ClientFrame(kPing, payload));
  // Scans the frames received, leaving all but our pong in place for ReadFrame.
  size_t offset = 0;
  for (;;) {
    size_t size = 0;
    const auto frame = ParseServerFrame(std::string_view(buffer_).substr(offset), &size);
    if (!frame) {
      if (!ReadMore(deadline)) return false;
      continue;
    }
    if (frame->opcode == kPong && frame->payload == payload) {
      buffer_.erase(offset, size);
      return true;
    }
    offset += size;
  }
}

void RawWsClient::Close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

std::optional<std::string> RawWsClient::ReadHttpHead(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(deadline)) return std::nullopt;
  }
  std::string head = buffer_.substr(0, end + 4);
  buffer_.erase(0, end + 4);
  return head;
}

std::optional<ServerFrame> RawWsClient::ReadFrame(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    size_t size = 0;
    auto frame = ParseServerFrame(buffer_, &size);
    if (frame) {
      buffer_.erase(0, size);
      return frame;
    }
    if (!ReadMore(deadline)) return std::nullopt;
  }
}

std::optional<ServerFrame> RawWsClient::ReadDataFrame(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    auto frame = ReadFrame(deadline - absl::Now());
    if (!frame || frame->opcode != kPing) return frame;
  }
}

std::optional<std::string> RawWsClient::ReadToEnd(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!ended_) {
    if (!ReadMore(deadline) && !ended_) return std::nullopt;
  }
  return std::exchange(buffer_, {});
}

bool RawWsClient::ReadMore(absl::Time deadline) {
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

}  // namespace wsbridge::testing
