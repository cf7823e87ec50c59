#include "metrics/node_metrics.h"

#include <array>
#include <limits>
#include <span>
#include <sstream>
#include <string_view>
#include <utility>

#include <prometheus/collectable.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace wsbridge::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddSample(MetricFamily& family, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

MetricFamily Single(std::string name, std::string help, MetricType type, double value) {
  MetricFamily family = Family(std::move(name), std::move(help), type);
  AddSample(family, value);
  return family;
}

// Per-bucket counts (the last one +Inf) and their bounds as a cumulative Prometheus histogram.
MetricFamily HistogramFamily(std::string name, std::string help,
                             std::span<const double> upper_bounds,
                             const std::vector<uint64_t>& buckets, double sum) {
  MetricFamily family = Family(std::move(name), std::move(help), MetricType::Histogram);
  ClientMetric metric;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i];
    ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound =
        i < upper_bounds.size() ? upper_bounds[i] : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back(bucket);
  }
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = sum;
  family.metric.push_back(std::move(metric));
  return family;
}

constexpr const char* kSideLabels[kCloseSides] = {"client", "server", "transport"};

constexpr const char* kGrpcCodeNames[CallMetrics::kStatusCodes] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// "/pkg.Service/Method" -> {"pkg.Service", "Method"}.
std::pair<std::string, std::string> SplitMethodPath(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {"", std::string(path)};
  return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

}  // namespace

class NodeMetrics::Collector final : public prometheus::Collectable {
 public:
  explicit Collector(const NodeMetrics& node) : node_(node) {}

  std::vector<MetricFamily> Collect() const override {
    const NodeGauges gauges = node_.gauges_();
    std::vector<MetricFamily> families;

    families.push_back(Single("wsbridge_sessions",
                              "WebSocket sessions currently open on this node.", MetricType::Gauge,
                              static_cast<double>(gauges.sessions)));
    families.push_back(Single("wsbridge_draining", "1 while the node drains before exiting.",
                              MetricType::Gauge, gauges.draining ? 1 : 0));
    families.push_back(Single("wsbridge_websocket_handshakes",
                              "WebSocket connections in their HTTP handshake.", MetricType::Gauge,
                              static_cast<double>(gauges.websocket_handshakes)));
    families.push_back(Single("wsbridge_websocket_refused_total",
                              "WebSocket connections answered 503 because the descriptor budget "
                              "was reached.",
                              MetricType::Counter,
                              static_cast<double>(gauges.websocket_refused_total)));

    // Sums of the I/O threads' blocks.
    uint64_t opened = 0, sent = 0, sent_bytes = 0, received = 0, received_bytes = 0;
    uint64_t drops = 0, slow = 0;
    std::array<std::array<uint64_t, kCloseCodeSlots>, kCloseSides> closed{};
    std::array<uint64_t, 600> rejections{};
    SingleWriterHistogram::Snapshot latency;
    latency.buckets.assign(kDeliveryLatencyBounds.size() + 1, 0);
    for (const auto& thread : node_.threads_) {
      opened += thread->sessions_opened.value();
      sent += thread->messages_sent.value();
      sent_bytes += thread->bytes_sent.value();
      received += thread->messages_received.value();
      received_bytes += thread->bytes_received.value();
      drops += thread->queue_drops.value();
      slow += thread->slow_consumer_closes.value();
      for (size_t side = 0; side < kCloseSides; ++side) {
        for (size_t slot = 0; slot < kCloseCodeSlots; ++slot) {
          closed[side][slot] += thread->sessions_closed[side][slot].value();
        }
      }
      for (size_t status = 0; status < rejections.size(); ++status) {
        rejections[status] += thread->handshake_rejections[status].value();
      }
      thread->delivery_latency.AddTo(latency);
    }
    // Connections refused over the descriptor budget are answered 503 before any handshake.
    rejections[503] += gauges.websocket_refused_total;

    families.push_back(Single("wsbridge_sessions_opened_total",
                              "WebSocket sessions opened (upgrade completed) since the start.",
                              MetricType::Counter, static_cast<double>(opened)));
    MetricFamily closed_family =
        Family("wsbridge_sessions_closed_total",
               "WebSocket sessions closed, by close code (1000-1015 each; 3xxx and 4xxx for the "
               "application ranges; other) and by who closed (client, server, transport: the "
               "connection ended without a close handshake, code 1006).",
               MetricType::Counter);
    for (size_t side = 0; side < kCloseSides; ++side) {
      for (size_t slot = 0; slot < kCloseCodeSlots; ++slot) {
        if (closed[side][slot] == 0) continue;
        AddSample(closed_family, static_cast<double>(closed[side][slot]),
                  {{"code", CloseCodeLabel(slot)}, {"initiator", kSideLabels[side]}});
      }
    }
    families.push_back(std::move(closed_family));
    families.push_back(Single("wsbridge_sent_messages_total",
                              "Messages written to browsers (whole frames on the socket).",
                              MetricType::Counter, static_cast<double>(sent)));
    families.push_back(Single("wsbridge_sent_bytes_total",
                              "Payload bytes of the messages written to browsers (compressed "
                              "size when permessage-deflate is on; frame headers not counted).",
                              MetricType::Counter, static_cast<double>(sent_bytes)));
    families.push_back(Single("wsbridge_received_messages_total",
                              "Messages received from browsers.", MetricType::Counter,
                              static_cast<double>(received)));
    families.push_back(Single("wsbridge_received_bytes_total",
                              "Payload bytes of the messages received from browsers (after "
                              "inflating).",
                              MetricType::Counter, static_cast<double>(received_bytes)));
    families.push_back(Single("wsbridge_queue_drops_total",
                              "Deliveries refused because a session's send queue was full (the "
                              "session is then closed as a slow consumer).",
                              MetricType::Counter, static_cast<double>(drops)));
    families.push_back(Single("wsbridge_slow_consumer_closes_total",
                              "Sessions closed with 1013 as slow consumers (send queue full, or "
                              "no write progress for --write_timeout).",
                              MetricType::Counter, static_cast<double>(slow)));
    MetricFamily rejection_family =
        Family("wsbridge_handshake_rejections_total",
               "Requests on the WebSocket port answered with an HTTP error instead of an upgrade "
               "(401 token, 403 origin or topic, 429 session limits, 503 draining or over the "
               "descriptor budget, 400/404/405 bad requests), by status.",
               MetricType::Counter);
    for (size_t status = 0; status < rejections.size(); ++status) {
      if (rejections[status] == 0) continue;
      AddSample(rejection_family, static_cast<double>(rejections[status]),
                {{"status", std::to_string(status)}});
    }
    families.push_back(std::move(rejection_family));
    families.push_back(HistogramFamily(
        "wsbridge_delivery_latency_seconds",
        "Per delivered message: seconds from the gRPC handler accepting the Push or Broadcast "
        "(or stream request) to the write that put the whole frame into that session's socket.",
        kDeliveryLatencyBounds, latency.buckets, latency.sum));

    // The gRPC side.
    const CallMetrics& calls = node_.calls_;
    MetricFamily calls_family =
        Family("wsbridge_grpc_calls_total",
               "gRPC calls finished, by service, method and status code (streams count once, "
               "when they end).",
               MetricType::Counter);
    for (size_t method = 0; method <= calls.methods().size(); ++method) {
      auto [service, name] = method < calls.methods().size()
                                 ? SplitMethodPath(calls.methods()[method])
                                 : std::pair<std::string, std::string>{"unknown", "unknown"};
      for (size_t code = 0; code < CallMetrics::kStatusCodes; ++code) {
        const uint64_t count = calls.calls(method, code);
        if (count == 0) continue;
        AddSample(calls_family, static_cast<double>(count),
                  {{"grpc_code", kGrpcCodeNames[code]},
                   {"grpc_method", name},
                   {"grpc_service", service}});
      }
    }
    families.push_back(std::move(calls_family));
    std::vector<uint64_t> fanout(kFanoutBounds.size() + 1);
    for (size_t i = 0; i < fanout.size(); ++i) fanout[i] = calls.fanout().bucket(i);
    families.push_back(HistogramFamily("wsbridge_fanout_sessions",
                                       "Sessions matched by each Push or Broadcast (unary, "
                                       "stream request, or push of a PushBatch).",
                                       kFanoutBounds, fanout, calls.fanout().sum()));
    families.push_back(Single("wsbridge_events_streams", "Events streams open on this node.",
                              MetricType::Gauge, static_cast<double>(gauges.events_streams)));
    families.push_back(Single("wsbridge_events_delivered_total",
                              "Events written to Events streams (each event once per stream "
                              "that received it).",
                              MetricType::Counter, static_cast<double>(calls.events_delivered())));
    families.push_back(Single("wsbridge_events_streams_ended_for_lag_total",
                              "Events streams ended with RESOURCE_EXHAUSTED because they fell "
                              "further behind than --events_stream_buffer allows.",
                              MetricType::Counter,
                              static_cast<double>(gauges.events_streams_ended_for_lag)));
    families.push_back(Single(
        "wsbridge_events_stream_max_lag_events",
        "Events the furthest-behind Events stream has yet to take (0 with no stream). A stream "
        "is ended for lag past wsbridge_events_stream_lag_limit_events.",
        MetricType::Gauge, static_cast<double>(gauges.events_stream_max_lag)));
    return families;
  }

