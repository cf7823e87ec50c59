// WsClient: a real WebSocket client for the integration tests (Boost.Beast), playing the browser.
// Connect() does the HTTP upgrade synchronously and reports the HTTP answer when the bridge
// refuses it. Afterwards a background thread reads frames into a queue that the test drains with
// NextMessage()/WaitClosed(); reading can be held back (start_reading = false) to play a browser
// that stops reading, as a slow consumer does.
//
// Thread-safety: one test thread calls the public methods; the reader thread is internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wsbridge::testing {

struct HttpAnswer {
  unsigned status = 0;  // 101 when upgraded
  std::string body;     // for refusals
  std::string session_id;
  std::string extensions;  // the 101's Sec-WebSocket-Extensions
};

struct WsMessage {
  bool binary = false;
  std::string data;
};

struct WsClose {
  uint16_t code = 0;  // 1006 when the connection ended without a close frame
  std::string reason;
};

class WsClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Connects to 127.0.0.1:port and upgrades at `target` ("/ws?topics=a"). Returns null when the
  // upgrade is refused or fails; `answer` (if given) then holds the HTTP status and body.
  // `offer_deflate`: Beast offers permessage-deflate (and uses it if the bridge accepts), an
  // implementation independent of the bridge's.
  static std::unique_ptr<WsClient> Connect(uint16_t port, const std::string& target,
                                           const Headers& headers = {},
                                           HttpAnswer* answer = nullptr, bool start_reading = true,
                                           bool offer_deflate = false);
  ~WsClient();

  const std::string& session_id() const { return session_id_; }

  // The next data frame, or nullopt if none arrives within `timeout` or the connection closed.
  std::optional<WsMessage> NextMessage(absl::Duration timeout = absl::Seconds(5));
  // Skips data frames until the connection ends; nullopt if it has not ended within `timeout`.
  std::optional<WsClose> WaitClosed(absl::Duration timeout = absl::Seconds(5));
  // Messages received so far and not yet taken.
  size_t pending() const;
  // Protocol pings received from the bridge (answered automatically while reading).
  int pings_received() const { return pings_.load(); }

  void SendText(std::string text);
  void SendBinary(std::string bytes);
  // Starts the close handshake from the browser's side.
  void Close(uint16_t code, std::string reason);
  // Starts the reader if Connect was told not to.
  void StartReading();
  // Drops the TCP connection without a close frame.
  void Abort();

  WsClient();  // use Connect()

 private:
  void ReadLoop();
  void Send(bool binary, std::string bytes);

  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_{io_};
  boost::beast::flat_buffer buffer_;
  std::string session_id_;
  std::thread thread_;
  bool reading_ = false;
  bool closing_ = false;
  std::atomic<int> pings_{0};  // Close() was called; used on the client's io thread

  mutable absl::Mutex mutex_;
  std::deque<WsMessage> messages_ ABSL_GUARDED_BY(mutex_);
  std::optional<WsClose> closed_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace wsbridge::testing
