// TlsWsClient: a browser on wss: a Boost.Beast WebSocket client over TLS (asio::ssl::stream), an
// implementation independent of the bridge's own TLS (ws/transport.h). It trusts one CA file and
// checks the server's name (localhost), as a browser would; it also reports the common name of
// the certificate the server presented, so a test can see which certificate a connection got.
//
// Plus two one-shot helpers over TLS: an HTTPS GET, and the common name a TLS port presents.
//
// Every wait has a deadline, so a missing answer fails the test instead of hanging it.
// Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"

namespace wsbridge::testing {

class TlsWsClient {
 public:
  // Connects to 127.0.0.1:port, completes TLS trusting `ca_file` (server name "localhost") and
  // upgrades at `target`. Null when any step fails; `error` (if given) then says which and why.
  static std::unique_ptr<TlsWsClient> Connect(uint16_t port, const std::string& ca_file,
                                              const std::string& target = "/ws",
                                              std::string* error = nullptr);
  ~TlsWsClient();

  const std::string& session_id() const;
  // The common name of the certificate the server presented.
  const std::string& peer_common_name() const;

  // The next text or binary message, or nullopt when none comes within `timeout` or the
  // connection ended (after a timeout the client is unusable).
  std::optional<std::string> NextMessage(absl::Duration timeout = absl::Seconds(10));
  bool SendText(const std::string& text);

  TlsWsClient();  // use Connect()

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct HttpsReply {
  unsigned status = 0;  // 0 when TLS or HTTP failed (see error)
  std::string body;
  std::string error;
};
// GET `target` from 127.0.0.1:port over TLS, trusting `ca_file`.
HttpsReply HttpsGet(uint16_t port, const std::string& target, const std::string& ca_file);

// The common name of the certificate 127.0.0.1:port presents in a TLS handshake (not verified);
// "" when the handshake fails.
std::string PresentedCommonName(uint16_t port);

}  // namespace wsbridge::testing
