// Tests of ParseFlags / FlagHelp / DescribeConfig (config/flags.h): defaults, every flag through
// every form (--x=v, --x v, WSBRIDGE_X), precedence, value syntax, every kind of error, --help.
// The environment is a fake: a std::map behind the getenv callback.
#include "config/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "config/config.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using Env = std::map<std::string, std::string>;

std::function<std::optional<std::string>(const std::string&)> FakeGetenv(Env env) {
  return [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<FlagParseResult> Parse(const std::vector<std::string>& args, const Env& env = {}) {
  return ParseFlags(args, FakeGetenv(env));
}

// Parses, expecting success, and returns the config.
Config ParseOk(const std::vector<std::string>& args, const Env& env = {}) {
  absl::StatusOr<FlagParseResult> result = Parse(args, env);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return Config();
  EXPECT_FALSE(result->help_requested);
  return result->config;
}

// Parses, expecting INVALID_ARGUMENT, and returns the message.
std::string ParseError(const std::vector<std::string>& args, const Env& env = {}) {
  absl::StatusOr<FlagParseResult> result = Parse(args, env);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  return std::string(result.status().message());
}

std::string EnvName(const std::string& flag) { return "WSBRIDGE_" + absl::AsciiStrToUpper(flag); }

// DescribeConfig covers every flag (tested below) but hides the secrets; compare those directly.
void ExpectSameConfig(const Config& actual, const Config& expected) {
  EXPECT_EQ(DescribeConfig(actual), DescribeConfig(expected));
  EXPECT_EQ(actual.admission.jwt_secret, expected.admission.jwt_secret);
  EXPECT_EQ(actual.api.api_key, expected.api.api_key);
}

// Every flag name FlagHelp() lists (lines starting with "  --name"), without --help.
std::set<std::string> FlagNamesInHelp() {
  std::set<std::string> names;
  const std::regex flag_line(R"(^  --([a-z0-9_]+)[=\[ ])");
  const std::string help = FlagHelp();
  const size_t flags_section = help.find("\nFlags:\n");
  EXPECT_NE(flags_section, std::string::npos);
  const std::vector<std::string> lines = absl::StrSplit(help.substr(flags_section), '\n');
  for (const std::string& line : lines) {
    std::smatch match;
    if (std::regex_search(line, match, flag_line) && match[1] != "help") names.insert(match[1]);
  }
  return names;
}

// --- Defaults ---------------------------------------------------------------------------------

TEST(FlagsTest, NoArgumentsAndNoEnvironmentGiveTheDocumentedDefaults) {
  const Config config = ParseOk({});
  EXPECT_EQ(config.listeners.bind, "0.0.0.0");
  EXPECT_EQ(config.listeners.grpc_port, 50051);
  EXPECT_EQ(config.listeners.ws_port, 8080);
  EXPECT_EQ(config.listeners.admin_port, 9090);
  EXPECT_EQ(config.listeners.ws_path, "/ws");
  EXPECT_EQ(config.listeners.io_threads, 0u);
  EXPECT_EQ(config.admission.jwt_secret, "");
  EXPECT_EQ(config.admission.jwt_public_key, "");
  EXPECT_FALSE(config.admission.allow_anonymous);
  EXPECT_THAT(config.admission.public_topics, IsEmpty());
  EXPECT_THAT(config.admission.allowed_origins, IsEmpty());
  EXPECT_EQ(config.api.api_key, "");
  EXPECT_EQ(config.api.max_batch_items, 1000u);
  EXPECT_EQ(config.session.max_message_bytes, 1u << 20);
  EXPECT_EQ(config.session.send_queue.max_bytes, 1u << 20);
  EXPECT_EQ(config.session.send_queue.max_messages, 1024u);
  EXPECT_EQ(config.admission.max_sessions, 0u);
  EXPECT_EQ(config.admission.max_sessions_per_user, 0u);
  EXPECT_EQ(config.admission.max_topics_per_session, 256u);
  EXPECT_EQ(config.session.handshake_timeout, absl::Seconds(10));
  EXPECT_EQ(config.session.close_timeout, absl::Seconds(5));
  EXPECT_EQ(config.session.idle_timeout, absl::Seconds(60));
  EXPECT_EQ(config.session.ping_interval, absl::Seconds(25));
  EXPECT_EQ(config.session.client_messages_per_second, 100u);
  EXPECT_EQ(config.session.client_messages_burst, 200u);
  EXPECT_TRUE(config.session.forward_client_messages);
  EXPECT_TRUE(config.session.compression.enabled);
  EXPECT_EQ(config.session.compression.min_bytes, 256u);
  EXPECT_EQ(config.events.history, 100000u);
  EXPECT_EQ(config.events.history_bytes, uint64_t{64} << 20);
  EXPECT_EQ(config.events.stream_buffer, 100000u);
  EXPECT_EQ(config.events.stream_buffer_bytes, uint64_t{16} << 20);
  EXPECT_EQ(config.events.max_streams, 4096u);
  EXPECT_EQ(config.node.node_id, "");
  EXPECT_EQ(config.node.drain_seconds, 10u);
  EXPECT_EQ(config.node.log_level, "info");
  EXPECT_EQ(config.node.log_format, "text");
  EXPECT_EQ(config.node.fd_reserve, 0u);
  ExpectSameConfig(config, Config());
}

TEST(FlagsTest, AnEmptyGetenvCallbackMeansAnEmptyEnvironment) {
  absl::StatusOr<FlagParseResult> result = ParseFlags({"--ws_port=1"}, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->config.listeners.ws_port, 1);
  EXPECT_EQ(result->config.listeners.grpc_port, 50051);
}

// --- Every flag, every form -------------------------------------------------------------------

// One non-default value per flag and what it must turn into.
struct FlagCase {
  std::string name;
  std::string value;
  std::function<void(const Config&)> check;
};

std::vector<FlagCase> EveryFlag() {
  return {
      {"bind", "127.0.0.1", [](const Config& c) { EXPECT_EQ(c.listeners.bind, "127.0.0.1"); }},
      {"grpc_port", "6000", [](const Config& c) { EXPECT_EQ(c.listeners.grpc_port, 6000); }},
      {"ws_port", "0", [](const Config& c) { EXPECT_EQ(c.listeners.ws_port, 0); }},
      {"admin_port", "65535", [](const Config& c) { EXPECT_EQ(c.listeners.admin_port, 65535); }},
      {"ws_path", "/socket", [](const Config& c) { EXPECT_EQ(c.listeners.ws_path, "/socket"); }},
      {"io_threads", "4", [](const Config& c) { EXPECT_EQ(c.listeners.io_threads, 4u); }},
      {"static_dir", "clients/web",
       [](const Config& c) { EXPECT_EQ(c.listeners.static_dir, "clients/web"); }},
      {"ws_tls_cert", "/etc/wsbridge/ws.crt",
       [](const Config& c) { EXPECT_EQ(c.listeners.ws_tls_cert, "/etc/wsbridge/ws.crt"); }},
      {"ws_tls_key", "/etc/wsbridge/ws.key",
       [](const Config& c) { EXPECT_EQ(c.listeners.ws_tls_key, "/etc/wsbridge/ws.key"); }},
      {"grpc_tls_cert", "/etc/wsbridge/grpc.crt",
       [](const Config& c) { EXPECT_EQ(c.listeners.grpc_tls_cert, "/etc/wsbridge/grpc.crt"); }},
      {"grpc_tls_key", "/etc/wsbridge/grpc.key",
       [](const Config& c) { EXPECT_EQ(c.listeners.grpc_tls_key, "/etc/wsbridge/grpc.key"); }},
      {"grpc_tls_client_ca", "/etc/wsbridge/clients.pem",
       [](const Config& c) {
         EXPECT_EQ(c.listeners.grpc_tls_client_ca, "/etc/wsbridge/clients.pem");
       }},
      {"jwt_secret", "s3cret",
       [](const Config& c) { EXPECT_EQ(c.admission.jwt_secret, "s3cret"); }},
      {"jwt_public_key", "/etc/key.pem",
       [](const Config& c) { EXPECT_EQ(c.admission.jwt_public_key, "/etc/key.pem"); }},
      {"allow_anonymous", "true",
       [](const Config& c) { EXPECT_TRUE(c.admission.allow_anonymous); }},
      {"public_topics", "news,sports",
       [](const Config& c) {
         EXPECT_THAT(c.admission.public_topics, ElementsAre("news", "sports"));
       }},
      {"allowed_origins", "https://a.example",
       [](const Config& c) {
         EXPECT_THAT(c.admission.allowed_origins, ElementsAre("https://a.example"));
       }},
      {"api_key", "k3y", [](const Config& c) { EXPECT_EQ(c.api.api_key, "k3y"); }},
      {"max_batch_items", "50", [](const Config& c) { EXPECT_EQ(c.api.max_batch_items, 50u); }},
      {"max_message_bytes", "65536",
       [](const Config& c) { EXPECT_EQ(c.session.max_message_bytes, 65536u); }},
      {"send_queue_bytes", "4096",
       [](const Config& c) { EXPECT_EQ(c.session.send_queue.max_bytes, 4096u); }},
      {"send_queue_messages", "16",
       [](const Config& c) { EXPECT_EQ(c.session.send_queue.max_messages, 16u); }},
      {"max_sessions", "100000",
       [](const Config& c) { EXPECT_EQ(c.admission.max_sessions, 100000u); }},
      {"max_sessions_per_user", "5",
       [](const Config& c) { EXPECT_EQ(c.admission.max_sessions_per_user, 5u); }},
      {"max_topics_per_session", "8",
       [](const Config& c) { EXPECT_EQ(c.admission.max_topics_per_session, 8u); }},
      {"handshake_timeout", "3s",
       [](const Config& c) { EXPECT_EQ(c.session.handshake_timeout, absl::Seconds(3)); }},
      {"close_timeout", "250ms",
       [](const Config& c) { EXPECT_EQ(c.session.close_timeout, absl::Milliseconds(250)); }},
      {"write_timeout", "3s",
       [](const Config& c) { EXPECT_EQ(c.session.write_timeout, absl::Seconds(3)); }},
      {"idle_timeout", "0",
       [](const Config& c) { EXPECT_EQ(c.session.idle_timeout, absl::ZeroDuration()); }},
      {"ping_interval", "2m",
       [](const Config& c) { EXPECT_EQ(c.session.ping_interval, absl::Minutes(2)); }},
      {"coalesce_gap", "0",
       [](const Config& c) { EXPECT_EQ(c.session.coalesce_gap, absl::ZeroDuration()); }},
      {"coalesce_max_hold", "5ms",
       [](const Config& c) { EXPECT_EQ(c.session.coalesce_max_hold, absl::Milliseconds(5)); }},
      {"client_messages_per_second", "50",
       [](const Config& c) { EXPECT_EQ(c.session.client_messages_per_second, 50u); }},
      {"client_messages_burst", "20",
       [](const Config& c) { EXPECT_EQ(c.session.client_messages_burst, 20u); }},
      {"forward_client_messages", "false",
       [](const Config& c) { EXPECT_FALSE(c.session.forward_client_messages); }},
      {"compression", "false",
       [](const Config& c) { EXPECT_FALSE(c.session.compression.enabled); }},
      {"compression_min_bytes", "1KiB",
       [](const Config& c) { EXPECT_EQ(c.session.compression.min_bytes, 1024u); }},
      {"event_history", "0", [](const Config& c) { EXPECT_EQ(c.events.history, 0u); }},
      {"events_stream_buffer", "50",
       [](const Config& c) { EXPECT_EQ(c.events.stream_buffer, 50u); }},
      {"event_history_bytes", "8MiB",
       [](const Config& c) { EXPECT_EQ(c.events.history_bytes, uint64_t{8} << 20); }},
      {"events_stream_buffer_bytes", "2048",
       [](const Config& c) { EXPECT_EQ(c.events.stream_buffer_bytes, 2048u); }},
      {"max_events_streams", "10", [](const Config& c) { EXPECT_EQ(c.events.max_streams, 10u); }},
      {"node_id", "node-7", [](const Config& c) { EXPECT_EQ(c.node.node_id, "node-7"); }},
      {"drain_seconds", "30", [](const Config& c) { EXPECT_EQ(c.node.drain_seconds, 30u); }},
      {"log_level", "debug", [](const Config& c) { EXPECT_EQ(c.node.log_level, "debug"); }},
      {"log_format", "json", [](const Config& c) { EXPECT_EQ(c.node.log_format, "json"); }},
      {"fd_reserve", "300", [](const Config& c) { EXPECT_EQ(c.node.fd_reserve, 300u); }},
      {"redis_url", "redis://:pw@redis:6379/2",
       [](const Config& c) { EXPECT_EQ(c.cluster.redis_url, "redis://:pw@redis:6379/2"); }},
      {"node_timeout", "5s",
       [](const Config& c) { EXPECT_EQ(c.cluster.node_timeout, absl::Seconds(5)); }},
      {"cluster_buffer_bytes", "1MiB",
       [](const Config& c) { EXPECT_EQ(c.cluster.buffer_bytes, uint64_t{1} << 20); }},
  };
}

TEST(FlagsTest, TheTestCasesCoverEveryFlagInTheHelp) {
  std::set<std::string> tested;
  for (const FlagCase& flag : EveryFlag()) tested.insert(flag.name);
  EXPECT_EQ(tested, FlagNamesInHelp());
  EXPECT_EQ(tested.size(), 50u);
}

TEST(FlagsTest, EveryFlagIsSettableWithNameEqualsValue) {
  for (const FlagCase& flag : EveryFlag()) {
    SCOPED_TRACE(flag.name);
    flag.check(ParseOk({"--" + flag.name + "=" + flag.value}));
  }
}

TEST(FlagsTest, EveryNonBoolFlagIsSettableWithNameSpaceValue) {
  for (const FlagCase& flag : EveryFlag()) {
    if (flag.name == "allow_anonymous" || flag.name == "forward_client_messages" ||
        flag.name == "compression") {
      continue;
    }
    SCOPED_TRACE(flag.name);
    flag.check(ParseOk({"--" + flag.name, flag.value}));
  }
}

TEST(FlagsTest, EveryFlagIsSettableThroughItsEnvironmentVariable) {
  for (const FlagCase& flag : EveryFlag()) {
    SCOPED_TRACE(flag.name);
    flag.check(ParseOk({}, {{EnvName(flag.name), flag.value}}));
  }
}

// Each table entry names its field in Config's groups; two entries reaching the same field (or a
// flag reaching another's) would show here as a second setting changed, or as the wrong one.
TEST(FlagsTest, EachFlagChangesItsOwnSettingAndNoOther) {
  const std::vector<std::string> defaults = absl::StrSplit(DescribeConfig(Config()), ' ');
  for (const FlagCase& flag : EveryFlag()) {
    SCOPED_TRACE(flag.name);
    const std::vector<std::string> described =
        absl::StrSplit(DescribeConfig(ParseOk({"--" + flag.name + "=" + flag.value})), ' ');
    ASSERT_EQ(described.size(), defaults.size());
    std::vector<std::string> changed;
    for (size_t i = 0; i < described.size(); ++i) {
      if (described[i] != defaults[i]) changed.push_back(described[i]);
    }
    ASSERT_EQ(changed.size(), 1u) << ::testing::PrintToString(changed);
    EXPECT_TRUE(changed[0].rfind(flag.name + "=", 0) == 0) << changed[0];
  }
}

TEST(FlagsTest, AllFlagsTogether) {
  std::vector<std::string> args;
  for (const FlagCase& flag : EveryFlag()) args.push_back("--" + flag.name + "=" + flag.value);
  const Config config = ParseOk(args);
  for (const FlagCase& flag : EveryFlag()) {
    SCOPED_TRACE(flag.name);
    flag.check(config);
  }
}

// --- Environment and precedence ---------------------------------------------------------------

TEST(FlagsTest, EnvironmentIsReadAndTheCommandLineWins) {
  const Env env = {
      {"WSBRIDGE_GRPC_PORT", "7000"}, {"WSBRIDGE_WS_PORT", "7001"}, {"WSBRIDGE_LOG_LEVEL", "warn"}};
  Config config = ParseOk({}, env);
  EXPECT_EQ(config.listeners.grpc_port, 7000);
  EXPECT_EQ(config.listeners.ws_port, 7001);
  EXPECT_EQ(config.node.log_level, "warn");

  config = ParseOk({"--grpc_port=7100", "--log_level", "error"}, env);
  EXPECT_EQ(config.listeners.grpc_port, 7100);
  EXPECT_EQ(config.listeners.ws_port, 7001);
  EXPECT_EQ(config.node.log_level, "error");
}

TEST(FlagsTest, ABadEnvironmentValueOverriddenOnTheCommandLineIsNotAnError) {
  const Config config = ParseOk({"--grpc_port=1"}, {{"WSBRIDGE_GRPC_PORT", "abc"}});
  EXPECT_EQ(config.listeners.grpc_port, 1);
}

TEST(FlagsTest, AnEmptyEnvironmentVariableCountsAsUnset) {
  const Config config = ParseOk(
      {}, {{"WSBRIDGE_GRPC_PORT", ""}, {"WSBRIDGE_BIND", ""}, {"WSBRIDGE_PUBLIC_TOPICS", ""}});
  ExpectSameConfig(config, Config());
}

TEST(FlagsTest, UnrelatedEnvironmentVariablesAreIgnored) {
  const Config config = ParseOk({}, {{"GRPC_PORT", "1"}, {"WSBRIDGE_NOT_A_FLAG", "x"}});
  ExpectSameConfig(config, Config());
}

TEST(FlagsTest, ARepeatedFlagTakesTheLastValue) {
  const Config config =
      ParseOk({"--grpc_port=1", "--grpc_port", "2", "--public_topics=a,b", "--public_topics=c"});
  EXPECT_EQ(config.listeners.grpc_port, 2);
  EXPECT_THAT(config.admission.public_topics, ElementsAre("c"));
}

TEST(FlagsTest, AnEmptyListOnTheCommandLineClearsTheEnvironmentList) {
  const Config config = ParseOk({"--public_topics="}, {{"WSBRIDGE_PUBLIC_TOPICS", "a,b"}});
  EXPECT_THAT(config.admission.public_topics, IsEmpty());
}

// --- Bools ------------------------------------------------------------------------------------

TEST(FlagsTest, BoolsInEveryForm) {
  EXPECT_TRUE(ParseOk({"--allow_anonymous"}).admission.allow_anonymous);
  for (const std::string word : {"true", "1", "yes", "TRUE", "Yes", " true "}) {
    SCOPED_TRACE(word);
    EXPECT_TRUE(ParseOk({"--allow_anonymous=" + word}).admission.allow_anonymous);
    EXPECT_TRUE(ParseOk({}, {{"WSBRIDGE_ALLOW_ANONYMOUS", word}}).admission.allow_anonymous);
    EXPECT_TRUE(ParseOk({"--forward_client_messages=" + word}).session.forward_client_messages);
  }
  for (const std::string word : {"false", "0", "no", "FALSE", "No"}) {
    SCOPED_TRACE(word);
    EXPECT_FALSE(ParseOk({"--forward_client_messages=" + word}).session.forward_client_messages);
    EXPECT_FALSE(
        ParseOk({}, {{"WSBRIDGE_FORWARD_CLIENT_MESSAGES", word}}).session.forward_client_messages);
    EXPECT_FALSE(ParseOk({"--allow_anonymous=" + word}, {{"WSBRIDGE_ALLOW_ANONYMOUS", "true"}})
                     .admission.allow_anonymous);
  }
  // A bare bool flag beats its environment variable.
  EXPECT_TRUE(ParseOk({"--allow_anonymous"}, {{"WSBRIDGE_ALLOW_ANONYMOUS", "no"}})
                  .admission.allow_anonymous);
}

TEST(FlagsTest, ABareBoolFlagDoesNotTakeTheNextArgument) {
  const Config config = ParseOk({"--allow_anonymous", "--ws_port=5"});
  EXPECT_TRUE(config.admission.allow_anonymous);
  EXPECT_EQ(config.listeners.ws_port, 5);

  const std::string message = ParseError({"--allow_anonymous", "false"});
  EXPECT_THAT(message, HasSubstr("--allow_anonymous"));
  EXPECT_THAT(message, HasSubstr("--allow_anonymous=false"));
}

// --- Lists ------------------------------------------------------------------------------------

TEST(FlagsTest, ListsAreSplitOnCommasAndTrimmed) {
  EXPECT_THAT(ParseOk({"--public_topics= news , sports,weather "}).admission.public_topics,
              ElementsAre("news", "sports", "weather"));
  EXPECT_THAT(ParseOk({"--allowed_origins", "https://a.example, http://localhost:3000"})
                  .admission.allowed_origins,
              ElementsAre("https://a.example", "http://localhost:3000"));
  EXPECT_THAT(ParseOk({}, {{"WSBRIDGE_PUBLIC_TOPICS", "\tx ,y"}}).admission.public_topics,
              ElementsAre("x", "y"));
  EXPECT_THAT(ParseOk({"--public_topics=single"}).admission.public_topics, ElementsAre("single"));
  EXPECT_THAT(ParseOk({"--public_topics=  "}).admission.public_topics, IsEmpty());
}

// --- Durations --------------------------------------------------------------------------------

TEST(FlagsTest, DurationsAcceptAbslSyntaxAndPlainSeconds) {
  EXPECT_EQ(ParseOk({"--idle_timeout=500ms"}).session.idle_timeout, absl::Milliseconds(500));
  EXPECT_EQ(ParseOk({"--idle_timeout=10s"}).session.idle_timeout, absl::Seconds(10));
  EXPECT_EQ(ParseOk({"--idle_timeout=1m"}).session.idle_timeout, absl::Minutes(1));
  EXPECT_EQ(ParseOk({"--idle_timeout=1m30s"}).session.idle_timeout, absl::Seconds(90));
  EXPECT_EQ(ParseOk({"--idle_timeout=24h"}).session.idle_timeout, absl::Hours(24));
  EXPECT_EQ(ParseOk({"--idle_timeout", "42"}).session.idle_timeout, absl::Seconds(42));
  EXPECT_EQ(ParseOk({"--handshake_timeout=0.5"}).session.handshake_timeout,
            absl::Milliseconds(500));
  EXPECT_EQ(ParseOk({"--ping_interval=0"}).session.ping_interval, absl::ZeroDuration());
  EXPECT_EQ(ParseOk({}, {{"WSBRIDGE_CLOSE_TIMEOUT", "7"}}).session.close_timeout, absl::Seconds(7));
  EXPECT_EQ(ParseOk({}, {{"WSBRIDGE_CLOSE_TIMEOUT", "1500ms"}}).session.close_timeout,
            absl::Milliseconds(1500));
}

// --- Numbers and sizes ------------------------------------------------------------------------

TEST(FlagsTest, NumbersAreDecimalAndSizesAcceptBinarySuffixes) {
  EXPECT_EQ(ParseOk({"--grpc_port= 443 "}).listeners.grpc_port, 443);
  EXPECT_EQ(ParseOk({"--max_message_bytes=1MiB"}).session.max_message_bytes, 1u << 20);
  EXPECT_EQ(ParseOk({"--max_message_bytes=64KiB"}).session.max_message_bytes, 64u << 10);
  EXPECT_EQ(ParseOk({"--max_message_bytes=64MiB"}).session.max_message_bytes, 64u << 20);
  EXPECT_EQ(ParseOk({"--max_message_bytes=67108864"}).session.max_message_bytes, 67108864u);
  EXPECT_EQ(ParseOk({"--max_message_bytes=1"}).session.max_message_bytes, 1u);
  EXPECT_EQ(ParseOk({"--send_queue_bytes=1024"}).session.send_queue.max_bytes, 1024u);
  EXPECT_EQ(ParseOk({"--send_queue_bytes=2GiB"}).session.send_queue.max_bytes, uint64_t{2} << 30);
  // send_queue_bytes may be smaller than max_message_bytes.
  const Config config = ParseOk({"--send_queue_bytes=1KiB", "--max_message_bytes=1MiB"});
  EXPECT_EQ(config.session.send_queue.max_bytes, 1024u);
  EXPECT_EQ(ParseOk({"--event_history=18446744073709551615"}).events.history, UINT64_MAX);
  EXPECT_EQ(ParseOk({"--max_sessions=4294967295"}).admission.max_sessions, UINT32_MAX);
  EXPECT_EQ(ParseOk({"--io_threads=1024"}).listeners.io_threads, 1024u);
}

TEST(FlagsTest, StringsAreKeptVerbatimAndLogLevelsAreLowercased) {
  EXPECT_EQ(ParseOk({"--jwt_secret= with spaces "}).admission.jwt_secret, " with spaces ");
  EXPECT_EQ(ParseOk({"--api_key=-dash"}).api.api_key, "-dash");
  EXPECT_EQ(ParseOk({"--api_key", "-dash"}).api.api_key, "-dash");
  EXPECT_EQ(ParseOk({"--api_key=--double=dash"}).api.api_key, "--double=dash");
  EXPECT_EQ(ParseOk({"--bind=::"}).listeners.bind, "::");
  EXPECT_EQ(ParseOk({"--ws_path=/"}).listeners.ws_path, "/");
  EXPECT_EQ(ParseOk({"--log_level=WARN"}).node.log_level, "warn");
  EXPECT_EQ(ParseOk({}, {{"WSBRIDGE_LOG_LEVEL", "Off"}}).node.log_level, "off");
  EXPECT_EQ(ParseOk({"--node_id="}).node.node_id, "");
}

// --- Errors -----------------------------------------------------------------------------------

struct ErrorCase {
  std::vector<std::string> args;
  Env env;
  std::vector<std::string> message_parts;  // each must appear in the message
};

TEST(FlagsTest, EveryKindOfErrorIsInvalidArgumentNamingTheFlag) {
  const std::vector<ErrorCase> cases = {
      // Unknown flags, positional arguments, missing values.
      {{"--grpc_prot=1"}, {}, {"--grpc_prot", "unknown flag", "did you mean --grpc_port?"}},
      {{"--grpc-port=1"}, {}, {"--grpc-port", "unknown flag", "did you mean --grpc_port?"}},
      {{"--completely_unrelated"}, {}, {"--completely_unrelated", "unknown flag"}},
      {{"-p"}, {}, {"-p", "unknown flag"}},
      {{"serve"}, {}, {"\"serve\"", "positional"}},
      {{"--"}, {}, {"\"--\"", "positional"}},
      {{"--grpc_port"}, {}, {"--grpc_port", "missing value"}},
      {{"--bind", "--ws_port=1"}, {}, {"--bind", "missing value"}},
      {{"--help=yes"}, {}, {"--help", "no value"}},
      // Numbers.
      {{"--grpc_port=abc"}, {}, {"--grpc_port: \"abc\" is not a port number (0-65535)"}},
      {{"--grpc_port=70000"}, {}, {"--grpc_port", "\"70000\" is out of range (0-65535)"}},
      {{"--ws_port=-1"}, {}, {"--ws_port", "not a port number"}},
      {{"--admin_port=+5"}, {}, {"--admin_port", "not a port number"}},
      {{"--admin_port=0x10"}, {}, {"--admin_port", "not a port number"}},
      {{"--admin_port="}, {}, {"--admin_port", "not a port number"}},
      {{"--io_threads=1025"}, {}, {"--io_threads", "out of range (0-1024)"}},
      {{"--io_threads=1.5"}, {}, {"--io_threads", "not a whole number"}},
      {{"--fd_reserve=1048577"}, {}, {"--fd_reserve", "out of range (0-1048576)"}},
      {{"--max_sessions=4294967296"}, {}, {"--max_sessions", "out of range"}},
      {{"--event_history=18446744073709551616"}, {}, {"--event_history", "out of range"}},
      {{"--send_queue_messages=0"}, {}, {"--send_queue_messages", "out of range (at least 1)"}},
      {{"--max_topics_per_session=0"}, {}, {"--max_topics_per_session", "out of range"}},
      {{"--max_batch_items=0"}, {}, {"--max_batch_items", "out of range (at least 1)"}},
      {{"--drain_seconds=ten"}, {}, {"--drain_seconds", "not a whole number"}},
      {{"--client_messages_per_second=-3"}, {}, {"--client_messages_per_second"}},
      {{"--client_messages_burst=x"}, {}, {"--client_messages_burst"}},
      {{"--max_sessions_per_user=1e3"}, {}, {"--max_sessions_per_user"}},
      // Sizes.
      {{"--max_message_bytes=0"}, {}, {"--max_message_bytes", "out of range (1-67108864)"}},
      {{"--max_message_bytes=65MiB"}, {}, {"--max_message_bytes", "out of range"}},
      {{"--max_message_bytes=67108865"}, {}, {"--max_message_bytes", "out of range"}},
      {{"--max_message_bytes=1MB"}, {}, {"--max_message_bytes", "not a byte size"}},
      {{"--max_message_bytes=MiB"}, {}, {"--max_message_bytes", "not a byte size"}},
      {{"--send_queue_bytes=1023"}, {}, {"--send_queue_bytes", "out of range (at least 1024)"}},
      {{"--events_stream_buffer_bytes=1023"},
       {},
       {"--events_stream_buffer_bytes", "out of range (at least 1024)"}},
      {{"--max_events_streams=0"}, {}, {"--max_events_streams", "out of range"}},
      {{"--send_queue_bytes=99999999999GiB"}, {}, {"--send_queue_bytes", "out of range"}},
      {{"--grpc_port=1KiB"}, {}, {"--grpc_port", "not a port number"}},
      // Durations.
      {{"--idle_timeout=abc"}, {}, {"--idle_timeout", "not a duration"}},
      {{"--idle_timeout=10x"}, {}, {"--idle_timeout", "not a duration"}},
      {{"--idle_timeout=-1s"}, {}, {"--idle_timeout", "negative"}},
      {{"--idle_timeout=-1"}, {}, {"--idle_timeout", "not a duration"}},
      {{"--ping_interval=25h"}, {}, {"--ping_interval", "out of range"}},
      {{"--ping_interval=inf"}, {}, {"--ping_interval", "out of range"}},
      {{"--handshake_timeout=0"}, {}, {"--handshake_timeout", "zero"}},
      {{"--close_timeout=0s"}, {}, {"--close_timeout", "zero"}},
      {{"--close_timeout="}, {}, {"--close_timeout", "not a duration"}},
      // Bools.
      {{"--allow_anonymous=maybe"}, {}, {"--allow_anonymous", "\"maybe\" is not a bool"}},
      {{"--forward_client_messages="}, {}, {"--forward_client_messages", "not a bool"}},
      // Strings and lists.
      {{"--ws_path=ws"}, {}, {"--ws_path", "does not start with '/'"}},
      {{"--ws_path="}, {}, {"--ws_path", "does not start with '/'"}},
      {{"--ws_path=/a b"}, {}, {"--ws_path", "whitespace"}},
      {{"--bind="}, {}, {"--bind", "empty"}},
      {{"--bind=1.2.3.4 "}, {}, {"--bind", "whitespace"}},
      {{"--log_level=verbose"}, {}, {"--log_level", "not a log level"}},
      {{"--log_format=xml"}, {}, {"--log_format", "not text or json"}},
      {{"--public_topics=a,,b"}, {}, {"--public_topics", "empty entry"}},
      {{"--public_topics=a,"}, {}, {"--public_topics", "empty entry"}},
      {{"--allowed_origins=, x"}, {}, {"--allowed_origins", "empty entry"}},
      // Errors from the environment name the variable.
      {{}, {{"WSBRIDGE_GRPC_PORT", "abc"}}, {"WSBRIDGE_GRPC_PORT: \"abc\" is not a port number"}},
      {{}, {{"WSBRIDGE_ALLOW_ANONYMOUS", "sure"}}, {"WSBRIDGE_ALLOW_ANONYMOUS", "not a bool"}},
      {{}, {{"WSBRIDGE_IDLE_TIMEOUT", "soon"}}, {"WSBRIDGE_IDLE_TIMEOUT", "not a duration"}},
      {{}, {{"WSBRIDGE_WS_PATH", "ws"}}, {"WSBRIDGE_WS_PATH", "'/'"}},
      {{}, {{"WSBRIDGE_PUBLIC_TOPICS", "a,,b"}}, {"WSBRIDGE_PUBLIC_TOPICS", "empty entry"}},
      {{}, {{"WSBRIDGE_MAX_MESSAGE_BYTES", "0"}}, {"WSBRIDGE_MAX_MESSAGE_BYTES", "out of range"}},
  };
  for (const ErrorCase& error : cases) {
    SCOPED_TRACE(testing::PrintToString(error.args) + " " + testing::PrintToString(error.env));
    const std::string message = ParseError(error.args, error.env);
    for (const std::string& part : error.message_parts) EXPECT_THAT(message, HasSubstr(part));
  }
}

TEST(FlagsTest, UnknownFlagErrorsDoNotEchoTheValue) {
  const std::string message = ParseError({"--jwt_secrte=topsecret"});
  EXPECT_THAT(message, HasSubstr("--jwt_secrte"));
  EXPECT_THAT(message, HasSubstr("did you mean --jwt_secret?"));
  EXPECT_THAT(message, Not(HasSubstr("topsecret")));
}

TEST(FlagsTest, ErrorValuesAreQuotedAndEscaped) {
  EXPECT_THAT(ParseError({"--grpc_port=a\nb"}), HasSubstr("\"a\\nb\""));
}

TEST(FlagsTest, TheFirstErrorIsReported) {
  const std::string message = ParseError({"--grpc_port=x", "--ws_port=y"});
  EXPECT_THAT(message, HasSubstr("--grpc_port"));
  EXPECT_THAT(message, Not(HasSubstr("--ws_port")));
}

// --- Help -------------------------------------------------------------------------------------

TEST(FlagsTest, HelpIsRequestedByLongAndShortForms) {
  for (const std::string help : {"--help", "-h"}) {
    SCOPED_TRACE(help);
    absl::StatusOr<FlagParseResult> result = Parse({help});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->help_requested);
  }
  absl::StatusOr<FlagParseResult> result = Parse({"--ws_port=1"});
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->help_requested);
}

