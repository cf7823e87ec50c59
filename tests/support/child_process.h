// ChildProcess: runs a program (the real `wsbridge` binary) as a child for tests that check what
// an operator sees: the startup line, exit codes, messages, signals. stdout and stderr are read
// through pipes; the child is killed by its PID if the test forgets to stop it.
//
// Thread-safety: use from one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wsbridge::testing {

// RLIMIT_NOFILE for the child, set between fork and exec (so the program starts with it).
struct DescriptorLimit {
  uint64_t soft = 0;
  uint64_t hard = 0;  // at most the parent's hard limit (an unprivileged process cannot raise it)
};

class ChildProcess {
 public:
  // Starts `program` with `args` and the parent's environment plus `env` (which wins). With
  // `descriptor_limit`, the child starts with that RLIMIT_NOFILE and with no descriptors of the
  // parent's but stdin, stdout and stderr, so every one under the limit is the child's to use.
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env = {},
               std::optional<DescriptorLimit> descriptor_limit = std::nullopt);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line of stdout, or nullopt at end of output or after `timeout`.
  std::optional<std::string> ReadStdoutLine(absl::Duration timeout);
  void Signal(int signal_number);
  // The exit code (128 + signal when killed by one), or nullopt if still running after timeout.
  std::optional<int> WaitExit(absl::Duration timeout);
  // Everything written to stderr (complete once the process has exited).
  std::string Stderr();
  pid_t pid() const { return pid_; }

 private:
  void DrainStderr();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::string stdout_buffer_;
  std::string stderr_text_;
  std::optional<int> exit_code_;
};

}  // namespace wsbridge::testing
