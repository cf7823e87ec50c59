// Flags: one table of flag specs (FlagTable) drives parsing, --help and DescribeConfig, so adding a
// setting means its field in config/config.h and one entry there. Each entry reaches its field
// through pointers to members (Field below), so the table knows Config's groups and nothing else
// does. See flags.h for the accepted syntax.
//
// absl::string_view, not std::string_view, inside: Debian's Abseil is built with its own
// string_view type, which absl functions take.
#include "config/flags.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <system_error>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wsbridge {
namespace {

constexpr absl::string_view kEnvPrefix = "WSBRIDGE_";
constexpr uint64_t kKiB = uint64_t{1} << 10;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kMaxMessageBytes = 64 * kMiB;
constexpr uint64_t kMinSendQueueBytes = 1024;
constexpr uint64_t kMinStreamBufferBytes = 1024;
constexpr uint64_t kMaxIoThreads = 1024;
constexpr uint64_t kMaxFdReserve = 1 << 20;  // Linux's default ceiling of RLIMIT_NOFILE (nr_open)
// As a flag's maximum: whatever the setting's type holds.
constexpr uint64_t kNoMax = std::numeric_limits<uint64_t>::max();
constexpr absl::Duration kMaxDuration = absl::Hours(24);
constexpr absl::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

// Stores `value` (the text after '=', or the environment variable's value) into `config`. On a bad
// value returns INVALID_ARGUMENT whose message says what is wrong, without naming the flag: the
// caller prefixes it with the flag or variable name.
using FlagSetter = std::function<absl::Status(absl::string_view value, Config& config)>;
// The canonical text of the flag's value in `config` (as DescribeConfig prints it).
using FlagShower = std::function<std::string(const Config& config)>;

struct FlagSpec {
  absl::string_view name;        // the flag is --name, its environment variable WSBRIDGE_NAME
  absl::string_view value_name;  // placeholder in --help: --name=VALUE_NAME
  absl::string_view help;        // one-line meaning
  bool is_bool;                  // bare --name means true; never takes the next argument
  FlagSetter set;
  FlagShower show;  // secrets show as <set>/<unset> only
};

// --- Value text -------------------------------------------------------------------------------

// `value` double-quoted and C-escaped, for error messages and DescribeConfig.
std::string Quote(absl::string_view value) {
  return absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

bool IsPlainChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("._-~:/@+*,[]%").find(c) != absl::string_view::npos;
}

// `value` as is when it is non-empty and needs no quoting on a space-separated line, else quoted.
std::string ShowString(absl::string_view value) {
  if (!value.empty() && std::all_of(value.begin(), value.end(), IsPlainChar)) {
    return std::string(value);
  }
  return Quote(value);
}

std::string ShowSecret(const std::string& value) { return value.empty() ? "<unset>" : "<set>"; }

absl::Status Invalid(absl::string_view value, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(Quote(value), " ", problem));
}

// --- Value parsers ----------------------------------------------------------------------------

// "1-1024", "at least 1024" (`open_ended`: max is just the type's limit), or "" (no limit at all).
std::string RangeText(uint64_t min, uint64_t max, bool open_ended) {
  if (open_ended) return min == 0 ? "" : absl::StrCat("at least ", min);
  return absl::StrCat(min, "-", max);
}

