#include "ws/stream_coalescing.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstddef>

namespace wsbridge::ws {

StreamCoalescing::Change StreamCoalescing::BeforeMessageWrite(TimePoint now, Duration gap) {
  if (gap == Duration::zero()) return Change::kNone;
  const bool streaming = last_message_write_ != TimePoint{} && now - last_message_write_ < gap;
  last_message_write_ = now;
  if (streaming == coalescing_) return Change::kNone;
  coalescing_ = streaming;
  return streaming ? Change::kStartCoalescing : Change::kSendAtOnce;
}

StreamCoalescing::Change StreamCoalescing::OnSweep(TimePoint now, Duration gap, bool closing) {
  if (!coalescing_) return Change::kNone;
  if (closing || now - last_message_write_ >= gap) {
    coalescing_ = false;
    return Change::kSendAtOnce;
  }
  return Change::kNone;
}

void SetSendAtOnce(boost::asio::ip::tcp::socket& socket, bool at_once) {
  boost::system::error_code ignored;
  socket.set_option(boost::asio::ip::tcp::no_delay(at_once), ignored);
}

bool PushHeldFrames(boost::asio::ip::tcp::socket& socket, std::chrono::milliseconds ack_silence) {
  int unsent = 0;
  if (::ioctl(socket.native_handle(), SIOCOUTQNSD, &unsent) != 0 || unsent <= 0) return false;
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &length) == 0 &&
      length >= offsetof(tcp_info, tcpi_last_ack_recv) + sizeof info.tcpi_last_ack_recv &&
      std::chrono::milliseconds(info.tcpi_last_ack_recv) < ack_silence) {
    return false;  // the browser acknowledges: what is held leaves with its next ACK
  }
  // TCP_NODELAY on sends what is queued at once; off again resumes coalescing.
  SetSendAtOnce(socket, true);
  SetSendAtOnce(socket, false);
  return true;
}

}  // namespace wsbridge::ws
