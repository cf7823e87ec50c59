// RedisServer: a real redis-server (Debian's /usr/bin/redis-server) as a child process for the
// tests of cluster mode: on 127.0.0.1 and a free port, with persistence off (--save "",
// --appendonly no) and an optional password (--requirepass). The constructor returns once the
// server answers PING; Stop() and Kill() end it by its PID, Restart() starts it again on the
// same port, so a test can take Redis away and give it back.
//
// A missing redis-server is an error, not a skip: CI installs it (.ci/install-deps.sh).
//
// Thread-safety: use from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "support/child_process.h"

namespace wsbridge::testing {

class RedisServer {
 public:
  struct Options {
    std::string password;  // empty: no --requirepass
  };

  RedisServer() : RedisServer(Options{}) {}
  explicit RedisServer(Options options);  // throws std::runtime_error when it cannot start
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  // redis://[:password@]127.0.0.1:port[/db]
  std::string Url(int db = 0) const;
  std::string UrlWithPassword(const std::string& password, int db = 0) const;

  // SIGTERM, and SIGKILL if it has not exited within 5 s.
  void Stop();
  // SIGKILL.
  void Kill();
  // Stops it if running, then starts it again on the same port and waits for PING.
  void Restart();
  // SIGSTOP / SIGCONT: a Redis that hangs, its connections open and silent, then goes on.
  void Pause();
  void Resume();
  bool running() const { return process_ != nullptr; }

 private:
  void Start();
  std::string LogTail() const;

  Options options_;
  uint16_t port_ = 0;
  std::string dir_;  // its working directory and log file, removed at the end
  std::unique_ptr<ChildProcess> process_;
  bool paused_ = false;
};

}  // namespace wsbridge::testing
