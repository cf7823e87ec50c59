// NodeMetrics: the node's Prometheus metrics, rendered for GET /metrics. It owns the counter
// block of each I/O thread (IoThreadMetrics, written only by that thread) and the gRPC side's
// CallMetrics, and at each scrape a prometheus-cpp Collectable sums the blocks and reads the
// node's gauges (NodeGauges, from a callback the wiring supplies) into metric families, which
// prometheus-cpp's TextSerializer writes in the text exposition format. Settings that do not
// change while the node runs are Gauges of a prometheus-cpp Registry, set once.
//
// Metric names follow Prometheus's conventions with the `wsbridge_` prefix: `_total` counters,
// `_seconds` and `_bytes` units; docs/prometheus/README.md lists them.
//
// Thread-safety: thread(i) is written only by I/O thread i; calls() from any thread;
// ExpositionText() from any thread (it only reads), and may run concurrently with every writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metrics/call_metrics.h"
#include "metrics/io_thread_metrics.h"

namespace prometheus {
class Registry;
}

namespace wsbridge::metrics {

// What the node reports about itself at each scrape, read by the wiring from its parts.
struct NodeGauges {
  uint64_t sessions = 0;  // open WebSocket sessions (admitted, until they finish)
  bool draining = false;
  uint64_t websocket_handshakes = 0;          // connections in their HTTP handshake
  uint64_t websocket_refused_total = 0;       // answered 503 over the descriptor budget (counter)
  uint64_t events_streams = 0;                // Events streams on the bus
  uint64_t events_stream_max_lag = 0;         // events the furthest-behind stream has yet to take
  uint64_t events_streams_ended_for_lag = 0;  // streams cut off for lag since the start
};

// What does not change while the node runs.
struct NodeSettings {
  size_t io_threads = 0;
  uint64_t descriptor_limit = 0;
  uint64_t descriptor_reserve = 0;
  uint64_t websocket_connection_budget = 0;
  uint64_t events_stream_lag_limit = 0;  // --events_stream_buffer: a stream further behind ends
};

class NodeMetrics {
 public:
  // `grpc_methods`: see CallMetrics. `gauges` is called at each scrape, from the scraping
  // thread; it must be thread-safe.
  NodeMetrics(const NodeSettings& settings, std::vector<std::string> grpc_methods,
              std::function<NodeGauges()> gauges);
  ~NodeMetrics();
  NodeMetrics(const NodeMetrics&) = delete;
  NodeMetrics& operator=(const NodeMetrics&) = delete;

  IoThreadMetrics& thread(size_t index) { return *threads_[index]; }
  CallMetrics& calls() { return calls_; }

  // Every metric in the Prometheus text exposition format (version 0.0.4).
  std::string ExpositionText() const;

 private:
  class Collector;

  std::vector<std::unique_ptr<IoThreadMetrics>> threads_;  // [i] written by I/O thread i only
  CallMetrics calls_;
  const std::function<NodeGauges()> gauges_;
  std::unique_ptr<prometheus::Registry> registry_;  // the fixed settings
  std::unique_ptr<Collector> collector_;            // everything that moves
};

}  // namespace wsbridge::metrics
