// The argument parsing of bridgectl: every command's flags, both spellings of a flag, the
// environment, and the usage errors that exit 2.
#include "command_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsbridge::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<Invocation> Parse(std::vector<std::string> args, Environment environment = {}) {
  return ParseCommandLine(args, environment);
}

template <typename T>
T ParseAs(std::vector<std::string> args) {
  absl::StatusOr<Invocation> invocation = Parse(std::move(args));
  EXPECT_TRUE(invocation.ok()) << invocation.status();
  if (!invocation.ok()) return T{};
  const T* command = std::get_if<T>(&invocation->command);
  EXPECT_NE(command, nullptr) << "parsed as another command";
  return command != nullptr ? *command : T{};
}

std::string UsageErrorOf(std::vector<std::string> args, Environment environment = {}) {
  absl::StatusOr<Invocation> invocation = Parse(std::move(args), std::move(environment));
  EXPECT_FALSE(invocation.ok());
  if (invocation.ok()) return "";
  EXPECT_EQ(invocation.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(invocation.status().message());
}

TEST(BridgectlCommandLineTest, PushTakesTargetsAsListsAndBothFlagSpellings) {
  const auto push = ParseAs<PushCommand>(
      {"push", "--session=s1,s2", "--session", "s3", "--user=alice", "--text", "hello world"});
  EXPECT_THAT(push.session_ids, ElementsAre("s1", "s2", "s3"));
  EXPECT_THAT(push.user_ids, ElementsAre("alice"));
  EXPECT_EQ(push.message.kind, MessageOptions::Kind::kText);
  EXPECT_EQ(push.message.value, "hello world");
}

TEST(BridgectlCommandLineTest, BinaryPayloadsFromBase64OrAFile) {
  auto push = ParseAs<PushCommand>({"push", "--user=u", "--binary_base64=AAEC/w=="});
  EXPECT_EQ(push.message.kind, MessageOptions::Kind::kBinary);
  EXPECT_EQ(push.message.value, std::string("\x00\x01\x02\xff", 4));
  push = ParseAs<PushCommand>({"push", "--user=u", "--binary_file=/tmp/x.bin"});
  EXPECT_EQ(push.message.kind, MessageOptions::Kind::kBinaryFile);
  EXPECT_EQ(push.message.value, "/tmp/x.bin");
}

TEST(BridgectlCommandLineTest, OnlyOnePayloadAndValidBase64) {
  EXPECT_THAT(UsageErrorOf({"push", "--user=u", "--text=a", "--binary_base64=AA=="}),
              HasSubstr("only one of --text, --binary_file, --binary_base64"));
  EXPECT_THAT(UsageErrorOf({"push", "--user=u", "--binary_base64=!!"}),
              StartsWith("push: --binary_base64: not base64"));
}

TEST(BridgectlCommandLineTest, PushWithoutTargetOrPayloadIsLeftToTheBridge) {
  // The bridge names the missing field in its INVALID_ARGUMENT; the CLI does not guess it.
  const auto push = ParseAs<PushCommand>({"push"});
  EXPECT_TRUE(push.session_ids.empty());
  EXPECT_EQ(push.message.kind, MessageOptions::Kind::kNone);
}

TEST(BridgectlCommandLineTest, Broadcast) {
  auto broadcast =
      ParseAs<BroadcastCommand>({"broadcast", "--topic=a,b", "--exclude=s1", "--text=x"});
  EXPECT_THAT(broadcast.topics, ElementsAre("a", "b"));
  EXPECT_THAT(broadcast.exclude_session_ids, ElementsAre("s1"));
  EXPECT_FALSE(broadcast.all_sessions);
  broadcast = ParseAs<BroadcastCommand>({"broadcast", "--all", "--text", "x"});
  EXPECT_TRUE(broadcast.all_sessions);
  EXPECT_EQ(broadcast.message.value, "x");
  broadcast = ParseAs<BroadcastCommand>({"broadcast", "--all=false", "--topic=t"});
  EXPECT_FALSE(broadcast.all_sessions);
}

TEST(BridgectlCommandLineTest, SubscribeUnsubscribeDisconnect) {
  const auto subscribe = ParseAs<MembershipCommand>({"subscribe", "--user=u", "--topic=t1,t2"});
  EXPECT_TRUE(subscribe.subscribe);
  EXPECT_THAT(subscribe.topics, ElementsAre("t1", "t2"));
  const auto unsubscribe = ParseAs<MembershipCommand>({"unsubscribe", "--session=s", "--topic=t"});
  EXPECT_FALSE(unsubscribe.subscribe);
  EXPECT_THAT(unsubscribe.session_ids, ElementsAre("s"));
  const auto disconnect =
      ParseAs<DisconnectCommand>({"disconnect", "--session=s", "--code=4001", "--reason=bye"});
  EXPECT_EQ(disconnect.code, 4001u);
  EXPECT_EQ(disconnect.reason, "bye");
  EXPECT_THAT(UsageErrorOf({"disconnect", "--code=abc"}),
              StartsWith("disconnect: --code: not a number"));
}

TEST(BridgectlCommandLineTest, SessionsListAndGet) {
  absl::StatusOr<Invocation> invocation =
      Parse({"sessions", "list", "--user=u", "--page_size=2", "--page_token=tok", "--all"});
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->name, "sessions list");
  const auto& list = std::get<ListSessionsCommand>(invocation->command);
  EXPECT_EQ(list.user_id, "u");
  EXPECT_EQ(list.page_size, 2);
  EXPECT_EQ(list.page_token, "tok");
  EXPECT_TRUE(list.all_pages);

  EXPECT_EQ(ParseAs<GetSessionCommand>({"sessions", "get", "abc"}).session_id, "abc");
  EXPECT_THAT(UsageErrorOf({"sessions", "get"}), StartsWith("sessions get: needs one SESSION_ID"));
  EXPECT_THAT(UsageErrorOf({"sessions"}), HasSubstr("needs a sub-command: list or get"));
  EXPECT_THAT(UsageErrorOf({"sessions", "delete"}), HasSubstr("unknown command: sessions delete"));
  EXPECT_THAT(UsageErrorOf({"sessions", "list", "extra"}),
              StartsWith("sessions list: unexpected argument: extra"));
}

