// ws::Transport over TLS on a real loopback connection, against a plain OpenSSL client on its own
// thread: the paths that a whole bridge rarely shows. A server socket with a small send buffer
// makes WriteSome leave ciphertext pending, and everything still arrives once flushed, in order;
// records bigger than the reader's buffer leave decrypted bytes inside OpenSSL, and
// AsyncWaitReadable still fires for them; ShutdownSend ends with close_notify; a client that
// speaks no TLS fails the handshake. The plain transport is the socket, unchanged.
#include "ws/transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "support/test_certificates.h"
#include "ws/tls_context.h"

namespace wsbridge::ws {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

// A server-side socket and the client's end of one loopback connection.
struct Connection {
  asio::io_context io;
  tcp::socket server{io};
  tcp::socket client{io};
  Connection() {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    client.connect(acceptor.local_endpoint());
    server = acceptor.accept();
  }
};

// Runs `io` until `done`, one handler at a time; false after 20 s: a wake-up that never came.
bool RunUntil(asio::io_context& io, const bool& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(std::chrono::seconds(1));
  }
  return done;
}

// A wait that never completes fails the test and ends it: the io_context (and the handler that
// refers to `ready`) goes with the Connection.
#define WAIT_READABLE(io, transport)                                       \
  do {                                                                     \
    bool ready = false;                                                    \
    (transport).AsyncWaitReadable([&ready](error_code) { ready = true; }); \
    ASSERT_TRUE(RunUntil(io, ready)) << "never readable";                  \
  } while (false)
#define WAIT_WRITABLE(io, transport)                                       \
  do {                                                                     \
    bool ready = false;                                                    \
    (transport).AsyncWaitWritable([&ready](error_code) { ready = true; }); \
    ASSERT_TRUE(RunUntil(io, ready)) << "never writable";                  \
  } while (false)

// Drives the server handshake to its end: `done` true if it completed, false if it failed.
void Handshake(asio::io_context& io, Transport& transport, bool& done) {
  for (;;) {
    error_code ec;
    switch (transport.Handshake(ec)) {
      case Transport::HandshakeStep::kDone:
        done = true;
        return;
      case Transport::HandshakeStep::kWantRead:
        WAIT_READABLE(io, transport);
        break;
      case Transport::HandshakeStep::kWantWrite:
        WAIT_WRITABLE(io, transport);
        break;
      case Transport::HandshakeStep::kFailed:
        done = false;
        return;
    }
  }
}
#define ASSERT_HANDSHAKE(io, transport, expected)     \
  do {                                                \
    bool done = !(expected);                          \
    Handshake(io, transport, done);                   \
    ASSERT_FALSE(::testing::Test::HasFatalFailure()); \
    ASSERT_EQ(done, expected);                        \
  } while (false)

class TlsTransportTest : public ::testing::Test {
 protected:
  TlsTransportTest()
      : directory_(testing::MakeTempDirectory("transport-test")),
        ca_(directory_, "transport"),
        server_files_(ca_.Issue("server", "server")) {
    auto context = MakeServerSslContext(server_files_.cert, server_files_.key);
    EXPECT_TRUE(context.ok()) << context.status();
    server_context_ = *context;
    client_context_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(client_context_.get(), ca_.cert_path().c_str(), nullptr);
    SSL_CTX_set_verify(client_context_.get(), SSL_VERIFY_PEER, nullptr);
  }

  // A blocking OpenSSL client on `fd` (a thread of the test's).
  SSL* NewClient(int fd) {
    SSL* ssl = SSL_new(client_context_.get());
    SSL_set_fd(ssl, fd);
    return ssl;
  }

  std::string directory_;
  testing::TestCa ca_;
  testing::CertificateFiles server_files_;
  SslContextPtr server_context_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> client_context_{nullptr, SSL_CTX_free};
};

