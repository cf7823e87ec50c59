#include "support/ws_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace wsbridge::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

WsClient::WsClient() = default;

std::unique_ptr<WsClient> WsClient::Connect(uint16_t port, const std::string& target,
                                            const Headers& headers, HttpAnswer* answer,
                                            bool start_reading, bool offer_deflate) {
  auto client = std::make_unique<WsClient>();
  beast::error_code ec;
  beast::get_lowest_layer(client->ws_)
      .connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return nullptr;
  client->ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  client->ws_.read_message_max(64 << 20);
  if (offer_deflate) {
    websocket::permessage_deflate deflate;
    deflate.client_enable = true;
    deflate.msg_size_threshold = 0;  // compress everything it sends
    client->ws_.set_option(deflate);
  }
  WsClient* raw = client.get();
  client->ws_.control_callback([raw](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) ++raw->pings_;
  });
  websocket::response_type response;
  client->ws_.handshake(response, "127.0.0.1:" + std::to_string(port), target, ec);
  if (answer != nullptr) {
    answer->status = response.result_int();
    answer->body = response.body();
    answer->session_id = std::string(response["X-Wsbridge-Session-Id"]);
    answer->extensions = std::string(response[http::field::sec_websocket_extensions]);
  }
  if (ec) return nullptr;
  client->session_id_ = std::string(response["X-Wsbridge-Session-Id"]);
  if (start_reading) client->StartReading();
  return client;
}

WsClient::~WsClient() {
  if (thread_.joinable()) {
    asio::post(io_, [this] {
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).close(ignored);
    });
    thread_.join();
  }
}

void WsClient::StartReading() {
  if (reading_) return;
  reading_ = true;
  ReadLoop();
  thread_ = std::thread([this] { io_.run(); });
}

void WsClient::ReadLoop() {
  ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
    absl::MutexLock lock(&mutex_);
    if (ec && closing_ && !ws_.is_open()) return;  // our Close() completes and reports it
    if (ec) {
      WsClose close;
      if (ec == websocket::error::closed) {
        close.code = static_cast<uint16_t>(ws_.reason().code);
        close.reason = std::string(ws_.reason().reason.data(), ws_.reason().reason.size());
      } else {
        close.code = 1006;
        close.reason = ec.message();
      }
      closed_ = close;
      return;
    }
    messages_.push_back(WsMessage{ws_.got_binary(), beast::buffers_to_string(buffer_.data())});
    buffer_.consume(buffer_.size());
    ReadLoop();
  });
}

std::optional<WsMessage> WsClient::NextMessage(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return !messages_.empty() || closed_.has_value();
  };
  mutex_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (messages_.empty()) return std::nullopt;
  WsMessage message = std::move(messages_.front());
  messages_.pop_front();
  return message;
}

std::optional<WsClose> WsClient::WaitClosed(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return closed_.has_value(); };
  mutex_.AwaitWithTimeout(absl::Condition(&ended), timeout);
  messages_.clear();
  return closed_;
}

size_t WsClient::pending() const {
  absl::MutexLock lock(&mutex_);
  return messages_.size();
}

void WsClient::Send(bool binary, std::string bytes) {
  auto run = [this, binary, bytes = std::move(bytes)] {
    ws_.binary(binary);
    beast::error_code ignored;
    ws_.write(asio::buffer(bytes), ignored);
  };
  if (reading_) {
    asio::post(io_, run);
  } else {
    run();
  }
}

void WsClient::SendText(std::string text) { Send(false, std::move(text)); }
void WsClient::SendBinary(std::string bytes) { Send(true, std::move(bytes)); }

void WsClient::Close(uint16_t code, std::string reason) {
  StartReading();  // the close handshake runs on the reader's thread
  asio::post(io_, [this, code, reason = std::move(reason)] {
    closing_ = true;
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason),
                    [this](beast::error_code ec) {
                      absl::MutexLock lock(&mutex_);
                      if (closed_.has_value()) return;
                      WsClose close;
                      close.code = ec ? 1006 : static_cast<uint16_t>(ws_.reason().code);
                      close.reason =
                          ec ? ec.message()
                             : std::string(ws_.reason().reason.data(), ws_.reason().reason.size());
                      closed_ = close;
                    });
  });
}

void WsClient::Abort() {
  StartReading();
  asio::post(io_, [this] {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
  });
}

}  // namespace wsbridge::testing
