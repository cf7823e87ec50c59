#include "support/test_bridge.h"

#include <chrono>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "support/token_issuer.h"

namespace wsbridge::testing {

Config DefaultTestConfig() {
  Config config;
  config.listeners.bind = "127.0.0.1";
  config.listeners.grpc_port = 0;
  config.listeners.ws_port = 0;
  config.listeners.admin_port = 0;
  config.listeners.io_threads = 2;
  config.admission.jwt_secret = kTestSecret;
  config.admission.allow_anonymous = true;
  config.admission.public_topics = {"news", "lobby"};
  config.session.close_timeout = absl::Seconds(2);
  config.node.node_id = "test-node";
  return config;
}

namespace {

// `text` as a JSON string literal.
std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

std::string MakeToken(const TokenSpec& spec) {
  std::string claims = "{";
  if (!spec.user_id.empty()) absl::StrAppend(&claims, "\"sub\":", JsonString(spec.user_id), ",");
  absl::StrAppend(&claims, "\"exp\":", absl::ToUnixSeconds(absl::Now() + spec.expires_in));
  if (!spec.topics.empty()) {
    std::vector<std::string> topics;
    for (const std::string& topic : spec.topics) topics.push_back(JsonString(topic));
    absl::StrAppend(&claims, ",\"topics\":[", absl::StrJoin(topics, ","), "]");
  }
  if (!spec.meta.empty()) {
    std::vector<std::string> entries;
    for (const auto& [key, value] : spec.meta) {
      entries.push_back(absl::StrCat(JsonString(key), ":", JsonString(value)));
    }
    absl::StrAppend(&claims, ",\"meta\":{", absl::StrJoin(entries, ","), "}");
  }
  claims += "}";
  return SignToken(claims, JWT_ALG_HS256, spec.secret);
}

TestBridge::TestBridge(std::function<void(Config&)> customize) : config_(DefaultTestConfig()) {
  if (customize) customize(config_);
  auto server = BridgeServer::Start(config_);
  if (!server.ok()) throw std::runtime_error(std::string(server.status().message()));
  server_ = std::move(*server);
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->ports().grpc),
                                 grpc::InsecureChannelCredentials());
  // Connected before the first call: a call on a channel still connecting fails at once when
  // its first attempt does (seen on a loaded machine as "failed to connect to all addresses"),
  // while WaitForConnected keeps trying until the deadline.
  if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    throw std::runtime_error("the test bridge's gRPC port did not accept a connection in 30 s");
  }
  stub_ = v1::Bridge::NewStub(channel_);
}

TestBridge::~TestBridge() { server_->Shutdown(absl::ZeroDuration()); }

std::unique_ptr<WsClient> TestBridge::ConnectUser(const std::string& user_id,
                                                  const std::string& query, bool start_reading) {
  TokenSpec token;
  token.user_id = user_id;
  std::string target = absl::StrCat(config_.listeners.ws_path, "?token=", MakeToken(token));
  if (!query.empty()) absl::StrAppend(&target, "&", query);
  return WsClient::Connect(ws_port(), target, {}, nullptr, start_reading);
}

std::unique_ptr<WsClient> TestBridge::ConnectAnonymous(const std::string& query) {
  return WsClient::Connect(ws_port(), query.empty()
                                          ? config_.listeners.ws_path
                                          : absl::StrCat(config_.listeners.ws_path, "?", query));
}

PrometheusText ScrapeMetrics(uint16_t admin_port) {
  HttpReply reply = HttpGet(admin_port, "/metrics");
  EXPECT_EQ(reply.status, 200u);
  auto parsed = PrometheusText::Parse(reply.body);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << reply.body;
  return parsed.ok() ? *std::move(parsed) : *PrometheusText::Parse("");
}

HttpReply HttpGet(uint16_t port, const std::string& target) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  stream.expires_after(std::chrono::seconds(10));
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {response.result_int(), response.body()};
}

std::unique_ptr<grpc::ClientContext> CallContext() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

v1::PushRequest TextPush(std::vector<std::string> session_ids, std::vector<std::string> user_ids,
                         const std::string& text) {
  v1::PushRequest request;
  for (auto& id : session_ids) request.add_session_ids(id);
  for (auto& id : user_ids) request.add_user_ids(id);
  request.mutable_message()->set_text(text);
  return request;
}

}  // namespace wsbridge::testing
