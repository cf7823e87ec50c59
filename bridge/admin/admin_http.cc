#include "admin/admin_http.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "absl/strings/str_cat.h"

namespace wsbridge {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;

class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
 public:
  AdminConnection(boost::asio::ip::tcp::socket socket, const AdminEnvironment& environment)
      : stream_(std::move(socket)), environment_(environment) {}

  void Run() {
    stream_.expires_after(std::chrono::seconds(10));
    buffer_.max_size(16 * 1024);
    http::async_read(
        stream_, buffer_, request_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (!ec) return Answer();
    // A malformed or oversized request gets an answer, as on the WebSocket port
    // (ws/http_handshake.cc); a vanished or silent peer does not.
    if (ec != http::error::end_of_stream &&
        ec.category() == make_error_code(http::error::bad_target).category()) {
      Send(http::status::bad_request, "text/plain",
           absl::StrCat("bad request: ", ec.message(), "\n"));
    }
  }

  void Answer() {
    const std::string_view target = request_.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      response_.set(http::field::allow, "GET, HEAD");
      return Send(http::status::method_not_allowed, "text/plain", "use GET or HEAD\n");
    }
    // Only a request read whole can be a HEAD: a broken one gets its 400 with a body.
    head_ = request_.method() == http::verb::head;
    if (path == "/healthz") return Send(http::status::ok, "text/plain", "ok\n");
    if (path == "/readyz") {
      if (environment_.lifecycle.draining()) {
        return Send(http::status::service_unavailable, "text/plain", "draining\n");
      }
      if (environment_.not_ready_reason) {
        if (std::string reason = environment_.not_ready_reason(); !reason.empty()) {
          return Send(http::status::service_unavailable, "text/plain",
                      absl::StrCat("not ready: ", reason, "\n"));
        }
      }
      return Send(http::status::ok, "text/plain", "ready\n");
    }
    if (path == "/metrics") {
      return Send(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                  environment_.metrics());
    }
    Send(http::status::not_found, "text/plain", "not found: try /healthz, /readyz, /metrics\n");
  }

  void Send(http::status status, std::string_view content_type, std::string body) {
    response_.result(status);
    // A request that failed to parse may have no version yet.
    response_.version(request_.version() == 0 ? 11 : request_.version());
    response_.set(http::field::server, "wsbridge");
    response_.set(http::field::content_type, content_type);
    response_.keep_alive(false);
    response_.body() = std::move(body);
    // Content-Length is the body's, for HEAD too (RFC 9110 9.3.2): the same headers as a GET.
    response_.prepare_payload();
    auto shut_down = [self = shared_from_this()](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    };
    if (head_) {
      head_serializer_.emplace(response_);
      http::async_write_header(stream_, *head_serializer_, std::move(shut_down));
    } else {
      http::async_write(stream_, response_, std::move(shut_down));
    }
  }

  beast::tcp_stream stream_;
  const AdminEnvironment& environment_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  bool head_ = false;  // the request is a HEAD: the answer is its header alone
  std::optional<http::response_serializer<http::string_body>> head_serializer_;
};

}  // namespace

void ServeAdminConnection(boost::asio::ip::tcp::socket socket,
                          const AdminEnvironment& environment) {
  std::make_shared<AdminConnection>(std::move(socket), environment)->Run();
}

}  // namespace wsbridge