// Parses a decimal unsigned number, optionally (when `byte_size`) followed by KiB, MiB or GiB,
// and checks it against [min, max]. `what` names the expected thing in the syntax error
// ("a port number"); `range` is appended to it and to range errors when non-empty.
absl::StatusOr<uint64_t> ParseUnsigned(absl::string_view raw, uint64_t min, uint64_t max,
                                       absl::string_view what, absl::string_view range,
                                       bool byte_size) {
  const absl::string_view text = absl::StripAsciiWhitespace(raw);
  const std::string range_suffix = range.empty() ? "" : absl::StrCat(" (", range, ")");
  const absl::Status syntax_error = Invalid(raw, absl::StrCat("is not ", what, range_suffix));
  const absl::Status range_error = Invalid(raw, absl::StrCat("is out of range", range_suffix));

  const size_t digits_end = text.find_first_not_of("0123456789");
  const absl::string_view digits = text.substr(0, digits_end);
  const absl::string_view suffix =
      digits_end == absl::string_view::npos ? absl::string_view() : text.substr(digits_end);
  if (digits.empty()) return syntax_error;

  uint64_t multiplier = 1;
  if (!suffix.empty()) {
    if (!byte_size) return syntax_error;
    if (absl::EqualsIgnoreCase(suffix, "KiB")) {
      multiplier = kKiB;
    } else if (absl::EqualsIgnoreCase(suffix, "MiB")) {
      multiplier = kMiB;
    } else if (absl::EqualsIgnoreCase(suffix, "GiB")) {
      multiplier = kGiB;
    } else {
      return syntax_error;
    }
  }

  uint64_t number = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (error == std::errc::result_out_of_range) return range_error;
  if (error != std::errc() || end != digits.data() + digits.size()) return syntax_error;
  if (number > std::numeric_limits<uint64_t>::max() / multiplier) return range_error;
  number *= multiplier;
  if (number < min || number > max) return range_error;
  return number;
}

std::optional<bool> ParseBool(absl::string_view raw) {
  const absl::string_view text = absl::StripAsciiWhitespace(raw);
  for (absl::string_view word : {"true", "1", "yes"}) {
    if (absl::EqualsIgnoreCase(text, word)) return true;
  }
  for (absl::string_view word : {"false", "0", "no"}) {
    if (absl::EqualsIgnoreCase(text, word)) return false;
  }
  return std::nullopt;
}

// absl::ParseDuration syntax, or a plain (possibly fractional) number of seconds.
std::optional<absl::Duration> ParseDurationValue(absl::string_view raw) {
  const absl::string_view text = absl::StripAsciiWhitespace(raw);
  if (text.empty()) return std::nullopt;
  std::string duration_text(text);
  if (text.find_first_not_of("0123456789.") == absl::string_view::npos) duration_text += "s";
  absl::Duration duration;
  if (!absl::ParseDuration(duration_text, &duration)) return std::nullopt;
  return duration;
}

// Comma-separated entries, each trimmed; an empty entry is an error, an all-blank value is {}.
absl::StatusOr<std::vector<std::string>> ParseList(absl::string_view raw) {
  std::vector<std::string> entries;
  if (absl::StripAsciiWhitespace(raw).empty()) return entries;
  for (absl::string_view entry : absl::StrSplit(raw, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) return Invalid(raw, "has an empty entry (lists are comma-separated)");
    entries.emplace_back(entry);
  }
  return entries;
}

bool HasSpaceOrControl(absl::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return absl::ascii_isspace(byte) || absl::ascii_iscntrl(byte);
  });
}

// --- Spec factories, one per kind of value ------------------------------------------------------

// Reaches one setting inside a Config through a chain of pointers to members, e.g.
// Field(&Config::session, &SessionOptions::send_queue, &SendQueueLimits::max_bytes). The result
// takes a Config& (to set the setting) or a const Config& (to show it), so the table names each
// setting once and the compiler checks its type against the kind of flag.
template <typename... Members>
auto Field(Members... members) {
  // A left fold over the .* operator: ((config.*first).*second).*third.
  return [members...](auto& config) -> auto& { return (config.*....*members); };
}

// The type of the setting that `access` (a Field) reaches.
template <typename Access>
using FieldType = std::remove_cvref_t<std::invoke_result_t<Access, Config&>>;

// The one shape every flag has: `parse` turns the text into the setting's type (or an
// INVALID_ARGUMENT that does not name the flag), `show` turns the setting back into canonical text.
template <typename Access, typename Parse, typename Show>
FlagSpec MakeFlag(absl::string_view name, absl::string_view value_name, bool is_bool, Access field,
                  absl::string_view help, Parse parse, Show show) {
  return {name,
          value_name,
          help,
          is_bool,
          [field, parse](absl::string_view value, Config& config) -> absl::Status {
            auto parsed = parse(value);
            if (!parsed.ok()) return parsed.status();
            field(config) = *std::move(parsed);
            return absl::OkStatus();
          },
          [field, show](const Config& config) -> std::string { return show(field(config)); }};
}