TEST(FlagsTest, HelpWinsOverOtherErrors) {
  absl::StatusOr<FlagParseResult> result =
      Parse({"--grpc_port=abc", "stray", "--help", "--nope"}, {{"WSBRIDGE_WS_PORT", "bad"}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->help_requested);
}

TEST(FlagsTest, HelpAsTheValueOfAFlagIsAValue) {
  // "-h" after a flag that takes a value is that value, not a help request.
  const Config config = ParseOk({"--node_id", "-h"});
  EXPECT_EQ(config.node.node_id, "-h");
}

TEST(FlagsTest, FlagHelpMentionsEveryFlagItsVariableAndDefault) {
  const std::string help = FlagHelp();
  EXPECT_THAT(help, HasSubstr("Usage: wsbridge"));
  EXPECT_THAT(help, HasSubstr("--help, -h"));
  for (const FlagCase& flag : EveryFlag()) {
    SCOPED_TRACE(flag.name);
    EXPECT_THAT(help, HasSubstr("--" + flag.name));
    EXPECT_THAT(help, HasSubstr(EnvName(flag.name)));
  }
  EXPECT_THAT(help, HasSubstr("--grpc_port=PORT  (env WSBRIDGE_GRPC_PORT, default 50051)"));
  EXPECT_THAT(help, HasSubstr("--allow_anonymous[=BOOL]  (env WSBRIDGE_ALLOW_ANONYMOUS, default "
                              "false)"));
  EXPECT_THAT(help, HasSubstr("--idle_timeout=DURATION  (env WSBRIDGE_IDLE_TIMEOUT, default 1m)"));
  EXPECT_THAT(help, HasSubstr("--ws_path=PATH  (env WSBRIDGE_WS_PATH, default /ws)"));
  EXPECT_THAT(help, HasSubstr("(env WSBRIDGE_JWT_SECRET, default <unset>)"));
  // Every flag line is followed by its one-line meaning.
  const std::vector<std::string> lines = absl::StrSplit(help, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("  --", 0) != 0) continue;
    ASSERT_LT(i + 1, lines.size());
    EXPECT_EQ(lines[i + 1].rfind("      ", 0), 0u) << lines[i];
    EXPECT_GT(lines[i + 1].size(), 10u) << lines[i];
  }
}

