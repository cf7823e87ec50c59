// SingleWriterCounter and SingleWriterHistogram: counts that exactly one thread writes (an I/O
// thread, for its own sessions) and any thread may read (the scrape). A write is a relaxed load
// and a relaxed store of the thread's own cache line: no read-modify-write instruction, no fence,
// no lock, so counting on the delivery path costs what an increment of a plain integer costs. A
// reader sees each value whole (never torn) but perhaps a little stale, which a scrape tolerates.
//
// Thread-safety: Add/Observe only from the one owning thread (never from two, or increments are
// lost); value()/Snapshot() from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace wsbridge::metrics {

class SingleWriterCounter {
 public:
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Bucket counts for fixed upper bounds (in the unit the owner chooses), the sum of what was
// observed and how many observations: the three things a Prometheus histogram exposes. Each
// bucket counts only its own range; the scrape makes them cumulative.
class SingleWriterHistogram {
 public:
  // `upper_bounds`: strictly increasing; an implicit +Inf bucket follows the last.
  explicit SingleWriterHistogram(std::span<const double> upper_bounds)
      : upper_bounds_(upper_bounds), buckets_(upper_bounds.size() + 1) {}
  SingleWriterHistogram(const SingleWriterHistogram&) = delete;
  SingleWriterHistogram& operator=(const SingleWriterHistogram&) = delete;

  void Observe(double value) {
    size_t bucket = 0;  // a dozen bounds: a linear scan beats a binary search
    while (bucket < upper_bounds_.size() && value > upper_bounds_[bucket]) ++bucket;
    buckets_[bucket].Add();
    sum_.store(sum_.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::vector<uint64_t> buckets;  // per bucket, not cumulative; the last one is +Inf
    double sum = 0;
  };
  // Adds this histogram's counts into `into` (sized by the caller to upper_bounds().size() + 1).
  void AddTo(Snapshot& into) const {
    for (size_t i = 0; i < buckets_.size(); ++i) into.buckets[i] += buckets_[i].value();
    into.sum += sum_.load(std::memory_order_relaxed);
  }
  std::span<const double> upper_bounds() const { return upper_bounds_; }

 private:
  const std::span<const double> upper_bounds_;  // static storage of the owner
  std::vector<SingleWriterCounter> buckets_;
  std::atomic<double> sum_{0};
};

}  // namespace wsbridge::metrics