// A string stored as given, after `check` (when set) accepted it.
template <typename Access>
FlagSpec StringFlag(absl::string_view name, absl::string_view value_name, Access field,
                    absl::string_view help,
                    std::function<absl::Status(absl::string_view value)> check = nullptr) {
  return MakeFlag(
      name, value_name, /*is_bool=*/false, field, help,
      [check](absl::string_view value) -> absl::StatusOr<std::string> {
        if (check) {
          if (absl::Status status = check(value); !status.ok()) return status;
        }
        return std::string(value);
      },
      ShowString);
}

// A string that must never appear in logs or help: shown as <set>/<unset>.
template <typename Access>
FlagSpec SecretFlag(absl::string_view name, absl::string_view value_name, Access field,
                    absl::string_view help) {
  return MakeFlag(
      name, value_name, /*is_bool=*/false, field, help,
      [](absl::string_view value) -> absl::StatusOr<std::string> { return std::string(value); },
      ShowSecret);
}

template <typename Access>
FlagSpec BoolFlag(absl::string_view name, Access field, absl::string_view help) {
  return MakeFlag(
      name, "BOOL", /*is_bool=*/true, field, help,
      [](absl::string_view value) -> absl::StatusOr<bool> {
        const std::optional<bool> parsed = ParseBool(value);
        if (!parsed) return Invalid(value, "is not a bool (true/false, 1/0, yes/no)");
        return *parsed;
      },
      [](bool value) -> std::string { return value ? "true" : "false"; });
}

// An unsigned number in [min, max] (max is capped at what the setting's type holds); `what` names
// it in errors ("a port number"). With `byte_size`, a KiB/MiB/GiB suffix is accepted too.
template <typename Access>
FlagSpec NumberFlag(absl::string_view name, absl::string_view value_name, Access field,
                    uint64_t min, uint64_t max, absl::string_view what, absl::string_view help,
                    bool byte_size = false) {
  using T = FieldType<Access>;
  static_assert(std::is_unsigned_v<T> && !std::is_same_v<T, bool>);
  max = std::min<uint64_t>(max, std::numeric_limits<T>::max());
  // A 16-bit limit (ports) is worth stating; 2^32-1 and 2^64-1 are not.
  const bool open_ended = max == std::numeric_limits<T>::max() && sizeof(T) >= sizeof(uint32_t);
  return MakeFlag(
      name, value_name, /*is_bool=*/false, field, help,
      [min, max, what, byte_size,
       range = RangeText(min, max, open_ended)](absl::string_view value) -> absl::StatusOr<T> {
        absl::StatusOr<uint64_t> number = ParseUnsigned(value, min, max, what, range, byte_size);
        if (!number.ok()) return number.status();
        return static_cast<T>(*number);
      },
      [](T value) { return absl::StrCat(value); });
}

template <typename Access>
FlagSpec PortFlag(absl::string_view name, Access field, absl::string_view help) {
  return NumberFlag(name, "PORT", field, 0, 65535, "a port number", help);
}

// A whole number of at least `min` and at most `max` (kNoMax: whatever the setting's type holds).
template <typename Access>
FlagSpec CountFlag(absl::string_view name, Access field, uint64_t min, uint64_t max,
                   absl::string_view help) {
  return NumberFlag(name, "N", field, min, max, "a whole number", help);
}

// A number of bytes in [min, max], also accepted with a KiB/MiB/GiB suffix.
template <typename Access>
FlagSpec ByteSizeFlag(absl::string_view name, Access field, uint64_t min, uint64_t max,
                      absl::string_view help) {
  return NumberFlag(name, "BYTES", field, min, max, "a byte size like 65536, 64KiB or 1MiB", help,
                    /*byte_size=*/true);
}