// --- DescribeConfig ---------------------------------------------------------------------------

TEST(FlagsTest, DescribeConfigListsEveryFlagInCanonicalForm) {
  const std::string description = DescribeConfig(Config());
  EXPECT_EQ(description.rfind("bind=0.0.0.0 grpc_port=50051 ws_port=8080 admin_port=9090 ", 0), 0u)
      << description;
  EXPECT_THAT(description, HasSubstr(" ws_path=/ws "));
  EXPECT_THAT(description, HasSubstr(" allow_anonymous=false "));
  EXPECT_THAT(description, HasSubstr(" public_topics=\"\" "));
  EXPECT_THAT(description, HasSubstr(" max_message_bytes=1048576 "));
  EXPECT_THAT(description, HasSubstr(" handshake_timeout=10s "));
  EXPECT_THAT(description, HasSubstr(" idle_timeout=1m "));
  EXPECT_THAT(description, HasSubstr(" node_id=\"\" "));
  EXPECT_THAT(description, HasSubstr(" log_level=info"));
  std::set<std::string> names;
  const std::vector<std::string> tokens = absl::StrSplit(description, ' ');
  for (const std::string& token : tokens) {
    names.insert(token.substr(0, token.find('=')));
  }
  EXPECT_EQ(names, FlagNamesInHelp());
}

