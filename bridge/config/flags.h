// Flags: turns the command line and WSBRIDGE_* environment variables into a Config, and
// describes the flags (--help) and a Config (for logs).
//
// Every setting of Config is one flag, named like its field (--grpc_port sets
// config.listeners.grpc_port; config/config.h names the few that differ), and one environment
// variable named WSBRIDGE_ + the flag name in upper case (WSBRIDGE_GRPC_PORT). The environment is
// read first, then the command line, so a flag given on the command line wins (its environment
// variable is then not even parsed). A flag given twice on the command line: the last one wins.
//
// Command-line forms: --name=value and --name value; for bool flags also bare --name (= true).
// A bool flag never takes the next argument as its value: write --name=false, not --name false.
// In the --name value form the value may not start with "--" (use --name=--value for that).
// Value syntax:
//   bool      true/false, 1/0, yes/no (any case), on the command line and in the environment.
//   number    decimal digits only; byte sizes may end in KiB, MiB or GiB ("1MiB").
//   duration  absl::ParseDuration syntax ("500ms", "10s", "1m30s") or a plain number of seconds
//             ("10", "0.5"). Never negative, at most 24h.
//   list      comma-separated; whitespace around entries is trimmed; an empty entry ("a,,b") is
//             an error, an entirely empty value is the empty list.
// An environment variable set to the empty string counts as not set.
//
// Why our own parser and not absl::flags (which is installed, duration flags included): an
// ABSL_FLAG is a process-wide global in a global registry, and our style has no globals; tests
// parse hundreds of different command lines in one process, and integration tests run several
// nodes with different settings side by side, which global flags cannot express. absl::flags
// also differs from what users are promised here: no WSBRIDGE_* overlay (--fromenv reads
// FLAGS_name), no KiB/MiB/GiB sizes, no plain-seconds durations ("10"), its own error messages
// and --help layout, and ParseCommandLine() exits the process itself. Matching all that on top of
// it would take about as much code as this parser, which is table-driven: one entry per setting
// (config/flags.cc), addressing the setting's field in its group of Config.
//
// Thread-safety: every function here is pure (no mutable global state; the environment is read
// only through the `getenv` callback) and is safe to call from any number of threads at once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace wsbridge {

struct FlagParseResult {
  Config config;
  bool help_requested = false;  // --help or -h seen
};

// Parses `args` (argv without argv[0]) over the environment, as read through `getenv` (which
// returns nullopt for an unset variable; an empty std::function means an empty environment).
//
// Returns INVALID_ARGUMENT, with a message that starts with the offending flag ("--grpc_port: ...")
// or environment variable ("WSBRIDGE_GRPC_PORT: ..."), for: an unknown flag, a positional
// argument, a missing value, a malformed or out-of-range number, duration or bool, a ws_path not
// starting with '/', an empty list entry, an unknown log level, and so on. When several things are
// wrong, the first one found is reported. Files named by flags (jwt_public_key) are not opened.
//
// When --help or -h is present, returns OK with help_requested set and ignores every other error,
// so that `wsbridge --help` works whatever the environment holds.
absl::StatusOr<FlagParseResult> ParseFlags(
    const std::vector<std::string>& args,
    const std::function<std::optional<std::string>(const std::string&)>& getenv);

// The --help text: a usage line, the value syntax, then every flag with its environment variable,
// its default and a one-line meaning. Ends with a newline.
std::string FlagHelp();

// Canonical one-line text of `config` for logs: "bind=0.0.0.0 grpc_port=50051 ...", every flag in
// the order FlagHelp() lists them. jwt_secret and api_key appear only as "<set>" or "<unset>".
// Values that are empty or hold a character other than letters, digits and ._-~:/@+*,[]% are
// double-quoted and C-escaped, so the line splits unambiguously on spaces.
std::string DescribeConfig(const Config& config);

}  // namespace wsbridge
