// PrometheusText: a small parser of the Prometheus text exposition format (version 0.0.4), the
// format GET /metrics answers, so tests check numbers rather than substrings: each sample is
// found by its metric name and its labels (in any order), each family's TYPE is kept, and a
// malformed line fails the parse with the line named.
//
// Thread-safety: a parsed value is immutable; use from any thread.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace wsbridge::testing {

using MetricLabels = std::map<std::string, std::string>;

class PrometheusText {
 public:
  // INVALID_ARGUMENT naming the line when `text` is not in the exposition format.
  static absl::StatusOr<PrometheusText> Parse(const std::string& text);

  // The sample `name` with exactly `labels`; nullopt when there is none.
  std::optional<double> Value(const std::string& name, const MetricLabels& labels = {}) const;
  // The value, or 0 when the sample is absent (counters with labels appear once non-zero).
  double ValueOrZero(const std::string& name, const MetricLabels& labels = {}) const {
    return Value(name, labels).value_or(0);
  }
  // "counter", "gauge", "histogram", ... from the family's # TYPE line; "" when not declared.
  std::string Type(const std::string& family) const;
  size_t size() const { return samples_.size(); }

 private:
  std::map<std::pair<std::string, MetricLabels>, double> samples_;
  std::map<std::string, std::string> types_;
};

}  // namespace wsbridge::testing