TEST(FlagsTest, DescribeConfigHidesSecrets) {
  Config config;
  EXPECT_THAT(DescribeConfig(config), HasSubstr("jwt_secret=<unset>"));
  EXPECT_THAT(DescribeConfig(config), HasSubstr("api_key=<unset>"));
  config.admission.jwt_secret = "hunter2-jwt";
  config.api.api_key = "hunter2-api";
  const std::string description = DescribeConfig(config);
  EXPECT_THAT(description, HasSubstr("jwt_secret=<set>"));
  EXPECT_THAT(description, HasSubstr("api_key=<set>"));
  EXPECT_THAT(description, Not(HasSubstr("hunter2")));
  EXPECT_THAT(FlagHelp(), Not(HasSubstr("hunter2")));
}

TEST(FlagsTest, DescribeConfigQuotesValuesThatWouldBreakTheLine) {
  Config config;
  config.node.node_id = "my node";
  config.admission.public_topics = {"a b", "c"};
  const std::string description = DescribeConfig(config);
  EXPECT_THAT(description, HasSubstr("node_id=\"my node\""));
  EXPECT_THAT(description, HasSubstr("public_topics=\"a b,c\""));
}

TEST(FlagsTest, DescribeConfigOfPlainValuesParsesBackToTheSameConfig) {
  std::vector<std::string> args;
  for (const FlagCase& flag : EveryFlag()) args.push_back("--" + flag.name + "=" + flag.value);
  Config config = ParseOk(args);
  config.admission.jwt_secret.clear();
  config.api.api_key.clear();

  std::vector<std::string> described_args;
  const std::vector<std::string> tokens = absl::StrSplit(DescribeConfig(config), ' ');
  for (const std::string& token : tokens) {
    if (token.find("=<unset>") != std::string::npos) continue;  // secrets
    described_args.push_back("--" + token);
  }
  ExpectSameConfig(ParseOk(described_args), config);
}

}  // namespace
}  // namespace wsbridge
