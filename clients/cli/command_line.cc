#include "command_line.h"

#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace wsbridge::cli {
namespace {

// One flag a command accepts. `value_name` empty: a boolean flag.
struct Flag {
  std::string name;
  std::string value_name;
  std::string help;
  std::function<absl::Status(absl::string_view)> set;
};

// One command: what its help shows, the flags it takes besides the global ones, and what it does
// with positional arguments (null: it takes none).
struct CommandSpec {
  std::string usage;
  std::string summary;
  std::vector<Flag> flags;
  std::function<absl::Status(std::vector<std::string>)> positionals;
};

absl::Status UsageError(absl::string_view message) { return absl::InvalidArgumentError(message); }

// Setters binding a flag's text to a field.
std::function<absl::Status(absl::string_view)> SetString(std::string* field) {
  return [field](absl::string_view value) {
    *field = std::string(value);
    return absl::OkStatus();
  };
}
std::function<absl::Status(absl::string_view)> AppendList(std::vector<std::string>* field) {
  return [field](absl::string_view value) {
    for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      field->emplace_back(absl::StripAsciiWhitespace(item));
    }
    return absl::OkStatus();
  };
}
std::function<absl::Status(absl::string_view)> SetBool(bool* field) {
  return [field](absl::string_view value) {
    if (!absl::SimpleAtob(value, field))
      return UsageError(absl::StrCat("not true or false: ", value));
    return absl::OkStatus();
  };
}
template <typename Int>
std::function<absl::Status(absl::string_view)> SetNumber(Int* field) {
  return [field](absl::string_view value) {
    if (!absl::SimpleAtoi(value, field)) return UsageError(absl::StrCat("not a number: ", value));
    return absl::OkStatus();
  };
}
// A positive duration spelled with its unit ("500ms", "2s", "1m").
std::function<absl::Status(absl::string_view)> SetDuration(absl::Duration* field) {
  return [field](absl::string_view value) {
    absl::Duration duration;
    if (!absl::ParseDuration(value, &duration) || duration <= absl::ZeroDuration()) {
      return UsageError(absl::StrCat("not a positive duration like 500ms or 10s: ", value));
    }
    *field = duration;
    return absl::OkStatus();
  };
}

// --text, --binary_file, --binary_base64: at most one of them.
std::vector<Flag> MessageFlags(MessageOptions* message) {
  auto set = [message](MessageOptions::Kind kind) {
    return [message, kind](absl::string_view value) -> absl::Status {
      if (message->kind != MessageOptions::Kind::kNone) {
        return UsageError("give only one of --text, --binary_file, --binary_base64");
      }
      message->kind = kind;
      message->value = std::string(value);
      if (kind == MessageOptions::Kind::kBinary && !absl::Base64Unescape(value, &message->value)) {
        return UsageError("not base64");
      }
      return absl::OkStatus();
    };
  };
  return {
      {"text", "TEXT", "send TEXT as a text frame", set(MessageOptions::Kind::kText)},
      {"binary_file", "FILE", "send FILE's bytes as a binary frame",
       set(MessageOptions::Kind::kBinaryFile)},
      {"binary_base64", "B64", "send these bytes (base64) as a binary frame",
       set(MessageOptions::Kind::kBinary)},
  };
}

std::vector<Flag> GlobalFlags(ConnectionOptions* connection) {
  return {
      {"target", "HOST:PORT",
       absl::StrCat("the bridge's gRPC address (default ", kDefaultTarget,
                    ", env WSBRIDGE_TARGET)"),
       SetString(&connection->target)},
      {"api_key", "KEY", "API key sent as x-api-key metadata (env WSBRIDGE_API_KEY)",
       SetString(&connection->api_key)},
      {"tls", "", "connect with TLS", SetBool(&connection->tls)},
      {"tls_ca_file", "FILE",
       "PEM roots to verify the bridge (default: the system's; implies --tls)",
       SetString(&connection->tls_ca_file)},
      {"tls_cert_file", "FILE", "client certificate, PEM (with --tls_key_file; implies --tls)",
       SetString(&connection->tls_cert_file)},
      {"tls_key_file", "FILE", "client private key, PEM (with --tls_cert_file; implies --tls)",
       SetString(&connection->tls_key_file)},
      {"timeout", "DURATION", "deadline of each unary call (default 10s; streams have none)",
       SetDuration(&connection->timeout)},
  };
}