TEST(BridgectlCommandLineTest, EventsKindsGroupAfter) {
  const auto events =
      ParseAs<EventsCommand>({"events", "--kinds=opened,MESSAGE", "--group=g", "--after=42"});
  EXPECT_THAT(events.kinds, ElementsAre(v1::EVENT_KIND_OPENED, v1::EVENT_KIND_MESSAGE));
  EXPECT_EQ(events.group, "g");
  EXPECT_EQ(events.after, 42u);
  EXPECT_THAT(UsageErrorOf({"events", "--kinds=opened,bogus"}),
              HasSubstr("unknown kind bogus (kinds: opened, message, closed, error)"));
  EXPECT_THAT(UsageErrorOf({"events", "--after=-1"}), StartsWith("events: --after: not a number"));
}

TEST(BridgectlCommandLineTest, TickerDefaultsAndFlags) {
  auto ticker = ParseAs<TickerCommand>({"ticker"});
  EXPECT_EQ(ticker.topic, "prices");
  EXPECT_EQ(ticker.interval, absl::Milliseconds(500));
  EXPECT_THAT(ticker.symbols, ElementsAre("AAPL", "MSFT"));
  EXPECT_EQ(ticker.count, 0u);
  ticker = ParseAs<TickerCommand>(
      {"ticker", "--topic=fx", "--interval=20ms", "--symbols=EURUSD", "--count=5", "--seed=7"});
  EXPECT_EQ(ticker.topic, "fx");
  EXPECT_EQ(ticker.interval, absl::Milliseconds(20));
  EXPECT_THAT(ticker.symbols, ElementsAre("EURUSD"));
  EXPECT_EQ(ticker.count, 5u);
  EXPECT_EQ(ticker.seed, 7u);
  EXPECT_THAT(UsageErrorOf({"ticker", "--interval=0s"}),
              HasSubstr("not a positive duration like 500ms or 10s: 0s"));
  EXPECT_THAT(UsageErrorOf({"ticker", "--interval=500"}), HasSubstr("not a positive duration"));
  EXPECT_THAT(UsageErrorOf({"ticker", "--symbols="}), StartsWith("ticker: --symbols is empty"));
}

TEST(BridgectlCommandLineTest, GlobalFlagsBeforeOrAfterTheCommand) {
  absl::StatusOr<Invocation> invocation =
      Parse({"--target=h:1", "push", "--api_key", "k", "--timeout=3s", "--user=u"});
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->connection.target, "h:1");
  EXPECT_EQ(invocation->connection.api_key, "k");
  EXPECT_EQ(invocation->connection.timeout, absl::Seconds(3));
  EXPECT_FALSE(invocation->connection.tls);
}

