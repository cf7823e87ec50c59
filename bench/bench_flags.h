// The command lines of the bench servers and the load generator: every argument is --name=value.
// ParseNameValueArgs splits them and reports the three ways one can be wrong (not --name=value,
// an unknown name, a bad value) in the same words for every tool; each tool says what its names
// mean. Also what every such tool's main does the same way: --help, and blocking the termination
// signals that main then waits for. Header-only, no state.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace wsbridge::bench {

// Debian's Abseil has its own string_view type, which StrCat accepts but std::string_view is not.
inline absl::string_view AsAbsl(std::string_view text) { return {text.data(), text.size()}; }

// Whether the one argument is --help or -h.
inline bool HelpRequested(int argc, char** argv) {
  if (argc != 2) return false;
  const std::string_view arg = argv[1];
  return arg == "--help" || arg == "-h";
}

// Blocks SIGTERM and SIGINT in the calling thread, before it starts any other (they inherit the
// mask), so that only main receives them, with sigwait or a signalfd on the returned set.
inline sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// A number that is the whole of `text`.
template <typename Number>
bool ParseNumber(std::string_view text, Number& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// What a tool makes of one --name=value.
enum class FlagVerdict { kTaken, kBadValue, kUnknown };

// Calls `take(name, value)` for every argument of `args` (anything that iterates over values
// convertible to std::string_view), which returns a FlagVerdict. Stops at the first problem and
// returns false with `error` naming it.
template <class Args, class Take>
bool ParseNameValueArgs(const Args& args, const Take& take, std::string& error) {
  for (std::string_view arg : args) {
    const size_t equals = arg.find('=');
    if (!arg.starts_with("--") || equals == std::string_view::npos) {
      error = absl::StrCat("expected --name=value, got '", AsAbsl(arg), "'");
      return false;
    }
    const std::string_view name = arg.substr(2, equals - 2);
    const std::string_view value = arg.substr(equals + 1);
    switch (take(name, value)) {
      case FlagVerdict::kTaken:
        break;
      case FlagVerdict::kUnknown:
        error = absl::StrCat("unknown flag --", AsAbsl(name));
        return false;
      case FlagVerdict::kBadValue:
        error = absl::StrCat("bad value for --", AsAbsl(name), ": '", AsAbsl(value), "'");
        return false;
    }
  }
  return true;
}

}  // namespace wsbridge::bench