std::string FlagLines(const std::vector<Flag>& flags) {
  std::string text;
  for (const Flag& flag : flags) {
    std::string left = absl::StrCat("  --", flag.name);
    if (!flag.value_name.empty()) absl::StrAppend(&left, "=", flag.value_name);
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&text, left, " ", flag.help, "\n");
  }
  return text;
}

std::string CommandHelp(const CommandSpec& spec, const std::vector<Flag>& global_flags) {
  std::string text = absl::StrCat("usage: bridgectl ", spec.usage, "\n\n", spec.summary, "\n");
  if (!spec.flags.empty()) absl::StrAppend(&text, "\nflags:\n", FlagLines(spec.flags));
  absl::StrAppend(&text, "\nglobal flags:\n", FlagLines(global_flags));
  absl::StrAppend(&text,
                  "\nexit codes: 0 ok, 1 a gRPC error (printed as \"bridgectl: COMMAND: STATUS: "
                  "message\"), 2 usage error\n");
  return text;
}

std::function<absl::Status(std::vector<std::string>)> OnePositional(std::string* field,
                                                                    std::string what) {
  return [field, what](std::vector<std::string> args) {
    if (args.size() != 1 || args[0].empty()) return UsageError(absl::StrCat("needs one ", what));
    *field = args[0];
    return absl::OkStatus();
  };
}

absl::StatusOr<v1::EventKind> ParseEventKind(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "opened") return v1::EVENT_KIND_OPENED;
  if (lower == "message") return v1::EVENT_KIND_MESSAGE;
  if (lower == "closed") return v1::EVENT_KIND_CLOSED;
  if (lower == "error") return v1::EVENT_KIND_ERROR;
  return UsageError(
      absl::StrCat("--kinds: unknown kind ", name, " (kinds: opened, message, closed, error)"));
}

