// Running out of file descriptors (issue #9 §4). The bridge runs as a child process started with
// a small RLIMIT_NOFILE (soft = hard = 256, so it cannot raise it), and the test spends its
// descriptors the way a flood would: silent TCP connections that never send a byte.
//   - On the WebSocket port they stop at the budget (limit minus the reserve, here 128): past it
//     connections get 503 at once, gRPC still accepts new connections, /readyz stays 200, the log
//     says so once, and once the flood goes, browsers connect again.
//   - On the gRPC port they make gRPC 1.51's accept fail, after which it never accepts again:
//     /readyz must then fail and name the gRPC port.
//   - At start the soft limit is raised to the hard one.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/child_process.h"
#include "support/eventually.h"
#include "support/prometheus_text.h"
#include "support/raw_ws_client.h"
#include "support/sanitizers.h"
#include "support/test_bridge.h"
#include "support/test_certificates.h"
#include "support/ws_client.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// These tests drive the wsbridge binary from outside, as a child process at its descriptor
// limit, so like the other whole-product stages (fuzzing, node, Python, buf) they run once, in
// the normal pass. They cannot run under UBSan anyway: its vptr check asks the runtime whether a
// vtable is readable (IsAccessibleMemoryRange), which on POSIX writes it into a fresh pipe and
// answers "not accessible" when pipe() fails; out of descriptors, the first check of a type then
// reports a valid object as having an invalid vptr ("member call on address ... which does not
// point to an object of type '_Sp_counted_base'", seen in the ASan pass).
#define SKIP_UNDER_SANITIZERS() \
  if (kUnderSanitizers) GTEST_SKIP() << "drives the binary from outside: normal pass only"

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

struct Ports {
  uint16_t grpc = 0, ws = 0, admin = 0;
};

// The bridge binary with `limit`, on free loopback ports, anonymous browsers allowed, and a
// handshake timeout long enough that silent connections stay for the whole test.
class ChildBridge {
 public:
  explicit ChildBridge(DescriptorLimit limit, std::vector<std::string> more_flags = {})
      : process_(WSBRIDGE_BINARY, WithFlags(std::move(more_flags)), {}, limit) {
    const auto line = process_.ReadStdoutLine(absl::Seconds(20));
    if (!line.has_value()) return;
    static const std::regex kPattern(R"(grpc_port=(\d+) ws_port=(\d+) admin_port=(\d+))");
    std::smatch match;
    if (!std::regex_search(*line, match, kPattern)) return;
    ports_ = {static_cast<uint16_t>(std::stoi(match[1])),
              static_cast<uint16_t>(std::stoi(match[2])),
              static_cast<uint16_t>(std::stoi(match[3]))};
  }

  bool started() const { return ports_.ws != 0; }
  const Ports& ports() const { return ports_; }
  std::string Log() { return process_.Stderr(); }

  // GET on the admin port; nullopt when it does not answer within 5 s (it too needs a
  // descriptor, and a connect succeeds into the backlog whether or not anyone accepts).
  std::optional<HttpReply> Admin(const std::string& target) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    const timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    const sockaddr_in address = Loopback(ports_.admin);
    std::string reply;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
      if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
        char chunk[4096];
        for (ssize_t n; (n = recv(fd, chunk, sizeof chunk, 0)) > 0;) reply.append(chunk, n);
      }
    }
    close(fd);
    // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody": the answer is complete when the peer closed.
    const size_t body = reply.find("\r\n\r\n");
    if (reply.size() < 12 || body == std::string::npos) return std::nullopt;
    return HttpReply{static_cast<unsigned>(std::stoi(reply.substr(9, 3))), reply.substr(body + 4)};
  }

  // GET /metrics, parsed; nullopt when it does not answer or does not parse.
  std::optional<PrometheusText> Scrape() {
    const auto reply = Admin("/metrics");
    if (!reply.has_value()) return std::nullopt;
    auto parsed = PrometheusText::Parse(reply->body);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok()) return std::nullopt;
    return *std::move(parsed);
  }

  // The value of a metric without labels, or -1.
  int64_t Metric(const std::string& name) {
    const auto reply = Admin("/metrics");
    if (!reply.has_value()) return -1;
    const std::regex pattern("(^|\n)" + name + " (\\d+)");
    std::smatch match;
    if (!std::regex_search(reply->body, match, pattern)) return -1;
    return std::stoll(match[2]);
  }

 private:
  static std::vector<std::string> WithFlags(std::vector<std::string> more) {
    std::vector<std::string> flags = {
        "--bind=127.0.0.1",       "--grpc_port=0",  "--ws_port=0",
        "--admin_port=0",         "--io_threads=2", "--allow_anonymous",
        "--handshake_timeout=10m"};
    flags.insert(flags.end(), more.begin(), more.end());
    return flags;
  }

  ChildProcess process_;
  Ports ports_;
};

