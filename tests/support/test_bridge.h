// TestBridge: a whole wsbridge node started in-process for one test, on 127.0.0.1 with ports
// picked by the OS, plus what a test needs to drive it as a backend service would: a gRPC stub,
// a WebSocket client factory, and tokens signed with the node's HS256 secret.
//
// Thread-safety: use from the test's thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "config/config.h"
#include "server/bridge_server.h"
#include "support/eventually.h"
#include "support/prometheus_text.h"
#include "support/ws_client.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::testing {

inline constexpr char kTestSecret[] = "integration-test-secret-0123456789";

// The config every test starts from: loopback, free ports, 2 I/O threads, HS256 with
// kTestSecret, anonymous allowed, public topics "news" and "lobby".
Config DefaultTestConfig();

// An HS256 token for `user_id` signed with `secret`.
struct TokenSpec {
  std::string user_id;
  std::vector<std::string> topics;
  std::map<std::string, std::string> meta;
  absl::Duration expires_in = absl::Hours(1);
  std::string secret = kTestSecret;
};
std::string MakeToken(const TokenSpec& spec);

class TestBridge {
 public:
  explicit TestBridge(std::function<void(Config&)> customize = {});
  ~TestBridge();

  BridgeServer& server() { return *server_; }
  uint16_t ws_port() const { return server_->ports().ws; }
  uint16_t grpc_port() const { return server_->ports().grpc; }
  uint16_t admin_port() const { return server_->ports().admin; }
  v1::Bridge::Stub& api() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }

  // A browser of `user_id` (empty: anonymous) on path /ws with extra `query` ("topics=news").
  std::unique_ptr<WsClient> ConnectUser(const std::string& user_id, const std::string& query = "",
                                        bool start_reading = true);
  std::unique_ptr<WsClient> ConnectAnonymous(const std::string& query = "");

 private:
  Config config_;
  std::unique_ptr<BridgeServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Bridge::Stub> stub_;
};

struct HttpReply {
  unsigned status = 0;
  std::string body;
};
// A plain HTTP/1.1 GET to 127.0.0.1:port (admin endpoints, non-WebSocket requests).
HttpReply HttpGet(uint16_t port, const std::string& target);
// GET /metrics on the admin port, parsed; a failed test (and an empty exposition) when it does
// not answer 200 or does not parse.
PrometheusText ScrapeMetrics(uint16_t admin_port);

// A ClientContext with a 10 s deadline, so a hung call fails the test instead of hanging it.
std::unique_ptr<grpc::ClientContext> CallContext();

// A Push of `text` to `session_ids` and every session of `user_ids`.
v1::PushRequest TextPush(std::vector<std::string> session_ids, std::vector<std::string> user_ids,
                         const std::string& text);

}  // namespace wsbridge::testing
