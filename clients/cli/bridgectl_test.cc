// bridgectl as a user runs it: the real binary as a child process against an in-process bridge,
// one story per command. Each checks the exit code, what the command printed, and what the
// browsers (WsClient) received or the bridge now holds.
#include <signal.h>

#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "support/child_process.h"
#include "support/eventually.h"
#include "support/test_bridge.h"
#include "support/test_certificates.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

struct Outcome {
  std::optional<int> exit_code;
  std::vector<std::string> lines;  // stdout
  std::string errors;              // stderr
};

// The environment of every run: nothing inherited from the developer's shell.
const std::map<std::string, std::string> kCleanEnvironment = {{"WSBRIDGE_TARGET", ""},
                                                              {"WSBRIDGE_API_KEY", ""}};

// Runs bridgectl to its end (these commands end by themselves).
Outcome RunBridgectl(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& environment = kCleanEnvironment) {
  ChildProcess child(BRIDGECTL_BINARY, args, environment);
  Outcome outcome;
  while (std::optional<std::string> line = child.ReadStdoutLine(absl::Seconds(30))) {
    outcome.lines.push_back(*line);
  }
  outcome.exit_code = child.WaitExit(absl::Seconds(30));
  outcome.errors = child.Stderr();
  return outcome;
}

std::string Target(TestBridge& bridge) {
  return absl::StrCat("--target=127.0.0.1:", bridge.grpc_port());
}

template <typename Message>
Message FromJson(const std::string& json) {
  Message message;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status << ": " << json;
  return message;
}

