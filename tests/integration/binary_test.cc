// The `wsbridge` binary as an operator runs it: flags and WSBRIDGE_* variables, the startup line
// that scripts parse, exit codes for bad configuration, and a clean exit on SIGTERM.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include <boost/asio/ip/tcp.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/child_process.h"
#include "support/ws_client.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kFreePorts = {"--bind=127.0.0.1", "--grpc_port=0", "--ws_port=0",
                                             "--admin_port=0"};

std::vector<std::string> With(std::vector<std::string> extra) {
  std::vector<std::string> args = kFreePorts;
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

struct StartupLine {
  int grpc = 0, ws = 0, admin = 0;
  std::string node_id;
};

std::optional<StartupLine> ParseStartupLine(const std::string& line) {
  static const std::regex kPattern(
      R"(^wsbridge listening grpc_port=(\d+) ws_port=(\d+) admin_port=(\d+) node_id=(\S+)$)");
  std::smatch match;
  if (!std::regex_match(line, match, kPattern)) return std::nullopt;
  return StartupLine{std::stoi(match[1]), std::stoi(match[2]), std::stoi(match[3]), match[4]};
}

TEST(BinaryTest, PrintsBoundPortsOnOneLineServesAndExitsZeroOnSigterm) {
  ChildProcess bridge(WSBRIDGE_BINARY, With({"--allow_anonymous", "--public_topics=demo"}));
  auto line = bridge.ReadStdoutLine(absl::Seconds(20));
  ASSERT_TRUE(line.has_value()) << bridge.Stderr();
  auto ports = ParseStartupLine(*line);
  ASSERT_TRUE(ports.has_value()) << *line;
  EXPECT_GT(ports->grpc, 0);
  EXPECT_GT(ports->ws, 0);
  EXPECT_GT(ports->admin, 0);
  EXPECT_THAT(ports->node_id, ::testing::StartsWith("node-"));

  auto browser = WsClient::Connect(static_cast<uint16_t>(ports->ws), "/ws?topics=demo");
  ASSERT_TRUE(browser) << "anonymous browser could not connect";

  bridge.Signal(SIGTERM);
  // The browser is told the server is going away.
  auto close = browser->WaitClosed(absl::Seconds(10));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1001);
  auto code = bridge.WaitExit(absl::Seconds(15));
  ASSERT_TRUE(code.has_value()) << "did not exit after SIGTERM";
  EXPECT_EQ(*code, 0) << bridge.Stderr();
}

TEST(BinaryTest, EnvironmentVariablesConfigureItAndFlagsWin) {
  ChildProcess bridge(WSBRIDGE_BINARY, With({"--ws_path=/from-flag"}),
                      {{"WSBRIDGE_WS_PATH", "/from-env"},
                       {"WSBRIDGE_ALLOW_ANONYMOUS", "true"},
                       {"WSBRIDGE_NODE_ID", "edge-7"}});
  auto line = bridge.ReadStdoutLine(absl::Seconds(20));
  ASSERT_TRUE(line.has_value()) << bridge.Stderr();
  auto ports = ParseStartupLine(*line);
  ASSERT_TRUE(ports.has_value()) << *line;
  EXPECT_EQ(ports->node_id, "edge-7");
  HttpAnswer answer;
  auto browser = WsClient::Connect(static_cast<uint16_t>(ports->ws), "/from-flag", {}, &answer);
  EXPECT_EQ(answer.status, 101u) << "WSBRIDGE_ALLOW_ANONYMOUS or --ws_path not applied";
  HttpAnswer env_path;
  WsClient::Connect(static_cast<uint16_t>(ports->ws), "/from-env", {}, &env_path);
  EXPECT_EQ(env_path.status, 404u);
  bridge.Signal(SIGTERM);
  EXPECT_EQ(bridge.WaitExit(absl::Seconds(15)), 0);
}

