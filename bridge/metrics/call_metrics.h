// CallMetrics: what the gRPC side counts, once per call or per event rather than per delivery:
// calls by method and status code, the fan-out of each delivering call (sessions matched), and
// the events written to Events streams. Counted with relaxed atomic
// increments shared by the gRPC threads (and the I/O thread that finishes a call): per call,
// never per session a call reaches.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsbridge::metrics {

// Upper bounds of the fan-out histogram, in sessions matched by one call.
inline constexpr std::array<double, 13> kFanoutBounds = {0,   1,    2,    5,     10,    50,    100,
                                                         500, 1000, 5000, 10000, 50000, 100000};

// A histogram that several threads observe into: relaxed atomic increments.
class SharedHistogram {
 public:
  explicit SharedHistogram(std::span<const double> upper_bounds)
      : upper_bounds_(upper_bounds), buckets_(upper_bounds.size() + 1) {}
  void Observe(double value);
  std::span<const double> upper_bounds() const { return upper_bounds_; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::span<const double> upper_bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;
  std::atomic<double> sum_{0};
};

class CallMetrics {
 public:
  // gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED).
  static constexpr size_t kStatusCodes = 17;

  // `methods`: the full paths ("/package.Service/Method") of every method the server serves;
  // calls to anything else are counted under one "unknown" method, so a client naming random
  // methods cannot grow the label set.
  explicit CallMetrics(std::vector<std::string> methods);
  CallMetrics(const CallMetrics&) = delete;
  CallMetrics& operator=(const CallMetrics&) = delete;

  // Index of `path` among the methods; methods().size() for an unknown one.
  size_t MethodIndex(std::string_view path) const;
  // A call to methods()[method] (or unknown) ended with `status_code`.
  void CountCall(size_t method, int status_code);
  void ObserveFanout(uint32_t sessions_matched) { fanout_.Observe(sessions_matched); }
  void CountEventsDelivered(uint64_t events) {
    events_delivered_.fetch_add(events, std::memory_order_relaxed);
  }

  const std::vector<std::string>& methods() const { return methods_; }
  uint64_t calls(size_t method, size_t status_code) const {
    return calls_[method * kStatusCodes + status_code].load(std::memory_order_relaxed);
  }
  const SharedHistogram& fanout() const { return fanout_; }
  uint64_t events_delivered() const { return events_delivered_.load(std::memory_order_relaxed); }

 private:
  const std::vector<std::string> methods_;
  std::vector<std::atomic<uint64_t>> calls_;  // [(methods + unknown) x status codes]
  SharedHistogram fanout_{kFanoutBounds};
  std::atomic<uint64_t> events_delivered_{0};
};

}  // namespace wsbridge::metrics
