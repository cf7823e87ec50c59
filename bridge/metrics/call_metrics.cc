#include "metrics/call_metrics.h"

#include <utility>

namespace wsbridge::metrics {

void SharedHistogram::Observe(double value) {
  size_t bucket = 0;
  while (bucket < upper_bounds_.size() && value > upper_bounds_[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  // No fetch_add for double before C++20's library support in GCC 12's libstdc++ is in every
  // build we use; a compare-exchange loop is the portable form.
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

CallMetrics::CallMetrics(std::vector<std::string> methods)
    : methods_(std::move(methods)), calls_((methods_.size() + 1) * kStatusCodes) {}

size_t CallMetrics::MethodIndex(std::string_view path) const {
  for (size_t i = 0; i < methods_.size(); ++i) {
    if (methods_[i] == path) return i;
  }
  return methods_.size();
}

void CallMetrics::CountCall(size_t method, int status_code) {
  if (method > methods_.size()) method = methods_.size();
  if (status_code < 0 || status_code >= static_cast<int>(kStatusCodes)) status_code = 2;  // UNKNOWN
  calls_[method * kStatusCodes + static_cast<size_t>(status_code)].fetch_add(
      1, std::memory_order_relaxed);
}

}  // namespace wsbridge::metrics
