// RawWsClient: one TCP connection to the bridge's WebSocket port, driven byte by byte, for tests
// that need what a well-behaved client library will not do: requests and frames written by hand
// (see raw_frames.h), frames pipelined behind the upgrade request, a frame split across writes,
// a reader that stalls. Every read has a deadline, so a missing answer fails the test instead of
// hanging it.
//
// Writes go out at once (TCP_NODELAY), one segment per Write on loopback. Whether the bridge
// reads two writes in one read or in two is up to its scheduling; a test that needs them in
// separate reads calls WaitUntilConsumed() between them, which waits on the bridge's answer
// instead of a sleep.
//
// Thread-safety: one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/time/time.h"
#include "support/raw_frames.h"

namespace wsbridge::testing {

// The key of the RFC 6455 example handshake (section 1.3) and its accept value.
inline constexpr char kRfcKey[] = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr char kRfcAccept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// An upgrade request for `target` (anonymous). `key` and `version` empty leave the header out.
std::string UpgradeRequest(std::string_view key = kRfcKey, std::string_view version = "13",
                           std::string_view target = "/ws");

// The same request with "Sec-WebSocket-Extensions: `extensions`" (each element of `extensions`
// one header field of its own, so a test can split offers across fields).
std::string UpgradeRequestWithExtensions(const std::vector<std::string>& extensions,
                                         std::string_view target = "/ws");

// The value of header `name` in an HTTP head ("" when absent); names compare case-insensitively,
// surrounding spaces are trimmed.
std::string HeaderValue(std::string_view head, std::string_view name);

class RawWsClient {
 public:
  // Connects to 127.0.0.1:port. `receive_buffer_bytes` > 0 shrinks the kernel's receive buffer,
  // so a peer that does not read pushes back on the bridge sooner.
  explicit RawWsClient(uint16_t port, int receive_buffer_bytes = 0);
  RawWsClient(const RawWsClient&) = delete;
  RawWsClient& operator=(const RawWsClient&) = delete;

  // Writes all of `bytes` (throws if the connection is gone).
  void Write(std::string_view bytes);

  // Sends a ping behind everything written so far and waits for its pong: once true, the bridge
  // has read and handled every byte written before, so the next Write reaches it in a later read.
  // Frames that arrive meanwhile stay for ReadFrame. Only between whole frames after the upgrade
  // (a ping inside a frame would be its payload). False if no pong comes by the timeout.
  bool WaitUntilConsumed(absl::Duration timeout = absl::Seconds(5));

  // Drops the TCP connection.
  void Close();

  // The HTTP response head up to and including its blank line; what follows stays buffered for
  // ReadFrame. nullopt when the head does not arrive in time.
  std::optional<std::string> ReadHttpHead(absl::Duration timeout = absl::Seconds(5));

  // The next frame from the bridge, or nullopt if the connection ends or nothing whole arrives
  // in time.
  std::optional<ServerFrame> ReadFrame(absl::Duration timeout = absl::Seconds(5));

  // The next text, binary or close frame, answering nothing and skipping the bridge's pings.
  std::optional<ServerFrame> ReadDataFrame(absl::Duration timeout = absl::Seconds(5));

  // Reads until the bridge closes the connection; returns every byte not taken yet, or nullopt
  // if the connection is still open at the timeout.
  std::optional<std::string> ReadToEnd(absl::Duration timeout = absl::Seconds(5));

 private:
  // One read of whatever is available, waiting at most until `deadline`. False when nothing
  // arrived: the connection ended (ended_), failed, or the deadline passed.
  bool ReadMore(absl::Time deadline);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_{io_};
  std::string buffer_;  // received, not taken yet
  bool ended_ = false;  // end of stream, reset, or another error
  int pings_sent_ = 0;  // numbers WaitUntilConsumed's pings, so each waits for its own pong
};

}  // namespace wsbridge::testing
