// bridgectl: a command-line client of wsbridge's gRPC API (see `bridgectl --help`). main only
// wires the parts: the parsed command line (command_line.h), the commands (commands.h), and the
// interrupt watcher that lets `events` and `ticker` end cleanly on Ctrl-C.
#include <cstdlib>
#include <iostream>
#include <string>
#include <variant>
#include <vector>

#include <grpc/support/log.h>

#include "command_line.h"
#include "commands.h"
#include "interrupt_watcher.h"

int main(int argc, char** argv) {
  using namespace wsbridge::cli;
  // First, before gRPC starts threads: they inherit the blocked interrupt signals.
  InterruptWatcher interrupts;
  // A failed call is reported as one line of ours; gRPC's own log lines (a failed TLS handshake
  // logs one) would only repeat it. GRPC_VERBOSITY, when set, still turns them on for debugging.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});

  const std::vector<std::string> args(argv + 1, argv + argc);
  Environment environment;
  for (const char* name : {"WSBRIDGE_TARGET", "WSBRIDGE_API_KEY"}) {
    if (const char* value = std::getenv(name)) environment[name] = value;
  }
  absl::StatusOr<Invocation> invocation = ParseCommandLine(args, environment);
  if (!invocation.ok()) {
    std::cerr << "bridgectl: " << invocation.status().message()
              << "\n(see bridgectl --help, or bridgectl COMMAND --help)\n";
    return kExitUsage;
  }
  if (const auto* help = std::get_if<HelpRequest>(&invocation->command)) {
    std::cout << help->text;
    return kExitOk;
  }
  return RunCommand(*invocation, interrupts, std::cout, std::cerr);
}