// Builds the spec of `name` ("push", "sessions list") bound to a fresh command stored in
// `command`; false if there is no such command.
bool MakeCommand(const std::string& name, Command* command, CommandSpec* spec) {
  if (name == "push") {
    auto& push = command->emplace<PushCommand>();
    *spec = {
        "push (--session=ID,... | --user=USER,...) (--text=TEXT | --binary_file=FILE | "
        "--binary_base64=B64)",
        "Pushes one message to sessions and/or to every session of users; prints the "
        "PushResponse as JSON.",
        {{"session", "ID,...", "target these sessions", AppendList(&push.session_ids)},
         {"user", "USER,...", "target every session of these users", AppendList(&push.user_ids)}},
        nullptr};
    for (Flag& flag : MessageFlags(&push.message)) spec->flags.push_back(std::move(flag));
    return true;
  }
  if (name == "broadcast") {
    auto& broadcast = command->emplace<BroadcastCommand>();
    *spec = {
        "broadcast (--topic=T,... | --all) [--exclude=ID,...] (--text=TEXT | "
        "--binary_file=FILE | --binary_base64=B64)",
        "Broadcasts one message to the subscribers of topics, or to every session; prints "
        "the BroadcastResponse as JSON.",
        {{"topic", "T,...", "send to the subscribers of these topics",
          AppendList(&broadcast.topics)},
         {"all", "", "send to every session", SetBool(&broadcast.all_sessions)},
         {"exclude", "ID,...", "leave these sessions out",
          AppendList(&broadcast.exclude_session_ids)}},
        nullptr};
    for (Flag& flag : MessageFlags(&broadcast.message)) spec->flags.push_back(std::move(flag));
    return true;
  }
  if (name == "subscribe" || name == "unsubscribe") {
    auto& membership = command->emplace<MembershipCommand>();
    membership.subscribe = name == "subscribe";
    *spec = {
        absl::StrCat(name, " (--session=ID,... | --user=USER,...) --topic=T,..."),
        absl::StrCat(membership.subscribe ? "Subscribes" : "Unsubscribes",
                     " sessions, or every session of users, ", membership.subscribe ? "to" : "from",
                     " topics; prints how many sessions were found as JSON."),
        {{"session", "ID,...", "these sessions", AppendList(&membership.session_ids)},
         {"user", "USER,...", "every session of these users", AppendList(&membership.user_ids)},
         {"topic", "T,...", "the topics", AppendList(&membership.topics)}},
        nullptr};
    return true;
  }
  if (name == "disconnect") {
    auto& disconnect = command->emplace<DisconnectCommand>();
    *spec = {
        "disconnect (--session=ID,... | --user=USER,...) [--code=N] [--reason=TEXT]",
        "Closes sessions with a WebSocket close code; prints how many were closed as JSON.",
        {{"session", "ID,...", "these sessions", AppendList(&disconnect.session_ids)},
         {"user", "USER,...", "every session of these users", AppendList(&disconnect.user_ids)},
         {"code", "N", "close code: 1000 or 3000-4999 (default 1000)", SetNumber(&disconnect.code)},
         {"reason", "TEXT", "close reason, at most 123 bytes", SetString(&disconnect.reason)}},
        nullptr};
    return true;
  }
  if (name == "sessions list") {
    auto& list = command->emplace<ListSessionsCommand>();
    *spec = {"sessions list [--user=USER] [--topic=T] [--page_size=N] [--page_token=TOKEN] [--all]",
             "Lists sessions, one page as a JSON ListSessionsResponse (pass its nextPageToken "
             "as --page_token for the next), or with --all every page as one JSON object.",
             {{"user", "USER", "only this user's sessions", SetString(&list.user_id)},
              {"topic", "T", "only the subscribers of this topic", SetString(&list.topic)},
              {"page_size", "N", "sessions per page (default: the bridge's)",
               SetNumber(&list.page_size)},
              {"page_token", "TOKEN", "continue from this page token", SetString(&list.page_token)},
              {"all", "", "follow every page", SetBool(&list.all_pages)}},
             nullptr};
    return true;
  }
  if (name == "sessions get") {
    auto& get = command->emplace<GetSessionCommand>();
    *spec = {"sessions get SESSION_ID",
             "Prints one session (user, topics, address, metadata, stats) as JSON.",
             {},
             OnePositional(&get.session_id, "SESSION_ID")};
    return true;
  }
  if (name == "events") {
    auto& events = command->emplace<EventsCommand>();
    *spec = {"events [--kinds=opened,message,closed,error] [--group=G] [--after=SEQ]",
             "Tails the Events stream: one JSON object per line, until interrupted (Ctrl-C "
             "ends it with exit 0).",
             {{"kinds", "K,...", "only these kinds: opened, message, closed, error (default all)",
               [&events](absl::string_view value) -> absl::Status {
                 for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
                   absl::StatusOr<v1::EventKind> kind =
                       ParseEventKind(absl::StripAsciiWhitespace(item));
                   if (!kind.ok()) return kind.status();
                   events.kinds.push_back(*kind);
                 }
                 return absl::OkStatus();
               }},
              {"group", "G", "share the events with the other streams of group G",
               SetString(&events.group)},
              {"after", "SEQ", "first replay the events after sequence SEQ from the history",
               SetNumber(&events.after)}},
             nullptr};
    return true;
  }
  if (name == "ticker") {
    auto& ticker = command->emplace<TickerCommand>();
    *spec = {"ticker [--topic=prices] [--interval=500ms] [--symbols=AAPL,MSFT] [--count=N]",
             "A demo publisher: every interval, broadcasts one price update per symbol to the "
             "topic as JSON text {\"symbol\":\"AAPL\",\"price\":123.45,\"time\":UNIX_MS} "
             "(a random walk), and prints each update sent; runs until interrupted.",
             {{"topic", "T", "the topic (default prices)", SetString(&ticker.topic)},
              {"interval", "DURATION", "time between ticks (default 500ms)",
               SetDuration(&ticker.interval)},
              {"symbols", "S,...", "the symbols (default AAPL,MSFT)",
               [&ticker](absl::string_view value) {
                 ticker.symbols.clear();
                 return AppendList(&ticker.symbols)(value);
               }},
              {"count", "N", "stop after N updates (default 0: never)", SetNumber(&ticker.count)},
              {"seed", "N", "seed of the random walk (default: random)", SetNumber(&ticker.seed)}},
             nullptr};
    return true;
  }
  return false;
}

