// What the `wsbridge` binary logs with --log_format=json: one JSON object per line on stderr, a
// line for each session's opening and closing (session id, user id, close code, initiator) and
// for each refused handshake (status, reason); and never a token or a message payload, though
// both went by (a token in the URL, a refused one, messages both ways). The drain of SIGINT
// ends it with exit code 0.
#include <signal.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/child_process.h"
#include "support/events_reader.h"
#include "support/test_bridge.h"
#include "support/ws_client.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Ports {
  int grpc = 0, ws = 0;
};

std::optional<Ports> ParseStartupLine(const std::string& line) {
  static const std::regex kPattern(R"(^wsbridge listening grpc_port=(\d+) ws_port=(\d+) .*$)");
  std::smatch match;
  if (!std::regex_match(line, match, kPattern)) return std::nullopt;
  return Ports{std::stoi(match[1]), std::stoi(match[2])};
}

// Every line of `text` as a JSON object; a line that is not one fails the test.
std::vector<google::protobuf::Struct> JsonLines(const std::string& text) {
  std::vector<google::protobuf::Struct> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    google::protobuf::Struct parsed;
    const auto status = google::protobuf::util::JsonStringToMessage(line, &parsed);
    EXPECT_TRUE(status.ok()) << "not a JSON object: " << line;
    lines.push_back(std::move(parsed));
  }
  return lines;
}

std::string Text(const google::protobuf::Struct& line, const std::string& key) {
  auto it = line.fields().find(key);
  return it == line.fields().end() ? "" : it->second.string_value();
}

TEST(LogsTest, JsonLinesNameSessionsAndRefusalsButNeverTokensOrPayloads) {
  TokenSpec user;
  user.user_id = "log-user";
  TokenSpec intruder;
  intruder.user_id = "intruder";
  intruder.secret = "not-the-bridge-secret";
  const std::string token = MakeToken(user);
  const std::string forged = MakeToken(intruder);
  const std::string to_browser = "pushed-payload-4f1d9c";
  const std::string from_browser = "browser-payload-8be27a";
  ChildProcess bridge(
      WSBRIDGE_BINARY,
      {"--bind=127.0.0.1", "--grpc_port=0", "--ws_port=0", "--admin_port=0",
       std::string("--jwt_secret=") + kTestSecret, "--log_format=json", "--drain_seconds=2"});
  auto line = bridge.ReadStdoutLine(absl::Seconds(20));
  ASSERT_TRUE(line.has_value()) << bridge.Stderr();
  auto ports = ParseStartupLine(*line);
  ASSERT_TRUE(ports.has_value()) << *line;
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(ports->grpc),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Bridge::NewStub(channel);
  v1::EventsRequest messages;
  messages.add_kinds(v1::EVENT_KIND_MESSAGE);
  EventsReader reader(*stub, messages);

  HttpAnswer refused;
  EXPECT_EQ(
      WsClient::Connect(static_cast<uint16_t>(ports->ws), "/ws?token=" + forged, {}, &refused),
      nullptr);
  EXPECT_EQ(refused.status, 401u);
  auto browser = WsClient::Connect(static_cast<uint16_t>(ports->ws), "/ws?token=" + token);
  ASSERT_TRUE(browser);

  // Messages both ways, each seen arriving.
  v1::PushRequest push;
  push.add_session_ids(browser->session_id());
  push.mutable_message()->set_text(to_browser);
  v1::PushResponse pushed;
  ASSERT_TRUE(stub->Push(CallContext().get(), push, &pushed).ok());
  auto received = browser->NextMessage(absl::Seconds(10));
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->data, to_browser);
  browser->SendText(from_browser);
  auto event = reader.Next(absl::Seconds(10));
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->message().message().text(), from_browser);

  bridge.Signal(SIGINT);
  auto close = browser->WaitClosed(absl::Seconds(15));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1001);
  EXPECT_EQ(bridge.WaitExit(absl::Seconds(20)), 0) << bridge.Stderr();

  const std::string log = bridge.Stderr();
  bool opened = false, closed = false, refusal = false;
  for (const google::protobuf::Struct& entry : JsonLines(log)) {
    for (const char* key : {"time", "level", "logger", "message"}) {
      EXPECT_TRUE(entry.fields().contains(key)) << key;
    }
    const std::string message = Text(entry, "message");
    if (message == "session opened" && Text(entry, "session_id") == browser->session_id()) {
      opened = true;
      EXPECT_EQ(Text(entry, "user_id"), "log-user");
      EXPECT_EQ(Text(entry, "level"), "info");
    }
    if (message == "session closed" && Text(entry, "session_id") == browser->session_id()) {
      closed = true;
      EXPECT_EQ(Text(entry, "user_id"), "log-user");
      EXPECT_EQ(entry.fields().at("code").number_value(), 1001);
      EXPECT_EQ(Text(entry, "initiator"), "server");
    }
    if (message == "handshake refused") {
      refusal = true;
      EXPECT_EQ(entry.fields().at("status").number_value(), 401);
      EXPECT_THAT(Text(entry, "reason"), Not(HasSubstr("log-user")));
    }
  }
  EXPECT_TRUE(opened) << log;
  EXPECT_TRUE(closed) << log;
  EXPECT_TRUE(refusal) << log;
  // Neither token, nor any of their three parts, nor the secret, nor a payload.
  for (const std::string& secret : {token, forged}) {
    size_t start = 0;
    for (size_t dot = secret.find('.'); start <= secret.size();
         start = dot + 1, dot = secret.find('.', start)) {
      const std::string part = secret.substr(start, dot - start);
      EXPECT_THAT(log, Not(HasSubstr(part))) << "a token part is logged";
      if (dot == std::string::npos) break;
    }
  }
  EXPECT_THAT(log, Not(HasSubstr(kTestSecret)));
  EXPECT_THAT(log, Not(HasSubstr(to_browser)));
  EXPECT_THAT(log, Not(HasSubstr(from_browser)));
}

}  // namespace
}  // namespace wsbridge::testing