// TCP connections to a port that never send anything; closed when this goes.
class SilentConnections {
 public:
  ~SilentConnections() { CloseAll(); }
  // Opens `count` connections to 127.0.0.1:port; false if one could not be made.
  bool Open(uint16_t port, int count) {
    for (int i = 0; i < count; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return false;
      const sockaddr_in address = Loopback(port);
      if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        return false;
      }
      fds_.push_back(fd);
    }
    return true;
  }
  void CloseAll() {
    for (int fd : fds_) close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

// A channel that opens a connection of its own, as a service starting up would.
std::shared_ptr<grpc::Channel> NewChannel(uint16_t port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

grpc::Status ListSessionsOnNewChannel(uint16_t port) {
  auto stub = v1::Bridge::NewStub(NewChannel(port));
  v1::ListSessionsRequest request;
  v1::ListSessionsResponse response;
  return stub->ListSessions(CallContext().get(), request, &response);
}

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

constexpr DescriptorLimit kSmallLimit{256, 256};
constexpr int kBudget = 128;  // 256 - the automatic reserve, max(128, 10%) capped at half

TEST(DescriptorLimitTest, AWebSocketFloodStopsAtTheBudgetAndGrpcKeepsAccepting) {
  SKIP_UNDER_SANITIZERS();
  ChildBridge bridge(kSmallLimit);
  ASSERT_TRUE(bridge.started()) << bridge.Log();
  ASSERT_EQ(bridge.Metric("wsbridge_websocket_connection_budget"), kBudget);

  // More silent connections than the whole limit: without the budget the bridge runs out of
  // descriptors and gRPC's listener dies.
  // Exactly the budget is admitted (silent, they stay in their handshake); every connection
  // past it is refused, once.
  SilentConnections flood;
  ASSERT_TRUE(flood.Open(bridge.ports().ws, 300));
  constexpr int kRefused = 300 - kBudget;
  ASSERT_TRUE(Eventually(
      [&] {
        return bridge.Metric("wsbridge_websocket_handshakes") == kBudget &&
               bridge.Metric("wsbridge_websocket_refused_total") == kRefused;
      },
      absl::Seconds(30)))
      << bridge.Log();

  // A browser past the budget is told so at once.
  RawWsClient late(bridge.ports().ws);
  late.Write(UpgradeRequest());
  const auto head = late.ReadHttpHead(absl::Seconds(10));
  ASSERT_TRUE(head.has_value());
  EXPECT_THAT(*head, HasSubstr(" 503 "));

  // Every refusal, the flood's and the browser's, is a refused handshake with status 503 on
  // /metrics, and nothing else is.
  auto scrape = bridge.Scrape();
  ASSERT_TRUE(scrape.has_value());
  EXPECT_EQ(scrape->Value("wsbridge_handshake_rejections_total", {{"status", "503"}}),
            kRefused + 1);
  EXPECT_EQ(scrape->Value("wsbridge_websocket_refused_total"), kRefused + 1);
  EXPECT_EQ(scrape->ValueOrZero("wsbridge_handshake_rejections_total", {{"status", "400"}}), 0);
  EXPECT_EQ(scrape->Value("wsbridge_sessions_opened_total"), 0);

  // A service that connects now is served, and the node is ready.
  const grpc::Status status = ListSessionsOnNewChannel(bridge.ports().grpc);
  EXPECT_TRUE(status.ok()) << status.error_message();
  const auto ready = bridge.Admin("/readyz");
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->status, 200u) << ready->body;

  // ~170 refusals, one log line.
  EXPECT_EQ(CountLines(bridge.Log(), "refusing WebSocket connections"), 1u) << bridge.Log();

  // The flood goes; browsers connect again.
  flood.CloseAll();
  std::unique_ptr<WsClient> browser;
  EXPECT_TRUE(Eventually(
      [&] {
        browser = WsClient::Connect(bridge.ports().ws, "/ws");
        return browser != nullptr;
      },
      absl::Seconds(30)));
  EXPECT_TRUE(Eventually(
      [&] {
        return bridge.Log().find("accepting WebSocket connections again") != std::string::npos;
      },
      absl::Seconds(10)))
      << bridge.Log();
  EXPECT_EQ(CountLines(bridge.Log(), "refusing WebSocket connections"), 1u);
  // The admitted silent connections ended without a request: not refused handshakes either.
  ASSERT_TRUE(Eventually([&] { return bridge.Metric("wsbridge_websocket_handshakes") == 0; },
                         absl::Seconds(10)));
  scrape = bridge.Scrape();
  ASSERT_TRUE(scrape.has_value());
  EXPECT_EQ(scrape->Value("wsbridge_handshake_rejections_total", {{"status", "503"}}),
            kRefused + 1);
  EXPECT_EQ(scrape->ValueOrZero("wsbridge_handshake_rejections_total", {{"status", "400"}}), 0);
  EXPECT_EQ(scrape->Value("wsbridge_sessions_opened_total"), 1);
}

TEST(DescriptorLimitTest, OverTheBudgetAWssPortClosesWithoutAPlaintextAnswer) {
  SKIP_UNDER_SANITIZERS();
  const std::string directory = MakeTempDirectory("wsbridge-budget-tls");
  TestCa ca(directory, "test");
  const CertificateFiles server = ca.Issue("bridge", "server");
  ChildBridge bridge(kSmallLimit, {"--ws_tls_cert=" + server.cert, "--ws_tls_key=" + server.key});
  ASSERT_TRUE(bridge.started()) << bridge.Log();
  SilentConnections flood;
  ASSERT_TRUE(flood.Open(bridge.ports().ws, kBudget + 10));
  ASSERT_TRUE(Eventually([&] { return bridge.Metric("wsbridge_websocket_refused_total") == 10; },
                         absl::Seconds(30)))
      << bridge.Log();

  // A TLS client past the budget: its ClientHello is met by the end of the connection, not by
  // "HTTP/1.1 503" bytes that its TLS stack would take for a broken record.
  RawWsClient late(bridge.ports().ws);
  late.Write(std::string("\x16\x03\x01\x00\x05hello", 10));
  EXPECT_EQ(late.ReadToEnd(absl::Seconds(10)), std::optional<std::string>(""));
  auto scrape = bridge.Scrape();
  ASSERT_TRUE(scrape.has_value());
  EXPECT_EQ(scrape->Value("wsbridge_handshake_rejections_total", {{"status", "503"}}), 11);
}
TEST(DescriptorLimitTest, ReadinessFailsWhileAListenerIsNotAccepting) {
  SKIP_UNDER_SANITIZERS();
  ChildBridge bridge(kSmallLimit);
  ASSERT_TRUE(bridge.started()) << bridge.Log();
  const auto before = bridge.Admin("/readyz");
  ASSERT_TRUE(before.has_value());
  ASSERT_EQ(before->status, 200u) << before->body;

  // gRPC accepts every silent connection until the descriptors run out; its accept then fails
  // and gRPC 1.51 gives up on the port. A connection to the WebSocket port meanwhile makes that
  // listener's accept fail too: it is not accepting until descriptors come back.
  SilentConnections flood;
  ASSERT_TRUE(flood.Open(bridge.ports().grpc, 300));
  ASSERT_TRUE(Eventually([&] { return bridge.Log().find("Failed accept4") != std::string::npos; },
                         absl::Seconds(30)))
      << bridge.Log();
  // The process is now at (or within a descriptor or two of) its limit: browsers take what is
  // left until the WebSocket listener's accept fails too.
  SilentConnections browsers;
  const std::string ws_failed = "accept on port " + std::to_string(bridge.ports().ws) + " failed";
  ASSERT_TRUE(Eventually(
      [&] {
        if (bridge.Log().find(ws_failed) != std::string::npos) return true;
        browsers.Open(bridge.ports().ws, 1);
        absl::SleepFor(absl::Milliseconds(50));
        return false;
      },
      absl::Seconds(30)))
      << bridge.Log();
  browsers.CloseAll();

  // Descriptors come back, but gRPC's listener stays dead: readiness says so, naming it.
  flood.CloseAll();
  std::optional<HttpReply> ready;
  EXPECT_TRUE(Eventually(
      [&] {
        ready = bridge.Admin("/readyz");
        return ready.has_value() && ready->status == 503u &&
               ready->body.find("WebSocket") == std::string::npos;
      },
      absl::Seconds(30)))
      << (ready.has_value() ? ready->body : "no answer") << "\n"
      << bridge.Log();
  ASSERT_TRUE(ready.has_value());
  EXPECT_THAT(ready->body, HasSubstr("gRPC port 127.0.0.1:" + std::to_string(bridge.ports().grpc)));
  EXPECT_THAT(ready->body, Not(HasSubstr("draining")));
  // Each WebSocket listener's failures were one burst: one line when it began, one when it ended
  // (not one per 50 ms retry).
  EXPECT_TRUE(Eventually(
      [&] {
        return bridge.Log().find("accepting on port " + std::to_string(bridge.ports().ws) +
                                 " again") != std::string::npos;
      },
      absl::Seconds(10)))
      << bridge.Log();
  EXPECT_LE(CountLines(bridge.Log(), ws_failed), 2u) << bridge.Log();  // 2 I/O threads
  // Every WebSocket listener accepts again (the kernel spreads connections over them).
  for (int i = 0; i < 6; ++i) {
    EXPECT_NE(WsClient::Connect(bridge.ports().ws, "/ws"), nullptr) << "browser " << i;
  }
}

TEST(DescriptorLimitTest, TheSoftLimitIsRaisedToTheHardOneAtStart) {
  SKIP_UNDER_SANITIZERS();
  ChildBridge bridge(DescriptorLimit{256, 512});
  ASSERT_TRUE(bridge.started()) << bridge.Log();
  EXPECT_THAT(bridge.Log(), HasSubstr("descriptor limit: soft 256 -> 512 (hard 512)"));
  EXPECT_EQ(bridge.Metric("wsbridge_descriptor_limit"), 512);
  // The automatic reserve: max(128, 10% of 512).
  EXPECT_EQ(bridge.Metric("wsbridge_websocket_connection_budget"), 512 - 128);
}

}  // namespace
}  // namespace wsbridge::testing