const Flag* FindFlag(const std::vector<Flag>& flags, absl::string_view name) {
  for (const Flag& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

// Checks that need the whole command line.
absl::Status CheckInvocation(Invocation& invocation) {
  ConnectionOptions& connection = invocation.connection;
  if (connection.tls_cert_file.empty() != connection.tls_key_file.empty()) {
    return UsageError("--tls_cert_file and --tls_key_file go together");
  }
  if (!connection.tls_ca_file.empty() || !connection.tls_cert_file.empty()) connection.tls = true;
  if (connection.target.empty()) return UsageError("--target is empty");
  if (auto* ticker = std::get_if<TickerCommand>(&invocation.command)) {
    if (ticker->topic.empty()) return UsageError("--topic is empty");
    if (ticker->symbols.empty()) return UsageError("--symbols is empty");
  }
  return absl::OkStatus();
}

}  // namespace

std::string TopLevelHelp() {
  ConnectionOptions connection;
  return absl::StrCat(
      "usage: bridgectl [global flags] COMMAND [flags]\n\n"
      "A command-line client of wsbridge's gRPC API.\n\n"
      "commands:\n"
      "  push          push a message to sessions and/or users\n"
      "  broadcast     broadcast a message to topics or to every session\n"
      "  subscribe     subscribe sessions or users to topics\n"
      "  unsubscribe   unsubscribe sessions or users from topics\n"
      "  disconnect    close sessions with a close code\n"
      "  sessions list list sessions (paged)\n"
      "  sessions get  show one session\n"
      "  events        tail the Events stream as JSON lines\n"
      "  ticker        demo publisher: price updates to a topic\n\n"
      "global flags:\n",
      FlagLines(GlobalFlags(&connection)),
      "\n`bridgectl COMMAND --help` shows a command's flags.\n"
      "exit codes: 0 ok, 1 a gRPC error, 2 usage error\n");
}

absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args,
                                            const Environment& environment) {
  Invocation invocation;
  if (auto it = environment.find("WSBRIDGE_TARGET");
      it != environment.end() && !it->second.empty()) {
    invocation.connection.target = it->second;
  }
  if (auto it = environment.find("WSBRIDGE_API_KEY"); it != environment.end()) {
    invocation.connection.api_key = it->second;
  }
  const std::vector<Flag> global_flags = GlobalFlags(&invocation.connection);

  std::string name;  // grows to "sessions list" once both words are seen
  bool known = false;
  bool help = false;
  CommandSpec spec;
  std::vector<std::string> positionals;
  const auto error = [&name](const absl::Status& status) {
    if (name.empty()) return UsageError(status.message());
    return UsageError(absl::StrCat(name, ": ", status.message()));
  };

  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!flags_done && (arg == "--help" || arg == "-h" || (arg == "help" && name.empty()))) {
      help = true;
      continue;
    }
    if (!flags_done && arg == "--") {
      flags_done = true;
      continue;
    }
    if (flags_done || !absl::StartsWith(arg, "-") || arg == "-") {
      if (known) {
        positionals.push_back(arg);
        continue;
      }
      name = name.empty() ? arg : absl::StrCat(name, " ", arg);
      if (name == "sessions") continue;  // its sub-command comes next
      if (!MakeCommand(name, &invocation.command, &spec)) {
        const std::string unknown = name;
        name.clear();
        return error(UsageError(absl::StrCat("unknown command: ", unknown)));
      }
      known = true;
      continue;
    }
    absl::string_view body = arg;
    body.remove_prefix(absl::StartsWith(body, "--") ? 2 : 1);
    absl::string_view flag_name = body;
    std::optional<absl::string_view> value;
    if (const size_t equals = body.find('='); equals != absl::string_view::npos) {
      flag_name = body.substr(0, equals);
      value = body.substr(equals + 1);
    }
    const Flag* flag = known ? FindFlag(spec.flags, flag_name) : nullptr;
    if (flag == nullptr) flag = FindFlag(global_flags, flag_name);
    if (flag == nullptr) return error(UsageError(absl::StrCat("unknown flag --", flag_name)));
    if (!value.has_value()) {
      if (flag->value_name.empty()) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return error(UsageError(absl::StrCat("--", flag_name, " needs a value")));
      }
    }
    if (absl::Status status = flag->set(*value); !status.ok()) {
      return error(UsageError(absl::StrCat("--", flag_name, ": ", status.message())));
    }
  }

  if (help) {
    invocation.name = name;
    if (!known && name == "sessions") {
      CommandSpec list, get;
      Command scratch;
      MakeCommand("sessions list", &scratch, &list);
      MakeCommand("sessions get", &scratch, &get);
      invocation.command = HelpRequest{
          absl::StrCat(CommandHelp(list, global_flags), "\n", CommandHelp(get, global_flags))};
    } else {
      invocation.command = HelpRequest{known ? CommandHelp(spec, global_flags) : TopLevelHelp()};
    }
    return invocation;
  }
  if (!known) {
    return error(
        UsageError(name == "sessions" ? "needs a sub-command: list or get" : "needs a command"));
  }
  if (spec.positionals) {
    if (absl::Status status = spec.positionals(positionals); !status.ok()) return error(status);
  } else if (!positionals.empty()) {
    return error(UsageError(absl::StrCat("unexpected argument: ", positionals.front())));
  }
  invocation.name = name;
  if (absl::Status status = CheckInvocation(invocation); !status.ok()) return error(status);
  return invocation;
}

}  // namespace wsbridge::cli
