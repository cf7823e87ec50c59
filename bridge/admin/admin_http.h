// AdminHttp: the operator's HTTP port (keep it private): GET /healthz (200 while the process
// serves), GET /readyz (200; 503 once draining, or while a listener is not accepting, with the
// reason in the body) and GET /metrics (Prometheus text format).
// HEAD gets the same status and headers (Content-Length included) without the body; other methods
// get 405. A request that is not HTTP, or is too big, gets 400, as on the WebSocket port; a peer
// that sends nothing or vanishes gets no answer. One request per connection; small, plain, no
// keep-alive.
//
// Thread-safety: each connection runs on the I/O thread that accepted it; `metrics` and
// `not_ready_reason` are called there and must be thread-safe (and quick: they hold up the
// thread's sessions).
#pragma once

#include <functional>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "runtime/lifecycle.h"

namespace wsbridge {

struct AdminEnvironment {
  const Lifecycle& lifecycle;
  std::function<std::string()> metrics;  // Prometheus exposition text
  // Why the node cannot serve although it is not draining (a listener that is not accepting);
  // empty when it can. Unset: always ready.
  std::function<std::string()> not_ready_reason;
};

// Serves one admin connection on `socket`'s thread.
void ServeAdminConnection(boost::asio::ip::tcp::socket socket, const AdminEnvironment& environment);

}  // namespace wsbridge
