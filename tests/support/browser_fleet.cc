#include "support/browser_fleet.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "support/raw_frames.h"
#include "support/raw_ws_client.h"

namespace wsbridge::testing {
namespace {

constexpr size_t kWave = 100;  // connections opened before their 101s are awaited
constexpr absl::Duration kHandshakeTimeout = absl::Seconds(20);

// Writes all of `bytes` to a blocking socket.
bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads the HTTP head of the response on `fd` (until the blank line); bytes read past it go to
// *rest. nullopt on error or timeout.
std::optional<std::string> ReadHead(int fd, absl::Time deadline, std::string* rest) {
  std::string received;
  char chunk[4096];
  for (;;) {
    const size_t end = received.find("\r\n\r\n");
    if (end != std::string::npos) {
      *rest = received.substr(end + 4);
      received.resize(end + 4);
      return received;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::nullopt;
    pollfd readable{fd, POLLIN, 0};
    const int ready = ::poll(&readable, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return std::nullopt;
    received.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

BrowserFleet::~BrowserFleet() {
  {
    absl::MutexLock lock(&mutex_);
    stop_ = true;
  }
  if (reader_.joinable()) reader_.join();
  for (int fd : sockets_) {
    if (fd >= 0) ::close(fd);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool BrowserFleet::Open(size_t count, std::string* error, int receive_buffer_bytes,
                        const std::string& target) {
  const std::string request = UpgradeRequest(kRfcKey, "13", target);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (size_t opened = 0; opened < count;) {
    const size_t wave = std::min(kWave, count - opened);
    const size_t first = sockets_.size();
    for (size_t k = 0; k < wave; ++k) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        *error = absl::StrCat("socket: ", std::strerror(errno));
        return false;
      }
      sockets_.push_back(fd);
      buffers_.emplace_back();
      if (receive_buffer_bytes > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof(int));
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
          !WriteAll(fd, request)) {
        *error = absl::StrCat("browser ", sockets_.size() - 1, ": ", std::strerror(errno));
        return false;
      }
    }
    const absl::Time deadline = absl::Now() + kHandshakeTimeout;
    for (size_t i = first; i < sockets_.size(); ++i) {
      const std::optional<std::string> head = ReadHead(sockets_[i], deadline, &buffers_[i]);
      if (!head.has_value() || head->rfind("HTTP/1.1 101", 0) != 0) {
        *error = absl::StrCat("browser ", i, ": no 101: ", head.value_or("(no answer)"));
        return false;
      }
      Record record;
      record.session_id = HeaderValue(*head, "X-Wsbridge-Session-Id");
      absl::MutexLock lock(&mutex_);
      records_.push_back(std::move(record));
    }
    opened += wave;
  }
  return true;
}

std::string BrowserFleet::session_id(size_t i) const {
  absl::MutexLock lock(&mutex_);
  return records_[i].session_id;
}

void BrowserFleet::StartReading() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  for (size_t i = 0; i < sockets_.size(); ++i) {
    ::fcntl(sockets_[i], F_SETFL, ::fcntl(sockets_[i], F_GETFL) | O_NONBLOCK);
    epoll_event interest{};
    interest.events = EPOLLIN | EPOLLRDHUP;
    interest.data.u64 = i;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sockets_[i], &interest);
  }
  reader_ = std::thread([this] { ReadLoop(); });
}

void BrowserFleet::ReadLoop() {
  std::string scratch(64 * 1024, '\0');
  // Bytes that came with the 101 are handled first.
  for (size_t i = 0; i < sockets_.size(); ++i) ReadFrom(i, scratch);
  std::vector<epoll_event> ready(256);
  for (;;) {
    {
      absl::MutexLock lock(&mutex_);
      if (stop_ || ended_ == sockets_.size()) return;
    }
    const int n = ::epoll_wait(epoll_fd_, ready.data(), static_cast<int>(ready.size()), 100);
    for (int k = 0; k < n; ++k) ReadFrom(static_cast<size_t>(ready[k].data.u64), scratch);
  }
}

bool BrowserFleet::ReadFrom(size_t i, std::string& scratch) {
  int& fd = sockets_[i];
  if (fd < 0) return false;
  bool connection_over = false;
  for (;;) {
    const ssize_t n = ::recv(fd, scratch.data(), scratch.size(), 0);
    if (n > 0) {
      buffers_[i].append(scratch.data(), static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    connection_over = true;  // end of stream or an error
    break;
  }
  const absl::Time now = absl::Now();
  std::string& buffer = buffers_[i];
  size_t offset = 0;
  absl::MutexLock lock(&mutex_);
  Record& record = records_[i];
  for (;;) {
    size_t consumed = 0;
    auto frame = ParseServerFrame(std::string_view(buffer).substr(offset), &consumed);
    if (!frame.has_value()) break;
    offset += consumed;
    switch (frame->opcode) {
      case kText:
      case kBinary:
        if (record.close_code.has_value()) {
          ++record.data_after_close;
        } else {
          record.data.push_back(std::move(frame->payload));
        }
        break;
      case kPing:
        WriteAll(fd, ClientFrame(kPong, frame->payload));
        break;
      case kClose: {
        if (record.close_code.has_value()) break;
        const auto* body = reinterpret_cast<const unsigned char*>(frame->payload.data());
        record.close_code = frame->payload.size() >= 2
                                ? static_cast<uint16_t>(body[0] << 8 | body[1])
                                : uint16_t{1005};
        record.close_received = now;
        // Answer as a browser does; the bridge then closes the connection.
        WriteAll(fd, ClientFrame(kClose, CloseBody(*record.close_code, "")));
        break;
      }
      default:
        break;
    }
  }
  buffer.erase(0, offset);
  if (connection_over) {
    record.ended = true;
    ++ended_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    fd = -1;
  }
  return !connection_over;
}

bool BrowserFleet::AwaitAllEnded(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto all_ended = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return ended_ == sockets_.size(); };
  return mutex_.AwaitWithTimeout(absl::Condition(&all_ended), timeout);
}

std::vector<BrowserFleet::Record> BrowserFleet::Records() const {
  absl::MutexLock lock(&mutex_);
  return records_;
}

}  // namespace wsbridge::testing