// A duration in [0, 24h]; zero only when `allow_zero`.
template <typename Access>
FlagSpec DurationFlag(absl::string_view name, Access field, bool allow_zero,
                      absl::string_view help) {
  return MakeFlag(
      name, "DURATION", /*is_bool=*/false, field, help,
      [allow_zero](absl::string_view value) -> absl::StatusOr<absl::Duration> {
        const std::optional<absl::Duration> duration = ParseDurationValue(value);
        if (!duration) {
          return Invalid(value,
                         "is not a duration (like \"500ms\", \"10s\", \"1m\", or a number of "
                         "seconds)");
        }
        if (*duration < absl::ZeroDuration()) return Invalid(value, "is negative");
        if (*duration == absl::ZeroDuration() && !allow_zero) {
          return Invalid(value, "is zero (must be positive)");
        }
        if (*duration > kMaxDuration) return Invalid(value, "is out of range (at most 24h)");
        return *duration;
      },
      [](absl::Duration value) { return absl::FormatDuration(value); });
}

template <typename Access>
FlagSpec ListFlag(absl::string_view name, absl::string_view value_name, Access field,
                  absl::string_view help) {
  return MakeFlag(
      name, value_name, /*is_bool=*/false, field, help, ParseList,
      [](const std::vector<std::string>& value) { return ShowString(absl::StrJoin(value, ",")); });
}

// One of kLogLevels, in any case; stored in lowercase.
template <typename Access>
FlagSpec LogLevelFlag(absl::string_view name, Access field, absl::string_view help) {
  return MakeFlag(
      name, "LEVEL", /*is_bool=*/false, field, help,
      [](absl::string_view value) -> absl::StatusOr<std::string> {
        std::string level = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
        if (std::find(std::begin(kLogLevels), std::end(kLogLevels), level) ==
            std::end(kLogLevels)) {
          return Invalid(
              value, absl::StrCat("is not a log level (", absl::StrJoin(kLogLevels, ", "), ")"));
        }
        return level;
      },
      ShowString);
}

// --- Validators for string flags ----------------------------------------------------------------

absl::Status CheckBind(absl::string_view value) {
  if (value.empty()) return Invalid(value, "is empty (an address is required)");
  if (HasSpaceOrControl(value)) return Invalid(value, "contains whitespace");
  return absl::OkStatus();
}

absl::Status CheckWsPath(absl::string_view value) {
  if (!absl::StartsWith(value, "/")) return Invalid(value, "does not start with '/'");
  if (HasSpaceOrControl(value)) return Invalid(value, "contains whitespace or control characters");
  return absl::OkStatus();
}

absl::Status CheckLogFormat(absl::string_view value) {
  if (value != "text" && value != "json") return Invalid(value, "is not text or json");
  return absl::OkStatus();
}

// --- The table ----------------------------------------------------------------------------------

