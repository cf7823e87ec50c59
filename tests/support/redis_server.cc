#include "support/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace wsbridge::testing {
namespace {

constexpr char kRedisServer[] = "/usr/bin/redis-server";

// A port the kernel just handed out for 127.0.0.1 (free now; nothing holds it after).
uint16_t PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("could not pick a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// True when something on `port` answers an inline PING as a Redis does (+PONG, or -NOAUTH when
// it wants a password).
bool AnswersPing(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      write(fd, "PING\r\n", 6) == 6) {
    pollfd p{fd, POLLIN, 0};
    char buffer[64] = {};
    if (poll(&p, 1, 1000) == 1 && read(fd, buffer, sizeof buffer - 1) > 0) {
      const std::string answer(buffer);
      ok = answer.rfind("+PONG", 0) == 0 || answer.rfind("-NOAUTH", 0) == 0;
    }
  }
  close(fd);
  return ok;
}

}  // namespace

RedisServer::RedisServer(Options options) : options_(std::move(options)) {
  if (access(kRedisServer, X_OK) != 0) {
    throw std::runtime_error(absl::StrCat(kRedisServer,
                                          " is missing: the cluster tests need Debian's "
                                          "redis-server (run .ci/install-deps.sh)"));
  }
  char dir_template[] = "/tmp/wsbridge-redis-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir_template;
  port_ = PickFreePort();
  Start();
}

RedisServer::~RedisServer() {
  if (process_ != nullptr) Kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RedisServer::Url(int db) const {
  if (!options_.password.empty()) return UrlWithPassword(options_.password, db);
  return absl::StrCat("redis://127.0.0.1:", port_, db != 0 ? absl::StrCat("/", db) : "");
}

std::string RedisServer::UrlWithPassword(const std::string& password, int db) const {
  return absl::StrCat("redis://:", password, "@127.0.0.1:", port_,
                      db != 0 ? absl::StrCat("/", db) : "");
}

void RedisServer::Start() {
  std::vector<std::string> args = {
      "--bind",      "127.0.0.1", "--port",       std::to_string(port_),
      "--save",      "",          "--appendonly", "no",
      "--dir",       dir_,        "--logfile",    dir_ + "/redis.log",
      "--daemonize", "no"};
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  process_ = std::make_unique<ChildProcess>(kRedisServer, args);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!AnswersPing(port_)) {
    if (process_->WaitExit(absl::ZeroDuration()).has_value()) {
      const std::string why = process_->Stderr();
      process_.reset();
      throw std::runtime_error(
          absl::StrCat("redis-server on port ", port_, " exited at start: ", why, LogTail()));
    }
    if (absl::Now() > deadline) {
      throw std::runtime_error(absl::StrCat("redis-server on port ", port_,
                                            " did not answer PING within 10 s", LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

void RedisServer::Pause() {
  if (process_ == nullptr || paused_) return;
  process_->Signal(SIGSTOP);
  paused_ = true;
}

void RedisServer::Resume() {
  if (process_ == nullptr || !paused_) return;
  process_->Signal(SIGCONT);
  paused_ = false;
}

void RedisServer::Stop() {
  if (process_ == nullptr) return;
  Resume();  // a stopped process does not act on SIGTERM
  process_->Signal(SIGTERM);
  if (!process_->WaitExit(absl::Seconds(5)).has_value()) {
    process_->Signal(SIGKILL);
    process_->WaitExit(absl::Seconds(5));
  }
  process_.reset();
}

void RedisServer::Kill() {
  if (process_ == nullptr) return;
  process_->Signal(SIGKILL);
  process_->WaitExit(absl::Seconds(5));
  process_.reset();
  paused_ = false;
}

void RedisServer::Restart() {
  Stop();
  Start();
}

std::string RedisServer::LogTail() const {
  std::ifstream log(dir_ + "/redis.log");
  std::stringstream text;
  text << log.rdbuf();
  std::string all = text.str();
  if (all.size() > 2000) all = all.substr(all.size() - 2000);
  return all.empty() ? "" : absl::StrCat("\nredis.log:\n", all);
}

}  // namespace wsbridge::testing