TEST(BinaryTest, BadValuesExitTwoNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string named;
  };
  for (const Case& c : std::vector<Case>{
           {{"--grpc_port=70000"}, {}, "--grpc_port"},
           {{"--ws_port=abc"}, {}, "--ws_port"},
           {{"--max_message_bytes=0"}, {}, "--max_message_bytes"},
           {{"--no_such_flag=1"}, {}, "--no_such_flag"},
           {{"--ws_path=noslash"}, {}, "--ws_path"},
           {{}, {{"WSBRIDGE_SEND_QUEUE_BYTES", "lots"}}, "WSBRIDGE_SEND_QUEUE_BYTES"},
           {{"--jwt_public_key=/nonexistent/key.pem"}, {}, "--jwt_public_key"},
       }) {
    ChildProcess bridge(WSBRIDGE_BINARY, With(c.args), c.env);
    auto code = bridge.WaitExit(absl::Seconds(15));
    ASSERT_TRUE(code.has_value()) << c.named;
    EXPECT_EQ(*code, 2) << c.named;
    EXPECT_THAT(bridge.Stderr(), HasSubstr(c.named));
  }
}

TEST(BinaryTest, PortAlreadyInUseFailsWithAMessage) {
  ChildProcess first(WSBRIDGE_BINARY, With({}));
  auto line = first.ReadStdoutLine(absl::Seconds(20));
  ASSERT_TRUE(line.has_value());
  auto ports = ParseStartupLine(*line);
  ASSERT_TRUE(ports.has_value());
  ChildProcess second(WSBRIDGE_BINARY,
                      {"--bind=127.0.0.1", "--grpc_port=" + std::to_string(ports->grpc),
                       "--ws_port=0", "--admin_port=0"});
  auto code = second.WaitExit(absl::Seconds(15));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_THAT(second.Stderr(), HasSubstr(std::to_string(ports->grpc)));
  first.Signal(SIGTERM);
  EXPECT_EQ(first.WaitExit(absl::Seconds(15)), 0);
}

bool PortIsFree(uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(boost::asio::ip::tcp::v4(), ec);
  // As the bridge binds: connections lingering in TIME_WAIT do not make a port busy.
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind({boost::asio::ip::tcp::v4(), port}, ec);
  return !ec;
}

TEST(BinaryTest, WithNoFlagsAtAllItServesOnTheDefaultPorts) {
  for (uint16_t port : {50051, 8080, 9090}) {
    if (!PortIsFree(port)) GTEST_SKIP() << "default port " << port << " is taken on this machine";
  }
  ChildProcess bridge(WSBRIDGE_BINARY, {});
  auto line = bridge.ReadStdoutLine(absl::Seconds(20));
  ASSERT_TRUE(line.has_value()) << bridge.Stderr();
  auto ports = ParseStartupLine(*line);
  ASSERT_TRUE(ports.has_value()) << *line;
  EXPECT_EQ(ports->grpc, 50051);
  EXPECT_EQ(ports->ws, 8080);
  EXPECT_EQ(ports->admin, 9090);
  // Secure by default: no key and no --allow_anonymous means browsers are refused, and it says so.
  HttpAnswer answer;
  WsClient::Connect(8080, "/ws", {}, &answer);
  EXPECT_EQ(answer.status, 401u);
  bridge.Signal(SIGTERM);
  EXPECT_EQ(bridge.WaitExit(absl::Seconds(15)), 0);
  EXPECT_THAT(bridge.Stderr(), HasSubstr("--allow_anonymous"));
}

TEST(BinaryTest, HelpListsEveryFlagWithItsEnvironmentVariable) {
  ChildProcess help(WSBRIDGE_BINARY, {"--help"});
  std::string text;
  while (auto line = help.ReadStdoutLine(absl::Seconds(10))) text += *line + "\n";
  EXPECT_EQ(help.WaitExit(absl::Seconds(10)), 0);
  for (const char* flag : {"bind", "grpc_port", "ws_port", "admin_port", "ws_path", "io_threads",
                           "jwt_secret", "jwt_public_key", "allow_anonymous", "public_topics",
                           "max_message_bytes", "send_queue_bytes"}) {
    EXPECT_THAT(text, HasSubstr(std::string("--") + flag)) << flag;
  }
  EXPECT_THAT(text, HasSubstr("WSBRIDGE_GRPC_PORT"));
}

}  // namespace
}  // namespace wsbridge::testing