// Every flag, in the order --help and DescribeConfig list them. Built once, never destroyed.
const std::vector<FlagSpec>& FlagTable() {
  using L = ListenerOptions;
  using A = AdmissionOptions;
  using S = SessionOptions;
  static const auto* const kTable = new std::vector<FlagSpec>{
      // Listeners.
      StringFlag("bind", "ADDRESS", Field(&Config::listeners, &L::bind),
                 "Address every listener binds to.", CheckBind),
      PortFlag("grpc_port", Field(&Config::listeners, &L::grpc_port),
               "Port of the gRPC API; 0 = pick a free port."),
      PortFlag("ws_port", Field(&Config::listeners, &L::ws_port),
               "Port browsers open WebSockets on; 0 = pick a free port."),
      PortFlag("admin_port", Field(&Config::listeners, &L::admin_port),
               "Port of the admin HTTP endpoint; 0 = pick a free port."),
      StringFlag("ws_path", "PATH", Field(&Config::listeners, &L::ws_path),
                 "HTTP path of the WebSocket endpoint; starts with '/'.", CheckWsPath),
      CountFlag("io_threads", Field(&Config::listeners, &L::io_threads), 0, kMaxIoThreads,
                "I/O threads; 0 = one per core."),
      StringFlag("static_dir", "DIR", Field(&Config::listeners, &L::static_dir),
                 "Serve this directory's files on ws_port at other paths; empty = off."),
      StringFlag("ws_tls_cert", "FILE", Field(&Config::listeners, &L::ws_tls_cert),
                 "PEM certificate chain for wss on ws_port (with --ws_tls_key); SIGHUP reloads."),
      StringFlag("ws_tls_key", "FILE", Field(&Config::listeners, &L::ws_tls_key),
                 "PEM private key of --ws_tls_cert."),
      StringFlag("grpc_tls_cert", "FILE", Field(&Config::listeners, &L::grpc_tls_cert),
                 "PEM certificate chain for gRPC over TLS (with --grpc_tls_key)."),
      StringFlag("grpc_tls_key", "FILE", Field(&Config::listeners, &L::grpc_tls_key),
                 "PEM private key of --grpc_tls_cert."),
      StringFlag("grpc_tls_client_ca", "FILE", Field(&Config::listeners, &L::grpc_tls_client_ca),
                 "PEM CA bundle: gRPC clients must present a certificate it signed (mTLS)."),
      // Browser authentication.
      SecretFlag("jwt_secret", "SECRET", Field(&Config::admission, &A::jwt_secret),
                 "Shared secret for HS256 browser tokens."),
      StringFlag("jwt_public_key", "FILE", Field(&Config::admission, &A::jwt_public_key),
                 "PEM public key file for browser tokens (RSA: RS256, EC P-256: ES256)."),
      BoolFlag("allow_anonymous", Field(&Config::admission, &A::allow_anonymous),
               "Accept browsers without a token (they may use public topics only)."),
      ListFlag("public_topics", "TOPICS", Field(&Config::admission, &A::public_topics),
               "Topics anyone, anonymous sessions included, may subscribe to."),
      ListFlag("allowed_origins", "ORIGINS", Field(&Config::admission, &A::allowed_origins),
               "Origin header values accepted on WebSocket upgrades; empty = any."),
      // gRPC API.
      SecretFlag("api_key", "KEY", Field(&Config::api, &ApiOptions::api_key),
                 "Key gRPC callers must present; empty = no key needed."),
      CountFlag("max_batch_items", Field(&Config::api, &ApiOptions::max_batch_items), 1, kNoMax,
                "Pushes one PushBatch call may carry."),
      // Limits.
      ByteSizeFlag("max_message_bytes", Field(&Config::session, &S::max_message_bytes), 1,
                   kMaxMessageBytes, "Largest WebSocket message, both directions (at most 64MiB)."),
      ByteSizeFlag("send_queue_bytes",
                   Field(&Config::session, &S::send_queue, &SendQueueLimits::max_bytes),
                   kMinSendQueueBytes, kNoMax,
                   "Bytes that may wait in one session's send queue (at least 1024)."),
      CountFlag("send_queue_messages",
                Field(&Config::session, &S::send_queue, &SendQueueLimits::max_messages), 1, kNoMax,
                "Messages that may wait in one session's send queue."),
      CountFlag("max_sessions", Field(&Config::admission, &A::max_sessions), 0, kNoMax,
                "Sessions on this node in total; 0 = unlimited."),
      CountFlag("max_sessions_per_user", Field(&Config::admission, &A::max_sessions_per_user), 0,
                kNoMax, "Sessions one user may hold on this node; 0 = unlimited."),
      CountFlag("max_topics_per_session", Field(&Config::admission, &A::max_topics_per_session), 1,
                kNoMax, "Topics one session may subscribe to."),
      // Timing.
      DurationFlag("handshake_timeout", Field(&Config::session, &S::handshake_timeout),
                   /*allow_zero=*/false, "Time a browser has to complete the WebSocket upgrade."),
      DurationFlag("close_timeout", Field(&Config::session, &S::close_timeout),
                   /*allow_zero=*/false,
                   "Time a close handshake may take before the socket is dropped."),
      DurationFlag("write_timeout", Field(&Config::session, &S::write_timeout),
                   /*allow_zero=*/false,
                   "Time one write to a browser may stall before it is a slow consumer (1013)."),
      DurationFlag("idle_timeout", Field(&Config::session, &S::idle_timeout), /*allow_zero=*/true,
                   "Close a peer silent this long; 0 = never."),
      DurationFlag("ping_interval", Field(&Config::session, &S::ping_interval),
                   /*allow_zero=*/true, "Interval of protocol pings to idle peers; 0 = no pings."),
      // Coalescing of streams.
      DurationFlag("coalesce_gap", Field(&Config::session, &S::coalesce_gap),
                   /*allow_zero=*/true,
                   "A session getting messages less than this apart lets the kernel coalesce "
                   "its frames until the browser acknowledges earlier ones; 0 = never."),
      DurationFlag("coalesce_max_hold", Field(&Config::session, &S::coalesce_max_hold),
                   /*allow_zero=*/false,
                   "Longest a streaming session's frames may be held for coalescing."),
      // Browser -> bridge messages.
      CountFlag("client_messages_per_second",
                Field(&Config::session, &S::client_messages_per_second), 0, kNoMax,
                "Inbound messages and pings per second per session (past it: close 1008); 0 = "
                "unlimited."),
      CountFlag("client_messages_burst", Field(&Config::session, &S::client_messages_burst), 0,
                kNoMax, "Burst of that rate limit; 0 = same as client_messages_per_second."),
      BoolFlag("forward_client_messages", Field(&Config::session, &S::forward_client_messages),
               "Turn messages from browsers into events on Events() streams."),
      // Compression.
      BoolFlag("compression",
               Field(&Config::session, &S::compression, &CompressionOptions::enabled),
               "Accept permessage-deflate when a browser offers it."),
      ByteSizeFlag("compression_min_bytes",
                   Field(&Config::session, &S::compression, &CompressionOptions::min_bytes), 0,
                   kNoMax, "Messages to browsers shorter than this are sent uncompressed."),
      // Node.
      CountFlag("event_history", Field(&Config::events, &EventOptions::history), 0, kNoMax,
                "Events kept for replay to resuming Events() streams."),
      CountFlag("events_stream_buffer", Field(&Config::events, &EventOptions::stream_buffer), 1,
                kNoMax,
                "Events one Events() stream may lag behind before it is ended with "
                "RESOURCE_EXHAUSTED."),
      ByteSizeFlag("event_history_bytes", Field(&Config::events, &EventOptions::history_bytes), 0,
                   kNoMax, "Bytes of events kept for replay to resuming Events() streams."),
      ByteSizeFlag("events_stream_buffer_bytes",
                   Field(&Config::events, &EventOptions::stream_buffer_bytes),
                   kMinStreamBufferBytes, kNoMax,
                   "Bytes of events one Events() stream may lag behind before it is ended with "
                   "RESOURCE_EXHAUSTED (at least 1024; one event always fits)."),
      CountFlag("max_events_streams", Field(&Config::events, &EventOptions::max_streams), 1, kNoMax,
                "Events() streams this node serves at once."),
      StringFlag("node_id", "ID", Field(&Config::node, &NodeOptions::node_id),
                 "Name of this node in events; empty = generate one at startup."),
      CountFlag("drain_seconds", Field(&Config::node, &NodeOptions::drain_seconds), 0, kNoMax,
                "Seconds a shutdown waits for sessions to close."),
      LogLevelFlag("log_level", Field(&Config::node, &NodeOptions::log_level),
                   "Log verbosity: trace, debug, info, warn, error or off."),
      StringFlag("log_format", "FORMAT", Field(&Config::node, &NodeOptions::log_format),
                 "Log lines as text, or json (one JSON object per line).", CheckLogFormat),
      CountFlag("fd_reserve", Field(&Config::node, &NodeOptions::fd_reserve), 0, kMaxFdReserve,
                "Descriptors kept free for gRPC, admin and internals; WebSocket connections "
                "beyond the limit minus this get 503; 0 = max(128, 10% of the limit)."),
      // Cluster.
      // It may hold a password: the startup line shows <set>; the cluster logs it redacted.
      SecretFlag("redis_url", "URL", Field(&Config::cluster, &ClusterOptions::redis_url),
                 "redis://[:password@]host:port[/db] shared by the nodes of a cluster; empty = "
                 "one node, no Redis."),
      DurationFlag("node_timeout", Field(&Config::cluster, &ClusterOptions::node_timeout),
                   /*allow_zero=*/false,
                   "Cluster mode: a node silent this long is lost and its sessions are closed "
                   "(1006) by a survivor."),
      ByteSizeFlag("cluster_buffer_bytes", Field(&Config::cluster, &ClusterOptions::buffer_bytes),
                   64 << 10, kNoMax,
                   "Cluster mode: bytes of session events kept for Redis while it is away; past "
                   "it the oldest message/error events are dropped."),
  };
  return *kTable;
}

