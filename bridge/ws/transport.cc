#include "ws/transport.h"

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

namespace wsbridge::ws {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Plaintext encrypted per SSL_write: one full TLS record.
constexpr size_t kRecordBytes = 16 * 1024;

error_code ProtocolError() { return make_error_code(boost::system::errc::protocol_error); }

}  // namespace

struct Transport::Tls {
  explicit Tls(SSL* handle) : ssl(handle) {}
  ~Tls() { SSL_free(ssl); }
  Tls(const Tls&) = delete;
  Tls& operator=(const Tls&) = delete;

  // Moves what OpenSSL wrote into the memory BIO to `pending`, and gives the BIO's buffer back:
  // a memory BIO keeps the largest buffer it ever needed, which an idle session should not.
  void TakeOutput() {
    BIO* output = SSL_get_wbio(ssl);
    BUF_MEM* memory = nullptr;
    BIO_get_mem_ptr(output, &memory);
    if (memory == nullptr || memory->length == 0) return;
    if (pending_offset == pending.size()) {
      pending.clear();
      pending_offset = 0;
    }
    pending.append(memory->data, memory->length);
    SSL_set0_wbio(ssl, BIO_new(BIO_s_mem()));  // frees the old one
  }

  // All pending ciphertext is on the wire: its buffer goes too.
  void ReleasePending() {
    std::string().swap(pending);
    pending_offset = 0;
  }

  SSL* ssl;             // reads the socket (a socket BIO), writes a memory BIO
  std::string pending;  // ciphertext not yet on the wire, from pending_offset on
  size_t pending_offset = 0;
  bool shutdown_after_flush = false;  // ShutdownSend waits for the pending ciphertext
};

Transport::Transport(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
  error_code ignored;
  socket_.non_blocking(true, ignored);
}

Transport::Transport(asio::ip::tcp::socket socket, const SslContextPtr& context)
    : Transport(std::move(socket)) {
  SSL* ssl = SSL_new(context.get());
  if (ssl == nullptr) {
    // Out of memory: a closed socket makes every later step fail.
    error_code ignored;
    socket_.close(ignored);
    return;
  }
  SSL_set_accept_state(ssl);
  BIO* input = BIO_new_socket(socket_.native_handle(), BIO_NOCLOSE);
  BIO* output = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, input, output);
  tls_ = std::make_unique<Tls>(ssl);
}

Transport::Transport(Transport&&) noexcept = default;
Transport& Transport::operator=(Transport&&) noexcept = default;
Transport::~Transport() = default;

bool Transport::HasBufferedPlaintext() const { return SSL_pending(tls_->ssl) > 0; }

bool Transport::TlsHasPendingOutput() const { return tls_->pending_offset < tls_->pending.size(); }

Transport::HandshakeStep Transport::Handshake(error_code& ec) {
  ec.clear();
  if (tls_ == nullptr) {
    ec = ProtocolError();
    return HandshakeStep::kFailed;
  }
  ERR_clear_error();
  const int result = SSL_do_handshake(tls_->ssl);
  const int error = SSL_get_error(tls_->ssl, result);
  // Our flight (or the alert that says why we fail) goes out first.
  tls_->TakeOutput();
  if (!FlushPendingOutput(ec)) {
    if (!WouldBlock(ec)) return HandshakeStep::kFailed;
    ec.clear();
    return HandshakeStep::kWantWrite;
  }
  if (result == 1) return HandshakeStep::kDone;
  if (error == SSL_ERROR_WANT_READ) return HandshakeStep::kWantRead;
  ec = error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0)
           ? error_code(asio::error::eof)
           : ProtocolError();
  ERR_clear_error();
  return HandshakeStep::kFailed;
}

size_t Transport::TlsReadSome(asio::mutable_buffer buffer, error_code& ec) {
  ec.clear();
  ERR_clear_error();
  size_t bytes = 0;
  const int result = SSL_read_ex(tls_->ssl, buffer.data(), buffer.size(), &bytes);
  const int error = result == 1 ? SSL_ERROR_NONE : SSL_get_error(tls_->ssl, result);
  // A read can make OpenSSL answer (a TLS 1.3 key update): out with it if the socket takes it,
  // else it waits for the next write.
  tls_->TakeOutput();
  if (has_pending_output()) {
    error_code ignored;
    FlushPendingOutput(ignored);
  }
  switch (error) {
    case SSL_ERROR_NONE:
      return bytes;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      ec = asio::error::would_block;
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      ec = asio::error::eof;
      return 0;
    case SSL_ERROR_SYSCALL:
      ec = errno != 0 ? error_code(errno, boost::system::system_category())
                      : error_code(asio::error::eof);
      ERR_clear_error();
      return 0;
    default:
      ec = ProtocolError();
      ERR_clear_error();
      return 0;
  }
}

size_t Transport::TlsWriteSome(std::span<const asio::const_buffer> buffers, error_code& ec) {
  ec.clear();
  // What was taken before goes first: nothing more is taken while the socket is full.
  if (!FlushPendingOutput(ec)) return 0;
  std::array<char, kRecordBytes> staging;
  size_t taken = 0;
  size_t buffer_index = 0;
  size_t buffer_offset = 0;
  while (buffer_index < buffers.size()) {
    // Gather up to one record of plaintext.
    size_t staged = 0;
    while (staged < staging.size() && buffer_index < buffers.size()) {
      const asio::const_buffer& buffer = buffers[buffer_index];
      const size_t n = std::min(staging.size() - staged, buffer.size() - buffer_offset);
      std::memcpy(staging.data() + staged, static_cast<const char*>(buffer.data()) + buffer_offset,
                  n);
      staged += n;
      buffer_offset += n;
      if (buffer_offset == buffer.size()) {
        ++buffer_index;
        buffer_offset = 0;
      }
    }
    if (staged == 0) break;
    ERR_clear_error();
    size_t written = 0;
    // Into the memory BIO: it takes everything or the connection is broken.
    if (SSL_write_ex(tls_->ssl, staging.data(), staged, &written) != 1 || written != staged) {
      ERR_clear_error();
      ec = ProtocolError();
      return taken;
    }
    taken += staged;
    tls_->TakeOutput();
    error_code flush;
    if (!FlushPendingOutput(flush)) {
      if (!WouldBlock(flush)) ec = flush;
      break;  // the socket is full: what was taken waits as ciphertext
    }
  }
  return taken;
}

bool Transport::TlsFlushPendingOutput(error_code& ec) {
  ec.clear();
  Tls& tls = *tls_;
  while (tls.pending_offset < tls.pending.size()) {
    const size_t written = socket_.write_some(asio::buffer(tls.pending.data() + tls.pending_offset,
                                                           tls.pending.size() - tls.pending_offset),
                                              ec);
    if (ec) return false;
    tls.pending_offset += written;
  }
  tls.ReleasePending();
  if (tls.shutdown_after_flush) {
    tls.shutdown_after_flush = false;
    error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }
  return true;
}

void Transport::ShutdownSend(error_code& ec) {
  ec.clear();
  if (tls_ == nullptr) {
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    return;
  }
  ERR_clear_error();
  SSL_shutdown(tls_->ssl);  // queues close_notify; we do not wait for the peer's
  ERR_clear_error();
  tls_->TakeOutput();
  tls_->shutdown_after_flush = true;
  error_code flush;
  FlushPendingOutput(flush);
}

}  // namespace wsbridge::ws
