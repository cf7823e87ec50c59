// PriceWalk: the made-up prices of `bridgectl ticker`. Each symbol starts between 50 and 250 and
// moves by a random step of at most 1% per update, rounded to cents and never below 0.01, so a
// demo chart looks alive. Deterministic for a given seed (the unit tests rely on it).
//
// Thread-safety: not thread-safe; one ticker loop owns it.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wsbridge::cli {

class PriceWalk {
 public:
  explicit PriceWalk(uint64_t seed);

  // The next price of `symbol` (its first price the first time it is asked for).
  double Next(const std::string& symbol);

 private:
  std::mt19937_64 random_;
  std::map<std::string, double> prices_;
};

// The update as the ticker sends it: {"symbol":"AAPL","price":123.45,"time":UNIX_MILLIS}.
std::string PriceUpdateJson(absl::string_view symbol, double price, absl::Time time);

}  // namespace wsbridge::cli