TEST_F(TlsTransportTest, ALargeWriteThroughAFullSocketArrivesWholeAndInOrder) {
  Connection connection;
  // A small send buffer fills at once, so what WriteSome encrypts waits as pending ciphertext.
  connection.server.set_option(asio::socket_base::send_buffer_size(4096));
  Transport transport(std::move(connection.server), server_context_);
  std::string sent(2 << 20, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>('a' + i % 26);

  std::string received;
  bool client_ok = false;
  std::thread client([&] {
    SSL* ssl = NewClient(connection.client.native_handle());
    client_ok = SSL_connect(ssl) == 1;
    // Slow at first: the server's socket fills before anyone reads.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    char buffer[8192];
    size_t n = 0;
    while (received.size() < sent.size() && SSL_read_ex(ssl, buffer, sizeof(buffer), &n) == 1) {
      received.append(buffer, n);
    }
    SSL_free(ssl);
  });
  ASSERT_HANDSHAKE(connection.io, transport, true);

  size_t offset = 0;
  bool saw_pending = false;
  while (offset < sent.size()) {
    // Two buffers per call, as the FrameWriter gathers a header and a body.
    const size_t half = std::min<size_t>(50000, sent.size() - offset);
    const size_t rest = std::min<size_t>(70000, sent.size() - offset - half);
    const asio::const_buffer buffers[2] = {asio::buffer(sent.data() + offset, half),
                                           asio::buffer(sent.data() + offset + half, rest)};
    error_code ec;
    const size_t taken = transport.WriteSome(buffers, ec);
    ASSERT_TRUE(!ec || ec == asio::error::would_block) << ec.message();
    offset += taken;
    saw_pending = saw_pending || transport.has_pending_output();
    if (ec || taken < half + rest) WAIT_WRITABLE(connection.io, transport);
  }
  while (transport.has_pending_output()) {
    error_code ec;
    if (!transport.FlushPendingOutput(ec)) {
      ASSERT_EQ(ec, asio::error::would_block) << ec.message();
      WAIT_WRITABLE(connection.io, transport);
    }
  }
  client.join();
  EXPECT_TRUE(client_ok);
  EXPECT_TRUE(saw_pending) << "the socket never filled: the pending path was not exercised";
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent) << "bytes arrived changed or out of order";
}

TEST_F(TlsTransportTest, DecryptedBytesLeftInOpenSslWakeTheReader) {
  Connection connection;
  Transport transport(std::move(connection.server), server_context_);
  const std::string sent(100 * 1024, 'r');
  std::thread client([&] {
    SSL* ssl = NewClient(connection.client.native_handle());
    if (SSL_connect(ssl) == 1) {
      size_t written = 0;
      SSL_write_ex(ssl, sent.data(), sent.size(), &written);  // 16 KiB records
      // Wait for the server's close_notify.
      char byte;
      size_t n = 0;
      SSL_read_ex(ssl, &byte, 1, &n);
    }
    SSL_free(ssl);
  });
  ASSERT_HANDSHAKE(connection.io, transport, true);
  std::string received;
  char small[1000];  // far smaller than a record: most of each stays inside OpenSSL
  while (received.size() < sent.size()) {
    WAIT_READABLE(connection.io, transport);
    for (;;) {
      error_code ec;
      const size_t n = transport.ReadSome(asio::buffer(small), ec);
      if (ec == asio::error::would_block) break;
      ASSERT_FALSE(ec) << ec.message();
      received.append(small, n);
      if (n < sizeof(small)) break;  // as Session does: then it waits for readiness
    }
  }
  EXPECT_EQ(received, sent);
  error_code ec;
  transport.ShutdownSend(ec);
  EXPECT_FALSE(ec);
  client.join();
}

TEST_F(TlsTransportTest, ShutdownSendEndsWithCloseNotify) {
  Connection connection;
  Transport transport(std::move(connection.server), server_context_);
  int client_read = 99;
  int client_error = 0;
  std::thread client([&] {
    SSL* ssl = NewClient(connection.client.native_handle());
    if (SSL_connect(ssl) == 1) {
      char byte;
      client_read = SSL_read(ssl, &byte, 1);
      client_error = SSL_get_error(ssl, client_read);
    }
    SSL_free(ssl);
  });
  ASSERT_HANDSHAKE(connection.io, transport, true);
  error_code ec;
  transport.ShutdownSend(ec);
  client.join();
  EXPECT_EQ(client_read, 0);
  EXPECT_EQ(client_error, SSL_ERROR_ZERO_RETURN) << "not a clean close_notify";
}

TEST_F(TlsTransportTest, AClientSpeakingPlainHttpFailsTheHandshake) {
  Connection connection;
  Transport transport(std::move(connection.server), server_context_);
  asio::write(connection.client, asio::buffer(std::string("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")));
  ASSERT_HANDSHAKE(connection.io, transport, false);
}

TEST(PlainTransportTest, ReadsAndWritesTheSocketAsItIs) {
  Connection connection;
  Transport transport(std::move(connection.server));
  EXPECT_FALSE(transport.is_tls());
  asio::write(connection.client, asio::buffer(std::string("ping")));
  WAIT_READABLE(connection.io, transport);
  char buffer[16];
  error_code ec;
  EXPECT_EQ(transport.ReadSome(asio::buffer(buffer), ec), 4u);
  EXPECT_EQ(std::string(buffer, 4), "ping");
  const asio::const_buffer out[2] = {asio::buffer("po", 2), asio::buffer("ng", 2)};
  EXPECT_EQ(transport.WriteSome(out, ec), 4u);
  EXPECT_FALSE(transport.has_pending_output());
  char reply[4];
  asio::read(connection.client, asio::buffer(reply));
  EXPECT_EQ(std::string(reply, 4), "pong");
}

}  // namespace
}  // namespace wsbridge::ws
