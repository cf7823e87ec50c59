// ServerTlsContext: the certificate and key the WebSocket port presents (--ws_tls_cert,
// --ws_tls_key), as an OpenSSL SSL_CTX that can be replaced while the node runs.
//
// Reload (SIGHUP, bridge/main.cc) reads the files again and, only if they make a usable context
// (the key matches the certificate), swaps it in: connections accepted from then on present the
// new certificate. A connection holds a reference to the context it was accepted with (an SSL
// object keeps its SSL_CTX alive), so open sessions are untouched. A reload that fails keeps the
// context in use and says why.
//
// Thread-safety: Current() from any thread (the I/O threads, on each accept); Reload() from any
// thread. A mutex guards only the pointer swap and copy.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX: no OpenSSL header in ours

namespace wsbridge::ws {

// An SSL_CTX, freed with SSL_CTX_free when the last holder lets go.
using SslContextPtr = std::shared_ptr<ssl_ctx_st>;

// A server context from PEM files: the certificate chain (leaf first) and its private key. TLS 1.2
// and up. INVALID_ARGUMENT naming the file and OpenSSL's reason when a file cannot be read or
// parsed, or the key does not match the certificate. `client_ca`, when not empty, is a PEM bundle
// of the CAs whose certificates clients must present (mutual TLS).
absl::StatusOr<SslContextPtr> MakeServerSslContext(const std::string& cert_path,
                                                   const std::string& key_path,
                                                   const std::string& client_ca_path = "");

class ServerTlsContext {
 public:
  // Loads the files (see MakeServerSslContext).
  static absl::StatusOr<std::unique_ptr<ServerTlsContext>> Create(std::string cert_path,
                                                                  std::string key_path);

  // The context new connections use.
  SslContextPtr Current() const;
  // Reads the files again; swaps the new context in only when it is usable. Otherwise the
  // current one stays and the error says why.
  absl::Status Reload();

  const std::string& cert_path() const { return cert_path_; }

  ServerTlsContext(std::string cert_path, std::string key_path, SslContextPtr context);

 private:
  const std::string cert_path_;
  const std::string key_path_;
  mutable absl::Mutex mutex_;
  SslContextPtr context_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace wsbridge::ws
