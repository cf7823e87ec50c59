// The admin HTTP port at the byte level: what a load balancer's HEAD probe, a scanner or a
// misdirected TLS client gets back. (grpc_services_test.cc covers the GET answers themselves.)
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/raw_ws_client.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sends raw bytes to the admin port and returns everything it answers until it closes the
// connection ("" if it is still open after 5 s).
std::string AdminExchange(TestBridge& bridge, const std::string& bytes) {
  RawWsClient socket(bridge.admin_port());
  socket.Write(bytes);
  return socket.ReadToEnd().value_or("");
}

std::string Request(const std::string& method, const std::string& target) {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

TEST(AdminHttpTest, HeadGetsTheHeadersOfAGetWithoutTheBody) {
  TestBridge bridge;
  for (const char* path : {"/healthz", "/readyz", "/nope"}) {
    SCOPED_TRACE(path);
    const std::string get = AdminExchange(bridge, Request("GET", path));
    const std::string head = AdminExchange(bridge, Request("HEAD", path));
    const size_t end_of_head = get.find("\r\n\r\n");
    ASSERT_NE(end_of_head, std::string::npos) << get;
    // The same status line and headers, Content-Length included, and not a byte more.
    EXPECT_EQ(head, get.substr(0, end_of_head + 4));
    EXPECT_EQ(HeaderValue(head, "Content-Length"), std::to_string(get.size() - end_of_head - 4));
  }

  const std::string metrics = AdminExchange(bridge, Request("HEAD", "/metrics"));
  EXPECT_THAT(metrics, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(metrics, EndsWith("\r\n\r\n"));
  EXPECT_EQ(metrics.find("wsbridge_"), std::string::npos) << "the body was sent: " << metrics;
  EXPECT_GT(std::stoul(HeaderValue(metrics, "Content-Length")), 0u);
}

TEST(AdminHttpTest, GarbageInsteadOfHttpGets400AndThePortKeepsServing) {
  TestBridge bridge;
  const std::string tls = AdminExchange(bridge, "\x16\x03\x01 this is not http\r\n\r\n");
  EXPECT_THAT(tls, StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(tls, HasSubstr("bad request"));
  EXPECT_THAT(AdminExchange(bridge, "hello\r\n\r\n"), StartsWith("HTTP/1.1 400"));
  const std::string oversized =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(32 * 1024, 'a') + "\r\n\r\n";
  EXPECT_THAT(AdminExchange(bridge, oversized), StartsWith("HTTP/1.1 400"));

  EXPECT_EQ(HttpGet(bridge.admin_port(), "/healthz").status, 200u);
}

TEST(AdminHttpTest, OtherMethodsGet405NamingTheAllowedOnes) {
  TestBridge bridge;
  const std::string answer = AdminExchange(bridge, Request("POST", "/healthz"));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 405"));
  EXPECT_EQ(HeaderValue(answer, "Allow"), "GET, HEAD");
}

}  // namespace
}  // namespace wsbridge::testing