TEST(BridgectlCommandLineTest, DefaultsAndEnvironmentAndFlagsWin) {
  absl::StatusOr<Invocation> invocation = Parse({"events"});
  ASSERT_TRUE(invocation.ok());
  EXPECT_EQ(invocation->connection.target, "127.0.0.1:50051");
  EXPECT_EQ(invocation->connection.api_key, "");
  EXPECT_EQ(invocation->connection.timeout, absl::Seconds(10));

  const Environment environment = {{"WSBRIDGE_TARGET", "env:2"}, {"WSBRIDGE_API_KEY", "ek"}};
  invocation = Parse({"events"}, environment);
  ASSERT_TRUE(invocation.ok());
  EXPECT_EQ(invocation->connection.target, "env:2");
  EXPECT_EQ(invocation->connection.api_key, "ek");
  invocation = Parse({"events", "--target=flag:3", "--api_key=fk"}, environment);
  ASSERT_TRUE(invocation.ok());
  EXPECT_EQ(invocation->connection.target, "flag:3");
  EXPECT_EQ(invocation->connection.api_key, "fk");
}

TEST(BridgectlCommandLineTest, TlsFlags) {
  absl::StatusOr<Invocation> invocation = Parse({"--tls", "events"});
  ASSERT_TRUE(invocation.ok());
  EXPECT_TRUE(invocation->connection.tls);

  // Any TLS file implies --tls.
  invocation =
      Parse({"events", "--tls_ca_file=ca.pem", "--tls_cert_file=c.pem", "--tls_key_file", "k.pem"});
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_TRUE(invocation->connection.tls);
  EXPECT_EQ(invocation->connection.tls_ca_file, "ca.pem");
  EXPECT_EQ(invocation->connection.tls_cert_file, "c.pem");
  EXPECT_EQ(invocation->connection.tls_key_file, "k.pem");

  EXPECT_THAT(UsageErrorOf({"events", "--tls_cert_file=c.pem"}),
              StartsWith("events: --tls_cert_file and --tls_key_file go together"));
  EXPECT_THAT(UsageErrorOf({"events", "--tls=maybe"}), HasSubstr("--tls: not true or false"));
}

TEST(BridgectlCommandLineTest, UsageErrors) {
  EXPECT_THAT(UsageErrorOf({}), HasSubstr("needs a command"));
  EXPECT_EQ(UsageErrorOf({"frobnicate"}), "unknown command: frobnicate");
  EXPECT_EQ(UsageErrorOf({"push", "--bogus=1"}), "push: unknown flag --bogus");
  // A command's flag is not a global one: before the command it is unknown.
  EXPECT_EQ(UsageErrorOf({"--text=x", "push"}), "unknown flag --text");
  EXPECT_EQ(UsageErrorOf({"push", "--text"}), "push: --text needs a value");
  EXPECT_EQ(UsageErrorOf({"push", "stray"}), "push: unexpected argument: stray");
  EXPECT_THAT(UsageErrorOf({"push", "--timeout=soon"}), StartsWith("push: --timeout: not a"));
  EXPECT_THAT(UsageErrorOf({"push", "--target="}), StartsWith("push: --target is empty"));
}

TEST(BridgectlCommandLineTest, HelpEverywhere) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"help"},
                                             {"push", "--help"},
                                             {"broadcast", "-h"},
                                             {"subscribe", "--help"},
                                             {"unsubscribe", "--help"},
                                             {"disconnect", "--help"},
                                             {"sessions", "--help"},
                                             {"sessions", "list", "--help"},
                                             {"sessions", "get", "--help"},
                                             {"events", "--help"},
                                             {"ticker", "--help"}}) {
    absl::StatusOr<Invocation> invocation = Parse(args);
    ASSERT_TRUE(invocation.ok()) << args[0] << ": " << invocation.status();
    const auto* help = std::get_if<HelpRequest>(&invocation->command);
    ASSERT_NE(help, nullptr) << args[0];
    EXPECT_THAT(help->text, StartsWith("usage: bridgectl")) << args[0];
    EXPECT_THAT(help->text, HasSubstr("--api_key")) << args[0];
  }
  const auto help = ParseAs<HelpRequest>({"push", "--help"});
  EXPECT_THAT(help.text, HasSubstr("--binary_base64=B64"));
  EXPECT_THAT(ParseAs<HelpRequest>({"sessions", "--help"}).text,
              HasSubstr("sessions get SESSION_ID"));
  EXPECT_THAT(ParseAs<HelpRequest>({"--help"}).text, HasSubstr("ticker"));
}

}  // namespace
}  // namespace wsbridge::cli
