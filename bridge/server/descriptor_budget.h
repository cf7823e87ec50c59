// Descriptor budget: how many file descriptors the node may spend on WebSocket connections, and
// the process's descriptor limit it is computed from.
//
// Why a budget: every connection on any port costs one descriptor, and all ports draw from one
// limit (RLIMIT_NOFILE). Browsers (or anyone who can open TCP connections to the public
// WebSocket port) could otherwise take every descriptor, and then gRPC's accept fails; gRPC
// 1.51 (src/core/lib/iomgr/tcp_server_posix.cc, on_read) treats any accept4 error but
// EAGAIN/ECONNABORTED as fatal for that listening port and never re-arms it, so the gRPC port
// stays dead after the descriptors come back. So WebSocket connections (sessions plus handshakes
// under way) are capped at the limit minus a reserve, which stays free for gRPC connections, the
// admin port, gRPC's and our own event fds, logs and the readiness probe.
//
// Thread-safety: pure functions; RaiseDescriptorLimit changes the process and belongs in main().
#pragma once

#include <cstdint>
#include <string>

namespace wsbridge {

struct DescriptorBudget {
  uint64_t limit = 0;                  // the soft RLIMIT_NOFILE the node runs with
  uint64_t reserve = 0;                // kept free for everything but WebSocket connections
  uint64_t websocket_connections = 0;  // sessions + handshakes; beyond this, 503
};

// The budget for a process whose descriptor limit is `limit`. `configured_reserve` is
// --fd_reserve: 0 means max(128, 10% of the limit), but at most half of it, so a small limit
// still leaves WebSockets something; a reserve given explicitly is taken as is (a reserve at or
// past the limit leaves no WebSocket connections at all).
DescriptorBudget ComputeDescriptorBudget(uint64_t limit, uint64_t configured_reserve);

// What RaiseDescriptorLimit found and did.
struct DescriptorLimitChange {
  uint64_t soft_before = 0;
  uint64_t soft = 0;  // the soft limit now in force
  uint64_t hard = 0;  // RLIM_INFINITY shows as UINT64_MAX
  std::string error;  // why the soft limit could not be raised; empty when it was (or was already)
};

// Raises the soft RLIMIT_NOFILE to the hard one: the common soft default of 1024 is a relic of
// select(); we use epoll, and a node holding thousands of sessions needs more. An unlimited hard
// limit is capped at /proc/sys/fs/nr_open, the most the kernel accepts.
DescriptorLimitChange RaiseDescriptorLimit();

// The soft RLIMIT_NOFILE now in force (UINT64_MAX if unlimited or unknown).
uint64_t CurrentDescriptorLimit();

}  // namespace wsbridge
