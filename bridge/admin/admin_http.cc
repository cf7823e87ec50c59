#include "admin/admin_http.h"

#include <chrono>
#include <memory>
#include <utility>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

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
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->Answer();
                     });
  }

 private:
  void Answer() {
    const std::string_view target = request_.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      return Send(http::status::method_not_allowed, "text/plain", "use GET\n");
    }
    if (path == "/healthz") return Send(http::status::ok, "text/plain", "ok\n");
    if (path == "/readyz") {
      if (environment_.lifecycle.draining()) {
        return Send(http::status::service_unavailable, "text/plain", "draining\n");
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
    response_.version(request_.version());
    response_.set(http::field::server, "wsbridge");
    response_.set(http::field::content_type, content_type);
    response_.keep_alive(false);
    response_.body() = std::move(body);
    response_.prepare_payload();
    http::async_write(
        stream_, response_, [self = shared_from_this()](beast::error_code, std::size_t) {
          beast::error_code ignored;
          self->stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
        });
  }

  beast::tcp_stream stream_;
  const AdminEnvironment& environment_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

}  // namespace

void ServeAdminConnection(boost::asio::ip::tcp::socket socket,
                          const AdminEnvironment& environment) {
  std::make_shared<AdminConnection>(std::move(socket), environment)->Run();
}

}  // namespace wsbridge
