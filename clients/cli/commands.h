// Commands: each bridgectl command as one function from its parsed options to calls on the
// bridge and lines on `out`. The exit code contract lives here: 0 when the bridge answered OK,
// 1 when it answered with a gRPC error (one line on `err`: "bridgectl: push: INVALID_ARGUMENT:
// <message>"), 2 for a usage error found only now (a file that cannot be read).
//
// Thread-safety: one command runs at a time, on the caller's thread; `interrupts` may cancel it
// from its own thread.
#pragma once

#include <ostream>

#include "command_line.h"
#include "interrupt_watcher.h"

namespace wsbridge::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRpcError = 1;
inline constexpr int kExitUsage = 2;

// Runs `invocation` (whose command is not a HelpRequest) and returns the exit code. `events` and
// `ticker` run until `interrupts` fires (then exit 0) or their end: the stream ends, a call
// fails, or ticker's --count is reached.
int RunCommand(const Invocation& invocation, InterruptWatcher& interrupts, std::ostream& out,
               std::ostream& err);

}  // namespace wsbridge::cli