// --- Parsing helpers ----------------------------------------------------------------------------

std::string EnvVarName(absl::string_view flag_name) {
  return absl::StrCat(kEnvPrefix, absl::AsciiStrToUpper(flag_name));
}

const FlagSpec* FindFlag(absl::string_view name) {
  for (const FlagSpec& spec : FlagTable()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

absl::Status UnknownFlag(absl::string_view written_name) {
  // Suggest the closest flag when it is plausibly a typo (or '-' written for '_').
  std::string normalized(written_name);
  std::replace(normalized.begin(), normalized.end(), '-', '_');
  const FlagSpec* closest = nullptr;
  size_t closest_distance = 3;  // suggest only within 2 edits
  for (const FlagSpec& spec : FlagTable()) {
    const size_t distance = EditDistance(normalized, spec.name);
    if (distance < closest_distance) {
      closest = &spec;
      closest_distance = distance;
    }
  }
  std::string message = absl::StrCat("--", written_name, ": unknown flag");
  if (closest != nullptr) absl::StrAppend(&message, " (did you mean --", closest->name, "?)");
  absl::StrAppend(&message, "; see --help");
  return absl::InvalidArgumentError(message);
}

absl::Status Apply(const FlagSpec& spec, absl::string_view value, absl::string_view source,
                   Config& config) {
  absl::Status status = spec.set(value, config);
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(source, ": ", status.message()));
}

// One value given on the command line, applied after the environment.
struct CommandLineValue {
  const FlagSpec* spec;
  std::string value;
};

}  // namespace

