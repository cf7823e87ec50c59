#include "price_walk.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace wsbridge::cli {
namespace {

double RoundToCents(double price) { return std::round(price * 100.0) / 100.0; }

// `text` as a JSON string literal (symbols come from the command line).
std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", absl::string_view(&c, 1));
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

}  // namespace

PriceWalk::PriceWalk(uint64_t seed) : random_(seed) {}

double PriceWalk::Next(const std::string& symbol) {
  auto [it, first] = prices_.try_emplace(symbol, 0.0);
  if (first) {
    it->second = RoundToCents(std::uniform_real_distribution<double>(50.0, 250.0)(random_));
  } else {
    const double step = std::uniform_real_distribution<double>(-0.01, 0.01)(random_);
    it->second = std::max(0.01, RoundToCents(it->second * (1.0 + step)));
  }
  return it->second;
}

std::string PriceUpdateJson(absl::string_view symbol, double price, absl::Time time) {
  return absl::StrFormat("{\"symbol\":%s,\"price\":%.2f,\"time\":%d}", JsonString(symbol), price,
                         absl::ToUnixMillis(time));
}

}  // namespace wsbridge::cli
