#include "support/tls_ws_client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace wsbridge::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace websocket = boost::beast::websocket;

namespace {

std::string PeerCommonName(SSL* handle) {
  X509* cert = SSL_get1_peer_certificate(handle);
  if (cert == nullptr) return "";
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof(name));
  X509_free(cert);
  return name;
}

// Runs `io` until `done` or `timeout`; on timeout closes `socket` so the operation ends.
template <class Socket>
bool RunUntil(asio::io_context& io, Socket& socket, const bool& done, absl::Duration timeout) {
  io.restart();
  io.run_for(absl::ToChronoNanoseconds(timeout));
  if (done) return true;
  beast::error_code ignored;
  socket.close(ignored);
  io.restart();
  io.run_for(std::chrono::seconds(5));
  return false;
}

// Sets up `stream` for a verified TLS connection to "localhost" and connects it to port.
bool ConnectTls(ssl::stream<beast::tcp_stream>& stream, uint16_t port, std::string* error) {
  if (!SSL_set_tlsext_host_name(stream.native_handle(), "localhost")) {
    *error = "SNI";
    return false;
  }
  stream.set_verify_callback(ssl::host_name_verification("localhost"));
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  beast::error_code ec;
  beast::get_lowest_layer(stream).socket().connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    *error = "connect: " + ec.message();
    return false;
  }
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) {
    *error = "TLS handshake: " + ec.message();
    return false;
  }
  return true;
}

}  // namespace

struct TlsWsClient::State {
  explicit State(const std::string& ca_file) : context(ssl::context::tls_client) {
    context.set_verify_mode(ssl::verify_peer);
    beast::error_code ignored;
    context.load_verify_file(ca_file, ignored);
  }
  asio::io_context io;
  ssl::context context;
  websocket::stream<ssl::stream<beast::tcp_stream>> ws{io, context};
  beast::flat_buffer buffer;
  std::string session_id;
  std::string peer_common_name;
  bool broken = false;
};

TlsWsClient::TlsWsClient() = default;
TlsWsClient::~TlsWsClient() = default;

const std::string& TlsWsClient::session_id() const { return state_->session_id; }
const std::string& TlsWsClient::peer_common_name() const { return state_->peer_common_name; }

std::unique_ptr<TlsWsClient> TlsWsClient::Connect(uint16_t port, const std::string& ca_file,
                                                  const std::string& target, std::string* error) {
  std::string ignored_error;
  if (error == nullptr) error = &ignored_error;
  auto client = std::make_unique<TlsWsClient>();
  client->state_ = std::make_unique<State>(ca_file);
  State& state = *client->state_;
  if (!ConnectTls(state.ws.next_layer(), port, error)) return nullptr;
  state.peer_common_name = PeerCommonName(state.ws.next_layer().native_handle());
  beast::get_lowest_layer(state.ws).expires_never();
  state.ws.read_message_max(64 << 20);
  websocket::response_type response;
  beast::error_code ec;
  state.ws.handshake(response, "localhost:" + std::to_string(port), target, ec);
  if (ec) {
    *error = "WebSocket upgrade: " + ec.message() + " (HTTP " +
             std::to_string(response.result_int()) + ")";
    return nullptr;
  }
  state.session_id = std::string(response["X-Wsbridge-Session-Id"]);
  return client;
}

std::optional<std::string> TlsWsClient::NextMessage(absl::Duration timeout) {
  State& state = *state_;
  if (state.broken) return std::nullopt;
  state.buffer.clear();
  bool done = false;
  beast::error_code result;
  state.ws.async_read(state.buffer, [&](beast::error_code ec, std::size_t) {
    result = ec;
    done = true;
  });
  if (!RunUntil(state.io, beast::get_lowest_layer(state.ws).socket(), done, timeout) || result) {
    state.broken = true;
    return std::nullopt;
  }
  return beast::buffers_to_string(state.buffer.data());
}

bool TlsWsClient::SendText(const std::string& text) {
  State& state = *state_;
  if (state.broken) return false;
  state.ws.text(true);
  beast::error_code ec;
  state.ws.write(asio::buffer(text), ec);
  return !ec;
}

HttpsReply HttpsGet(uint16_t port, const std::string& target, const std::string& ca_file) {
  HttpsReply reply;
  asio::io_context io;
  ssl::context context(ssl::context::tls_client);
  context.set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  context.load_verify_file(ca_file, ec);
  ssl::stream<beast::tcp_stream> stream(io, context);
  if (!ConnectTls(stream, port, &reply.error)) return reply;
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "localhost");
  http::write(stream, request, ec);
  if (ec) {
    reply.error = "write: " + ec.message();
    return reply;
  }
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, ec);
  if (ec) {
    reply.error = "read: " + ec.message();
    return reply;
  }
  reply.status = response.result_int();
  reply.body = response.body();
  return reply;
}

std::string PresentedCommonName(uint16_t port) {
  asio::io_context io;
  ssl::context context(ssl::context::tls_client);
  context.set_verify_mode(ssl::verify_none);
  ssl::stream<beast::tcp_stream> stream(io, context);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  beast::error_code ec;
  beast::get_lowest_layer(stream).socket().connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return "";
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return "";
  return PeerCommonName(stream.native_handle());
}

}  // namespace wsbridge::testing