absl::StatusOr<FlagParseResult> ParseFlags(
    const std::vector<std::string>& args,
    const std::function<std::optional<std::string>(const std::string&)>& getenv) {
  FlagParseResult result;
  absl::Status first_error;
  const auto record = [&first_error](absl::Status status) {
    if (first_error.ok()) first_error = std::move(status);
  };

  // 1. Split the command line into flag values; structural errors are recorded in order.
  std::vector<CommandLineValue> command_line;
  const FlagSpec* previous_bare_bool = nullptr;  // for the "--flag false" hint
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const FlagSpec* bare_bool = nullptr;
    if (arg == "-h" || arg == "--help") {
      result.help_requested = true;
    } else if (absl::StartsWith(arg, "--help=")) {
      record(absl::InvalidArgumentError("--help: takes no value"));
    } else if (absl::StartsWith(arg, "--") && arg.size() > 2) {
      const absl::string_view body = absl::string_view(arg).substr(2);
      const size_t equals = body.find('=');
      const absl::string_view name = body.substr(0, equals);
      const FlagSpec* spec = FindFlag(name);
      if (spec == nullptr) {
        record(UnknownFlag(name));
      } else if (equals != absl::string_view::npos) {
        command_line.push_back({spec, std::string(body.substr(equals + 1))});
      } else if (spec->is_bool) {
        command_line.push_back({spec, "true"});
        bare_bool = spec;
      } else if (i + 1 < args.size() && !absl::StartsWith(args[i + 1], "--")) {
        command_line.push_back({spec, args[++i]});
      } else {
        record(absl::InvalidArgumentError(absl::StrCat("--", name, ": missing value (use --", name,
                                                       "=VALUE for a value starting with --)")));
      }
    } else if (absl::StartsWith(arg, "-") && arg.size() > 1 && arg != "--") {
      record(absl::InvalidArgumentError(
          absl::StrCat(arg, ": unknown flag (flags start with \"--\"); see --help")));
    } else if (previous_bare_bool != nullptr && ParseBool(arg).has_value()) {
      record(absl::InvalidArgumentError(absl::StrCat(
          "--", previous_bare_bool->name, ": a bool flag takes its value after '=': --",
          previous_bare_bool->name, "=", arg, " (", Quote(arg), " is a stray argument)")));
    } else {
      record(absl::InvalidArgumentError(
          absl::StrCat("unexpected argument ", Quote(arg),
                       ": positional arguments are not accepted (flags start with \"--\")")));
    }
    previous_bare_bool = bare_bool;
  }

  // 2. The environment, for every flag the command line does not set.
  for (const FlagSpec& spec : FlagTable()) {
    const bool on_command_line =
        std::any_of(command_line.begin(), command_line.end(),
                    [&spec](const CommandLineValue& given) { return given.spec == &spec; });
    if (on_command_line || !getenv) continue;
    const std::string variable = EnvVarName(spec.name);
    const std::optional<std::string> value = getenv(variable);
    if (!value.has_value() || value->empty()) continue;
    if (absl::Status status = Apply(spec, *value, variable, result.config); !status.ok()) {
      record(std::move(status));
    }
  }

  // 3. The command line, in order (a repeated flag: the last one wins).
  for (const CommandLineValue& given : command_line) {
    const std::string source = absl::StrCat("--", given.spec->name);
    if (absl::Status status = Apply(*given.spec, given.value, source, result.config);
        !status.ok()) {
      record(std::move(status));
    }
  }

  if (result.help_requested) return result;
  if (!first_error.ok()) return first_error;
  return result;
}

