#include "support/test_bridge.h"

#include <cstdlib>
#include <stdexcept>

#include <jwt.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace wsbridge::testing {

Config DefaultTestConfig() {
  Config config;
  config.bind = "127.0.0.1";
  config.grpc_port = 0;
  config.ws_port = 0;
  config.admin_port = 0;
  config.io_threads = 2;
  config.jwt_secret = kTestSecret;
  config.allow_anonymous = true;
  config.public_topics = {"news", "lobby"};
  config.close_timeout = absl::Seconds(2);
  config.node_id = "test-node";
  return config;
}

std::string MakeToken(const TokenSpec& spec) {
  jwt_t* jwt = nullptr;
  if (jwt_new(&jwt) != 0) throw std::runtime_error("jwt_new failed");
  if (!spec.user_id.empty()) jwt_add_grant(jwt, "sub", spec.user_id.c_str());
  jwt_add_grant_int(jwt, "exp", absl::ToUnixSeconds(absl::Now() + spec.expires_in));
  std::string json = "{";
  if (!spec.topics.empty()) {
    json += "\"topics\":[";
    for (size_t i = 0; i < spec.topics.size(); ++i) {
      json += absl::StrCat(i ? "," : "", "\"", spec.topics[i], "\"");
    }
    json += "]";
  }
  if (!spec.meta.empty()) {
    json += spec.topics.empty() ? "\"meta\":{" : ",\"meta\":{";
    bool first = true;
    for (const auto& [key, value] : spec.meta) {
      json += absl::StrCat(first ? "" : ",", "\"", key, "\":\"", value, "\"");
      first = false;
    }
    json += "}";
  }
  json += "}";
  if (json != "{}") jwt_add_grants_json(jwt, json.c_str());
  jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(spec.secret.data()),
              static_cast<int>(spec.secret.size()));
  char* encoded = jwt_encode_str(jwt);
  std::string token = encoded == nullptr ? "" : encoded;
  free(encoded);
  jwt_free(jwt);
  return token;
}

TestBridge::TestBridge(std::function<void(Config&)> customize) : config_(DefaultTestConfig()) {
  if (customize) customize(config_);
  auto server = BridgeServer::Start(config_);
  if (!server.ok()) throw std::runtime_error(std::string(server.status().message()));
  server_ = std::move(*server);
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->ports().grpc),
                                 grpc::InsecureChannelCredentials());
  stub_ = v1::Bridge::NewStub(channel_);
}

TestBridge::~TestBridge() { server_->Shutdown(absl::ZeroDuration()); }

std::unique_ptr<WsClient> TestBridge::ConnectUser(const std::string& user_id,
                                                  const std::string& query, bool start_reading) {
  TokenSpec token;
  token.user_id = user_id;
  std::string target = absl::StrCat(config_.ws_path, "?token=", MakeToken(token));
  if (!query.empty()) absl::StrAppend(&target, "&", query);
  return WsClient::Connect(ws_port(), target, {}, nullptr, start_reading);
}

std::unique_ptr<WsClient> TestBridge::ConnectAnonymous(const std::string& query) {
  return WsClient::Connect(
      ws_port(), query.empty() ? config_.ws_path : absl::StrCat(config_.ws_path, "?", query));
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

}  // namespace wsbridge::testing
