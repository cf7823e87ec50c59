// wsbridge: holds browsers' WebSocket sessions and lets backend services drive them over gRPC.
// Parses flags (and WSBRIDGE_* environment variables), starts one BridgeServer, prints the bound
// ports on one line, reloads its TLS certificates on SIGHUP, and drains on SIGTERM/SIGINT.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "config/flags.h"
#include "runtime/log_format.h"
#include "server/bridge_server.h"
#include "server/descriptor_budget.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

// The signals main waits for: SIGHUP (reload certificates), SIGTERM and SIGINT (drain).
sigset_t HandledSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  return signals;
}

// Serves SIGHUPs until SIGTERM or SIGINT comes, and returns that one.
int ReloadUntilTerminated(wsbridge::BridgeServer& server) {
  const sigset_t signals = HandledSignals();
  for (;;) {
    int received = 0;
    sigwait(&signals, &received);
    if (received != SIGHUP) return received;
    if (absl::Status status = server.ReloadCertificates(); status.ok()) {
      spdlog::info(
          "SIGHUP: TLS certificates reloaded (new connections get them; open ones keep "
          "theirs)");
    } else {
      spdlog::error("SIGHUP: {}", std::string(status.message()));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Block the handled signals in every thread (threads inherit the mask); main waits for them.
  const sigset_t signals = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // Debian builds abseil with mutex deadlock detection on: it keeps a graph of every lock held
  // while another is taken, a cost on each lock and unlock, so on each API call and event. Our
  // locks do nest, in one fixed order written down in docs/architecture.md ("Locks"); the test
  // suites run with the detector on, so a call path that takes two of them the other way round
  // aborts there. The binary relies on that and skips the bookkeeping.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed =
      wsbridge::ParseFlags(args, [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
      });
  if (!parsed.ok()) {
    std::cerr << "wsbridge: " << parsed.status().message() << "\n"
              << "run 'wsbridge --help' for the list of flags\n";
    return 2;
  }
  if (parsed->help_requested) {
    std::cout << wsbridge::FlagHelp();
    return 0;
  }
  const wsbridge::Config& config = parsed->config;

  auto logger = spdlog::stderr_color_mt("wsbridge");
  // --log_format: text lines, or one JSON object per line (runtime/log_format.h).
  logger->set_formatter(wsbridge::MakeLogFormatter(
      wsbridge::ParseLogFormat(config.node.log_format).value_or(wsbridge::LogFormat::kText)));
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.node.log_level));
  spdlog::info("starting: {}", wsbridge::DescribeConfig(config));
  // Before any thread or socket exists: the server sizes its descriptor budget from the limit.
  const wsbridge::DescriptorLimitChange limit = wsbridge::RaiseDescriptorLimit();
  if (!limit.error.empty()) {
    spdlog::warn("descriptor limit: cannot raise the soft limit {} to the hard limit {}: {}",
                 limit.soft_before, limit.hard, limit.error);
  } else {
    spdlog::info("descriptor limit: soft {} -> {} (hard {})", limit.soft_before, limit.soft,
                 limit.hard);
  }

  auto server = wsbridge::BridgeServer::Start(config);
  if (!server.ok()) {
    std::cerr << "wsbridge: " << server.status().message() << "\n";
    return absl::IsInvalidArgument(server.status()) ? 2 : 1;
  }
  const wsbridge::BoundPorts& ports = (*server)->ports();
  // One line on stdout that scripts parse for the ports actually bound.
  std::printf("wsbridge listening grpc_port=%u ws_port=%u admin_port=%u node_id=%s\n",
              static_cast<unsigned>(ports.grpc), static_cast<unsigned>(ports.ws),
              static_cast<unsigned>(ports.admin), (*server)->node_id().c_str());
  std::fflush(stdout);

  const int signal_number = ReloadUntilTerminated(**server);
  spdlog::info("signal {}: draining for up to {}s", signal_number, config.node.drain_seconds);
  (*server)->Shutdown(absl::Seconds(config.node.drain_seconds));
  spdlog::info("stopped");
  return 0;
}
