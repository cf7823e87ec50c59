// TcpBytesReceived: the bytes a TCP socket has received from its peer so far, as the kernel counts
// them (TCP_INFO's tcpi_bytes_received: payload bytes, no TCP/IP headers). The load generator
// reads it to report bytes on the wire per message (with and without permessage-deflate).
//
// It lives in a translation unit of its own because glibc's <netinet/tcp.h> (which Asio includes)
// has an older struct tcp_info without the field, and <linux/tcp.h> cannot be included beside it.
//
// Thread-safety: a plain syscall on a file descriptor.
#pragma once

#include <cstdint>

namespace wsbridge::bench {

// 0 when the socket is closed or the kernel does not report it.
uint64_t TcpBytesReceived(int fd);

}  // namespace wsbridge::bench
