// Lifecycle: the node-wide "are we draining" switch. Set once on SIGTERM/SIGINT (or by
// BridgeServer::Shutdown); read by the WebSocket handshake (503), the API (UNAVAILABLE) and the
// admin endpoint (/readyz 503).
//
// Thread-safety: all members are safe from any thread.
#pragma once

#include <atomic>

namespace wsbridge {

class Lifecycle {
 public:
  void StartDraining() { draining_.store(true, std::memory_order_release); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> draining_{false};
};

}  // namespace wsbridge