std::string FlagHelp() {
  std::string help =
      "Usage: wsbridge [--flag=value]...\n"
      "\n"
      "wsbridge holds browser WebSocket sessions and is driven by a gRPC API.\n"
      "\n"
      "Every flag can also be set by its environment variable (WSBRIDGE_ and the flag name in\n"
      "upper case); a flag on the command line wins over its variable. Values:\n"
      "  forms     --flag=value or --flag value; a bool flag alone means true, else --flag=BOOL\n"
      "  BOOL      true/false, 1/0, yes/no\n"
      "  DURATION  \"500ms\", \"10s\", \"1m\", or a plain number of seconds; at most 24h\n"
      "  BYTES     a number, optionally with a KiB, MiB or GiB suffix (\"64KiB\")\n"
      "  lists     comma-separated (TOPICS, ORIGINS)\n"
      "\n"
      "Flags:\n"
      "  --help, -h\n"
      "      Print this help and exit.\n";
  const Config defaults;
  for (const FlagSpec& spec : FlagTable()) {
    const std::string usage = spec.is_bool ? absl::StrCat("--", spec.name, "[=BOOL]")
                                           : absl::StrCat("--", spec.name, "=", spec.value_name);
    absl::StrAppend(&help, "  ", usage, "  (env ", EnvVarName(spec.name), ", default ",
                    spec.show(defaults), ")\n      ", spec.help, "\n");
  }
  return help;
}

std::string DescribeConfig(const Config& config) {
  std::string description;
  for (const FlagSpec& spec : FlagTable()) {
    absl::StrAppend(&description, description.empty() ? "" : " ", spec.name, "=",
                    spec.show(config));
  }
  return description;
}

}  // namespace wsbridge