 private:
  const NodeMetrics& node_;
};

NodeMetrics::NodeMetrics(const NodeSettings& settings, std::vector<std::string> grpc_methods,
                         std::function<NodeGauges()> gauges)
    : calls_(std::move(grpc_methods)),
      gauges_(std::move(gauges)),
      registry_(std::make_unique<prometheus::Registry>()),
      collector_(std::make_unique<Collector>(*this)) {
  for (size_t i = 0; i < settings.io_threads; ++i) {
    threads_.push_back(std::make_unique<IoThreadMetrics>());
  }
  auto set = [this](const char* name, const char* help, double value) {
    prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add({}).Set(value);
  };
  set("wsbridge_io_threads", "I/O threads serving WebSocket sessions.",
      static_cast<double>(settings.io_threads));
  set("wsbridge_descriptor_limit", "The soft limit on open file descriptors (RLIMIT_NOFILE).",
      static_cast<double>(settings.descriptor_limit));
  set("wsbridge_descriptor_reserve", "Descriptors kept free for all but WebSocket connections.",
      static_cast<double>(settings.descriptor_reserve));
  set("wsbridge_websocket_connection_budget",
      "WebSocket connections (sessions + handshakes) allowed before new ones get 503.",
      static_cast<double>(settings.websocket_connection_budget));
  set("wsbridge_events_stream_lag_limit_events",
      "How far (in events) an Events stream may fall behind before it is ended for lag "
      "(--events_stream_buffer).",
      static_cast<double>(settings.events_stream_lag_limit));
}

NodeMetrics::~NodeMetrics() = default;

std::string NodeMetrics::ExpositionText() const {
  std::vector<MetricFamily> families = registry_->Collect();
  std::vector<MetricFamily> moving = collector_->Collect();
  families.insert(families.end(), std::make_move_iterator(moving.begin()),
                  std::make_move_iterator(moving.end()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace wsbridge::metrics