TEST(BridgectlTest, PushTextToASessionAndBinaryToAUser) {
  TestBridge bridge;
  auto alice = bridge.ConnectUser("alice");
  ASSERT_NE(alice, nullptr);

  Outcome outcome = RunBridgectl(
      {"push", Target(bridge), absl::StrCat("--session=", alice->session_id()), "--text=hi"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  ASSERT_THAT(outcome.lines, ElementsAre(StartsWith("{")));
  const auto response = FromJson<v1::PushResponse>(outcome.lines[0]);
  EXPECT_EQ(response.matched(), 1u);
  EXPECT_EQ(response.queued(), 1u);
  EXPECT_THAT(outcome.lines[0], HasSubstr("\"dropped\":0"));  // zeros are printed too
  std::optional<WsMessage> message = alice->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_FALSE(message->binary);
  EXPECT_EQ(message->data, "hi");

  outcome = RunBridgectl({"push", Target(bridge), "--user", "alice", "--binary_base64=AAEC/w=="});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  message = alice->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_TRUE(message->binary);
  EXPECT_EQ(message->data, std::string("\x00\x01\x02\xff", 4));
}

TEST(BridgectlTest, BroadcastToATopicAndToAllButExcluded) {
  TestBridge bridge;
  auto first = bridge.ConnectAnonymous("topics=news");
  auto second = bridge.ConnectAnonymous("topics=news");
  auto outsider = bridge.ConnectAnonymous();
  ASSERT_TRUE(first && second && outsider);

  Outcome outcome = RunBridgectl({"broadcast", Target(bridge), "--topic=news", "--text=extra"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  ASSERT_EQ(outcome.lines.size(), 1u);
  EXPECT_EQ(FromJson<v1::BroadcastResponse>(outcome.lines[0]).matched(), 2u);
  EXPECT_EQ(first->NextMessage()->data, "extra");
  EXPECT_EQ(second->NextMessage()->data, "extra");

  outcome = RunBridgectl({"broadcast", Target(bridge), "--all",
                          absl::StrCat("--exclude=", first->session_id()), "--text=all"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_EQ(FromJson<v1::BroadcastResponse>(outcome.lines.at(0)).matched(), 2u);
  EXPECT_EQ(second->NextMessage()->data, "all");
  EXPECT_EQ(outsider->NextMessage()->data, "all");
  EXPECT_FALSE(first->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST(BridgectlTest, SubscribeThenUnsubscribe) {
  TestBridge bridge;
  auto alice = bridge.ConnectUser("alice");
  ASSERT_NE(alice, nullptr);

  Outcome outcome = RunBridgectl({"subscribe", Target(bridge), "--user=alice", "--topic=sports"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_THAT(outcome.lines, ElementsAre(R"({"sessions":1})"));
  outcome = RunBridgectl({"broadcast", Target(bridge), "--topic=sports", "--text=goal"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_EQ(alice->NextMessage()->data, "goal");

  outcome = RunBridgectl({"unsubscribe", Target(bridge),
                          absl::StrCat("--session=", alice->session_id()), "--topic=sports"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_THAT(outcome.lines, ElementsAre(R"({"sessions":1})"));
  outcome = RunBridgectl({"broadcast", Target(bridge), "--topic=sports", "--text=again"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_EQ(FromJson<v1::BroadcastResponse>(outcome.lines.at(0)).matched(), 0u);
}

TEST(BridgectlTest, DisconnectWithCodeAndReason) {
  TestBridge bridge;
  auto alice = bridge.ConnectUser("alice");
  ASSERT_NE(alice, nullptr);

  const Outcome outcome =
      RunBridgectl({"disconnect", Target(bridge), absl::StrCat("--session=", alice->session_id()),
                    "--code=4001", "--reason=go away"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_THAT(outcome.lines, ElementsAre(R"({"sessions":1})"));
  const std::optional<WsClose> close = alice->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 4001);
  EXPECT_EQ(close->reason, "go away");
}

TEST(BridgectlTest, SessionsListPagesAndGet) {
  TestBridge bridge;
  auto a = bridge.ConnectUser("alice", "topics=news");
  auto b = bridge.ConnectUser("alice");
  auto c = bridge.ConnectUser("alice");
  auto bob = bridge.ConnectUser("bob");
  ASSERT_TRUE(a && b && c && bob);

  // One page, and the token for the next.
  Outcome outcome =
      RunBridgectl({"sessions", "list", Target(bridge), "--user=alice", "--page_size=2"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  ASSERT_EQ(outcome.lines.size(), 1u);
  const auto page = FromJson<v1::ListSessionsResponse>(outcome.lines[0]);
  EXPECT_EQ(page.sessions_size(), 2);
  ASSERT_FALSE(page.next_page_token().empty());
  outcome = RunBridgectl({"sessions", "list", Target(bridge), "--user=alice", "--page_size=2",
                          absl::StrCat("--page_token=", page.next_page_token())});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_EQ(FromJson<v1::ListSessionsResponse>(outcome.lines.at(0)).sessions_size(), 1);

  // --all follows every page.
  outcome =
      RunBridgectl({"sessions", "list", Target(bridge), "--user=alice", "--page_size=1", "--all"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  const auto all = FromJson<v1::ListSessionsResponse>(outcome.lines.at(0));
  std::vector<std::string> ids;
  for (const v1::Session& session : all.sessions()) ids.push_back(session.session_id());
  EXPECT_THAT(ids, UnorderedElementsAre(a->session_id(), b->session_id(), c->session_id()));
  EXPECT_TRUE(all.next_page_token().empty());

  outcome = RunBridgectl({"sessions", "get", Target(bridge), a->session_id()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  const auto session = FromJson<v1::Session>(outcome.lines.at(0));
  EXPECT_EQ(session.session_id(), a->session_id());
  EXPECT_EQ(session.user_id(), "alice");
  EXPECT_THAT(session.topics(), ElementsAre("news"));

  outcome = RunBridgectl({"sessions", "get", Target(bridge), "no-such-session"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.errors, StartsWith("bridgectl: sessions get: NOT_FOUND: "));
}

// Connects browsers of `user` until `events` (a running `bridgectl events` that includes
// `opened`) prints a line, which proves its stream is registered; returns that line.
std::optional<std::string> WaitUntilStreaming(TestBridge& bridge, ChildProcess& events,
                                              std::vector<std::unique_ptr<WsClient>>& browsers,
                                              const std::string& user = "carol") {
  std::optional<std::string> line;
  Eventually(
      [&] {
        browsers.push_back(bridge.ConnectUser(user));
        line = events.ReadStdoutLine(absl::Milliseconds(200));
        return line.has_value();
      },
      absl::Seconds(20));
  return line;
}

TEST(BridgectlTest, EventsTailPrintsJsonLinesAndEndsCleanlyOnInterrupt) {
  TestBridge bridge;
  ChildProcess events(BRIDGECTL_BINARY, {"events", Target(bridge), "--kinds=opened"},
                      kCleanEnvironment);
  std::vector<std::unique_ptr<WsClient>> browsers;
  const std::optional<std::string> line = WaitUntilStreaming(bridge, events, browsers);
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("\"opened\""));
  const auto event = FromJson<v1::Event>(*line);
  EXPECT_TRUE(event.has_opened());
  EXPECT_EQ(event.user_id(), "carol");
  EXPECT_GT(event.sequence(), 0u);

  // Every later browser is one more line, each a whole JSON object.
  browsers.push_back(bridge.ConnectUser("dave"));
  std::optional<std::string> dave;
  ASSERT_TRUE(Eventually(
      [&] {
        dave = events.ReadStdoutLine(absl::Milliseconds(200));
        return dave.has_value() && FromJson<v1::Event>(*dave).user_id() == "dave";
      },
      absl::Seconds(20)));

  events.Signal(SIGINT);
  EXPECT_EQ(events.WaitExit(absl::Seconds(20)), 0);
  EXPECT_THAT(events.Stderr(), IsEmpty());
}

TEST(BridgectlTest, EventsErrorIsOneLineWithItsStatus) {
  TestBridge bridge;
  // A group's members must ask for the same kinds: once one member streams, another asking for
  // other kinds is refused.
  ChildProcess member(BRIDGECTL_BINARY, {"events", Target(bridge), "--kinds=opened", "--group=g"},
                      kCleanEnvironment);
  std::vector<std::unique_ptr<WsClient>> browsers;
  ASSERT_TRUE(WaitUntilStreaming(bridge, member, browsers).has_value());
  const Outcome outcome = RunBridgectl({"events", Target(bridge), "--kinds=message", "--group=g"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.errors, MatchesRegex("bridgectl: events: FAILED_PRECONDITION: [^\n]*\n"));
  member.Signal(SIGINT);
  EXPECT_EQ(member.WaitExit(absl::Seconds(20)), 0);
}

TEST(BridgectlTest, TickerSendsCountUpdatesToSubscribers) {
  TestBridge bridge;
  auto subscriber = bridge.ConnectAnonymous("topics=lobby");
  ASSERT_NE(subscriber, nullptr);

  const Outcome outcome =
      RunBridgectl({"ticker", Target(bridge), "--topic=lobby", "--interval=10ms",
                    "--symbols=AAPL,MSFT", "--count=5", "--seed=3"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.errors;
  ASSERT_EQ(outcome.lines.size(), 5u);
  for (size_t i = 0; i < outcome.lines.size(); ++i) {
    EXPECT_THAT(outcome.lines[i],
                MatchesRegex(absl::StrCat(R"(\{"symbol":")", i % 2 == 0 ? "AAPL" : "MSFT",
                                          R"(","price":[0-9]+\.[0-9][0-9],"time":[0-9]+\})")));
    const std::optional<WsMessage> message = subscriber->NextMessage();
    ASSERT_TRUE(message.has_value()) << i;
    EXPECT_EQ(message->data, outcome.lines[i]);
  }
  EXPECT_FALSE(subscriber->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST(BridgectlTest, TickerEndsCleanlyOnInterrupt) {
  TestBridge bridge;
  ChildProcess ticker(BRIDGECTL_BINARY, {"ticker", Target(bridge), "--interval=20ms"},
                      kCleanEnvironment);
  ASSERT_TRUE(ticker.ReadStdoutLine(absl::Seconds(20)).has_value());
  ticker.Signal(SIGINT);
  EXPECT_EQ(ticker.WaitExit(absl::Seconds(20)), 0);
  EXPECT_THAT(ticker.Stderr(), IsEmpty());
}

TEST(BridgectlTest, AGrpcErrorIsOneLineNamingTheStatusAndExits1) {
  TestBridge bridge;
  const Outcome outcome = RunBridgectl({"push", Target(bridge), "--text=x"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.lines, IsEmpty());
  EXPECT_THAT(outcome.errors, MatchesRegex("bridgectl: push: INVALID_ARGUMENT: [^\n]+\n"));
}

TEST(BridgectlTest, ApiKeyFromFlagOrEnvironment) {
  TestBridge bridge([](Config& config) { config.api.api_key = "s3cret"; });
  auto alice = bridge.ConnectUser("alice");
  ASSERT_NE(alice, nullptr);

  Outcome outcome = RunBridgectl({"push", Target(bridge), "--user=alice", "--text=1"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.errors, StartsWith("bridgectl: push: UNAUTHENTICATED: "));
  outcome = RunBridgectl({"push", Target(bridge), "--user=alice", "--text=1", "--api_key=wrong"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.errors, StartsWith("bridgectl: push: UNAUTHENTICATED: "));

  outcome = RunBridgectl({"push", Target(bridge), "--user=alice", "--text=2", "--api_key=s3cret"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_EQ(alice->NextMessage()->data, "2");
  outcome = RunBridgectl({"push", "--user=alice", "--text=3"},
                         {{"WSBRIDGE_TARGET", absl::StrCat("127.0.0.1:", bridge.grpc_port())},
                          {"WSBRIDGE_API_KEY", "s3cret"}});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.errors;
  EXPECT_EQ(alice->NextMessage()->data, "3");
}

TEST(BridgectlTest, TlsAgainstThePlaintextPortFailsWithUnavailable) {
  TestBridge bridge;
  const Outcome outcome =
      RunBridgectl({"sessions", "list", Target(bridge), "--tls", "--timeout=5s"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.errors, MatchesRegex("bridgectl: sessions list: UNAVAILABLE: [^\n]+\n"));
}

// A bridge whose gRPC port speaks TLS (mutual TLS when `client_ca` is set), certificates made for
// the test, and a browser on it.
struct TlsBridge {
  explicit TlsBridge(bool mutual)
      : directory(MakeTempDirectory("bridgectl-tls")),
        ca(directory, "test"),
        server(ca.Issue("bridge", "server")),
        client(ca.Issue("bridgectl", "client", /*client=*/true)) {
    Config config = DefaultTestConfig();
    config.listeners.grpc_tls_cert = server.cert;
    config.listeners.grpc_tls_key = server.key;
    if (mutual) config.listeners.grpc_tls_client_ca = ca.cert_path();
    auto started = BridgeServer::Start(config);
    EXPECT_TRUE(started.ok()) << started.status();
    if (started.ok()) node = std::move(*started);
  }
  // bridgectl checks the bridge's certificate names this address (IP:127.0.0.1, as issued).
  std::string target() const { return absl::StrCat("--target=127.0.0.1:", node->ports().grpc); }

  std::string directory;
  TestCa ca;
  CertificateFiles server;
  CertificateFiles client;
  std::unique_ptr<BridgeServer> node;
};

TEST(BridgectlTest, TlsBridgeWithItsCaWorksAndPlaintextFails) {
  TlsBridge bridge(/*mutual=*/false);
  ASSERT_NE(bridge.node, nullptr);
  auto browser = WsClient::Connect(bridge.node->ports().ws, "/ws");
  ASSERT_NE(browser, nullptr);
  Outcome outcome = RunBridgectl({"push", bridge.target(), "--tls_ca_file=" + bridge.ca.cert_path(),
                                  "--session=" + browser->session_id(), "--text=over tls"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.errors;
  std::optional<WsMessage> message = browser->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data, "over tls");

  // Without the CA the bridge's certificate is not trusted; without TLS there is no talking.
  outcome = RunBridgectl({"sessions", "list", bridge.target(), "--tls", "--timeout=5s"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.errors, HasSubstr("UNAVAILABLE"));
  outcome = RunBridgectl({"sessions", "list", bridge.target(), "--timeout=5s"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.errors, HasSubstr("UNAVAILABLE"));
}

TEST(BridgectlTest, MutualTlsBridgeNeedsTheClientCertificate) {
  TlsBridge bridge(/*mutual=*/true);
  ASSERT_NE(bridge.node, nullptr);
  Outcome outcome = RunBridgectl(
      {"sessions", "list", bridge.target(), "--tls_ca_file=" + bridge.ca.cert_path(),
       "--tls_cert_file=" + bridge.client.cert, "--tls_key_file=" + bridge.client.key});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.errors;

  outcome = RunBridgectl({"sessions", "list", bridge.target(),
                          "--tls_ca_file=" + bridge.ca.cert_path(), "--timeout=5s"});
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.errors, HasSubstr("UNAVAILABLE"));
}

TEST(BridgectlTest, AnUnreadableTlsFileIsAUsageError) {
  const Outcome outcome = RunBridgectl({"sessions", "list", "--tls_ca_file=/nonexistent/ca.pem"});
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_EQ(outcome.errors,
            "bridgectl: sessions list: --tls_ca_file: cannot read /nonexistent/ca.pem\n");
}

TEST(BridgectlTest, UsageErrorsExit2AndHelpExits0) {
  Outcome outcome = RunBridgectl({"push", "--bogus"});
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_THAT(outcome.errors, StartsWith("bridgectl: push: unknown flag --bogus\n"));
  outcome = RunBridgectl({});
  EXPECT_EQ(outcome.exit_code, 2);

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"push", "--help"}, {"sessions", "--help"}, {"events", "-h"}}) {
    outcome = RunBridgectl(args);
    EXPECT_EQ(outcome.exit_code, 0) << args[0];
    ASSERT_FALSE(outcome.lines.empty()) << args[0];
    EXPECT_THAT(outcome.lines[0], StartsWith("usage: bridgectl")) << args[0];
  }
}

}  // namespace
}  // namespace wsbridge::testing
