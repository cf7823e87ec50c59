// HttpHandshake: the HTTP phase of a connection on the WebSocket port. It reads one request's
// head (never a body: an upgrade has none, and a declared one is refused from the head, so no
// memory is ever set aside for it) within the handshake timeout and then either answers it over
// plain HTTP (400 head breaking an RFC rule, 404 wrong path, 426 not an upgrade, 401/403/400
// from the HandshakePolicy, 429 connection limit, 503 draining; which of them, and in which order
// the rules apply, is DecideUpgrade's, ws/upgrade_decision.h) and closes, or hands the socket
// to a new Session that completes the upgrade, with the permessage-deflate agreement for the
// request's Sec-WebSocket-Extensions offers (unless --compression=false). With --static_dir, a
// request that is not an upgrade, at a path other than ws_path, is answered from that directory
// instead of 404 (ws/static_files.h: GET and HEAD, 405 otherwise; ETag and 304), and closed.
// With --ws_tls_cert every connection first completes a TLS handshake (ws/transport.h), within
// the same handshake timeout as the request head: the timeout covers both together. A
// connection whose TLS handshake fails (plain HTTP to the TLS port, garbage, a client that gives
// up) is closed without an answer.
//
// Thread-safety: runs entirely on the I/O thread that accepted the socket.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "runtime/lifecycle.h"
#include "ws/handshake_policy.h"
#include "ws/permessage_deflate.h"
#include "ws/session_context.h"
#include "ws/static_files.h"
#include "ws/tls_context.h"
#include "ws/transport.h"

namespace wsbridge {

// What every handshake of the node shares; outlives all connections.
struct HandshakeEnvironment {
  std::string ws_path;
  const HandshakePolicy& policy;
  const Lifecycle& lifecycle;
  // The files of --static_dir; null when it is not set (other paths get 404).
  const StaticFiles* static_files = nullptr;
  // wss: the certificate the port presents (--ws_tls_cert); null for plain ws.
  const ws::ServerTlsContext* tls = nullptr;
};

class HttpHandshake : public std::enable_shared_from_this<HttpHandshake> {
 public:
  HttpHandshake(boost::asio::ip::tcp::socket socket, SessionContext& context,
                const HandshakeEnvironment& environment);

  void Run();

 private:
  // Closes the connection (aborting what waits on it) if it is still here after `timeout`.
  void ArmDeadline(absl::Duration timeout);
  // One step of the TLS handshake per readiness of the socket; then ReadRequest.
  void ContinueTls(boost::system::error_code wait);
  void ReadRequest();
  void OnRead(boost::beast::error_code ec, std::size_t bytes);
  void Respond(unsigned status, std::string body);
  // Answers a plain request at a path other than ws_path from environment_.static_files.
  void ServeStatic(const std::string& target);
  // Writes `response` (no body on HEAD), then closes as Respond does.
  void Send(
      std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> response);
  void Upgrade(AdmittedSession admitted, SessionSlot slot);
  // permessage-deflate: the agreement for the request's offers, unless --compression=false.
  std::optional<ws::DeflateAgreement> NegotiateCompression() const;
  // After refusing a declared body: reads away what of it arrives (bounded in bytes and time),
  // so that closing does not reset the connection under the answer.
  void DiscardBody();

  SessionContext& context_;
  ws::Transport transport_;
  boost::asio::steady_timer deadline_;
  const HandshakeEnvironment& environment_;
  boost::beast::flat_buffer buffer_;
  // Reads the head only: with an empty body the parser holds no body storage whatever the
  // request declares, and Run() reads no further than the head.
  boost::beast::http::request_parser<boost::beast::http::empty_body> parser_;
  uint64_t discard_budget_ = 0;  // bytes of a refused body still to read away
  bool serving_static_ = false;  // a file request: its errors are not refused upgrades
};

}  // namespace wsbridge
