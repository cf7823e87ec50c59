#include "ws/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace wsbridge::ws {
namespace {

// OpenSSL's reasons queued on this thread, oldest first, and the queue cleared.
std::string TakeOpenSslErrors() {
  std::string errors;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    if (!errors.empty()) errors.append("; ");
    errors.append(text);
  }
  return errors.empty() ? "unknown OpenSSL error" : errors;
}

absl::Status FileError(const char* what, const std::string& path) {
  return absl::InvalidArgumentError(
      absl::StrCat("cannot use ", what, " ", path, ": ", TakeOpenSslErrors()));
}

}  // namespace

absl::StatusOr<SslContextPtr> MakeServerSslContext(const std::string& cert_path,
                                                   const std::string& key_path,
                                                   const std::string& client_ca_path) {
  ERR_clear_error();
  SslContextPtr context(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (context == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", TakeOpenSslErrors()));
  }
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Idle connections give their record buffers back: an idle TLS session holds no 16 KiB
  // read or write buffer, as an idle plain one holds none.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Browsers often end a connection without close_notify: that is an end of stream, not an error.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
    return FileError("certificate", cert_path);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("private key ", key_path, " does not match certificate ", cert_path));
    }
    return FileError("private key", key_path);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("private key ", key_path,
                                                   " does not match certificate ", cert_path, ": ",
                                                   TakeOpenSslErrors()));
  }
  if (!client_ca_path.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, client_ca_path.c_str(), nullptr) != 1) {
      return FileError("client CA bundle", client_ca_path);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return context;
}

ServerTlsContext::ServerTlsContext(std::string cert_path, std::string key_path,
                                   SslContextPtr context)
    : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)), context_(context) {}

absl::StatusOr<std::unique_ptr<ServerTlsContext>> ServerTlsContext::Create(std::string cert_path,
                                                                           std::string key_path) {
  absl::StatusOr<SslContextPtr> context = MakeServerSslContext(cert_path, key_path);
  if (!context.ok()) return context.status();
  return std::make_unique<ServerTlsContext>(std::move(cert_path), std::move(key_path),
                                            std::move(*context));
}

SslContextPtr ServerTlsContext::Current() const {
  absl::MutexLock lock(&mutex_);
  return context_;
}

absl::Status ServerTlsContext::Reload() {
  absl::StatusOr<SslContextPtr> context = MakeServerSslContext(cert_path_, key_path_);
  if (!context.ok()) return context.status();
  // The old context is freed outside the lock, once the last connection made with it ends.
  SslContextPtr old;
  {
    absl::MutexLock lock(&mutex_);
    old = std::exchange(context_, std::move(*context));
  }
  return absl::OkStatus();
}

}  // namespace wsbridge::ws
