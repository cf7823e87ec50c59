// CommandLine: bridgectl's arguments turned into one typed Invocation, with no I/O, so every rule
// (which flags a command takes, how lists and durations are spelled, what is a usage error) is
// unit-tested without a bridge. Files named by flags are not opened here; the commands do that.
//
// Spelling: `bridgectl [global flags] COMMAND [flags] [args]`; flags may come before or after
// the command and are written `--name=value` or `--name value`; a boolean flag is `--name` (or
// `--name=true|false`). List flags take comma-separated values and may be repeated. `--help`
// (or `-h`) anywhere asks for the help of the command it follows.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge::cli {

inline constexpr char kDefaultTarget[] = "127.0.0.1:50051";

// How to reach the bridge; shared by every command.
struct ConnectionOptions {
  std::string target = kDefaultTarget;  // --target, else $WSBRIDGE_TARGET
  std::string api_key;                  // --api_key, else $WSBRIDGE_API_KEY; empty: none sent
  bool tls = false;                     // --tls (implied by any --tls_* file)
  std::string tls_ca_file;              // PEM roots; empty: the system's
  std::string tls_cert_file;            // client certificate (PEM), with tls_key_file
  std::string tls_key_file;
  // Deadline of each unary call (and of each Broadcast of `ticker`). Streams have none.
  absl::Duration timeout = absl::Seconds(10);
};

// The message of push/broadcast: exactly one of --text, --binary_file, --binary_base64, or none
// (the bridge then answers INVALID_ARGUMENT, as for any request without a payload).
struct MessageOptions {
  enum class Kind { kNone, kText, kBinary, kBinaryFile };
  Kind kind = Kind::kNone;
  std::string value;  // the text, the decoded bytes, or the file's path
};

struct PushCommand {
  std::vector<std::string> session_ids;
  std::vector<std::string> user_ids;
  MessageOptions message;
};
struct BroadcastCommand {
  std::vector<std::string> topics;
  bool all_sessions = false;
  std::vector<std::string> exclude_session_ids;
  MessageOptions message;
};
// subscribe and unsubscribe take the same targets.
struct MembershipCommand {
  bool subscribe = true;
  std::vector<std::string> session_ids;
  std::vector<std::string> user_ids;
  std::vector<std::string> topics;
};
struct DisconnectCommand {
  std::vector<std::string> session_ids;
  std::vector<std::string> user_ids;
  uint32_t code = 0;  // 0: the bridge's default (1000)
  std::string reason;
};
struct ListSessionsCommand {
  std::string user_id;
  std::string topic;
  int32_t page_size = 0;  // 0: the bridge's default
  std::string page_token;
  bool all_pages = false;  // follow next_page_token to the end
};
struct GetSessionCommand {
  std::string session_id;
};
struct EventsCommand {
  std::vector<v1::EventKind> kinds;  // empty: every kind
  std::string group;
  uint64_t after = 0;  // start_after_sequence; 0: live events only
};
struct TickerCommand {
  std::string topic = "prices";
  absl::Duration interval = absl::Milliseconds(500);
  std::vector<std::string> symbols = {"AAPL", "MSFT"};
  uint64_t count = 0;  // updates to send in all; 0: until interrupted
  uint64_t seed = 0;   // of the random walk; 0: a random seed
};
// --help: the text to print on stdout, exit 0.
struct HelpRequest {
  std::string text;
};

using Command =
    std::variant<HelpRequest, PushCommand, BroadcastCommand, MembershipCommand, DisconnectCommand,
                 ListSessionsCommand, GetSessionCommand, EventsCommand, TickerCommand>;

struct Invocation {
  std::string name;  // "push", "sessions list", ...: names the command in messages
  ConnectionOptions connection;
  Command command;
};

// The environment variables the parser reads (WSBRIDGE_TARGET, WSBRIDGE_API_KEY), passed in so
// parsing stays pure.
using Environment = std::map<std::string, std::string>;

// `args` without the program name. A usage error is INVALID_ARGUMENT whose message starts with
// the command's name ("push: --code: not a number: x"), or "bridgectl" before the command is
// known; main prints it and exits 2.
absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args,
                                            const Environment& environment);

// The top-level help: commands and global flags.
std::string TopLevelHelp();

}  // namespace wsbridge::cli
