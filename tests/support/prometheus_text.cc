#include "support/prometheus_text.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>
#include "absl/strings/string_view.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace wsbridge::testing {
namespace {

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

std::optional<double> ParseValue(absl::string_view text) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  if (!absl::SimpleAtod(text, &value)) return std::nullopt;
  return value;
}

// Parses `{a="x",b="y"}` at the front of `rest`, consuming it.
std::optional<MetricLabels> ParseLabels(absl::string_view& rest) {
  MetricLabels labels;
  rest.remove_prefix(1);  // '{'
  while (true) {
    if (!rest.empty() && rest.front() == '}') {
      rest.remove_prefix(1);
      return labels;
    }
    size_t n = 0;
    while (n < rest.size() && IsNameChar(rest[n], n == 0)) ++n;
    if (n == 0 || n + 1 >= rest.size() || rest[n] != '=' || rest[n + 1] != '"') return std::nullopt;
    std::string name(rest.substr(0, n));
    rest.remove_prefix(n + 2);
    std::string value;
    while (true) {
      if (rest.empty()) return std::nullopt;
      const char c = rest.front();
      rest.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (rest.empty()) return std::nullopt;
        const char escaped = rest.front();
        rest.remove_prefix(1);
        if (escaped == 'n') {
          value += '\n';
        } else if (escaped == '\\' || escaped == '"') {
          value += escaped;
        } else {
          return std::nullopt;
        }
        continue;
      }
      value += c;
    }
    if (!labels.emplace(std::move(name), std::move(value)).second) return std::nullopt;
    if (!rest.empty() && rest.front() == ',') rest.remove_prefix(1);
  }
}

}  // namespace

absl::StatusOr<PrometheusText> PrometheusText::Parse(const std::string& text) {
  PrometheusText parsed;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    auto fail = [&](const char* why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": ", why, ": ", line));
    };
    if (line.empty()) continue;
    if (line.front() == '#') {
      std::vector<absl::string_view> words = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (words.size() >= 4 && words[1] == "TYPE") {
        parsed.types_[std::string(words[2])] = std::string(words[3]);
      } else if (words.size() >= 3 && words[1] == "HELP") {
        // help text: nothing to check
      }
      continue;
    }
    absl::string_view rest = line;
    size_t n = 0;
    while (n < rest.size() && IsNameChar(rest[n], n == 0)) ++n;
    if (n == 0) return fail("no metric name");
    std::string name(rest.substr(0, n));
    rest.remove_prefix(n);
    MetricLabels labels;
    if (!rest.empty() && rest.front() == '{') {
      auto parsed_labels = ParseLabels(rest);
      if (!parsed_labels.has_value()) return fail("malformed labels");
      labels = std::move(*parsed_labels);
    }
    if (rest.empty() || rest.front() != ' ') return fail("no value");
    rest.remove_prefix(1);
    const absl::string_view value_text = rest.substr(0, rest.find(' '));  // a timestamp may follow
    const std::optional<double> value = ParseValue(value_text);
    if (!value.has_value()) return fail("bad value");
    if (!parsed.samples_.emplace(std::make_pair(std::move(name), std::move(labels)), *value)
             .second) {
      return fail("duplicate sample");
    }
  }
  return parsed;
}

std::optional<double> PrometheusText::Value(const std::string& name,
                                            const MetricLabels& labels) const {
  auto it = samples_.find(std::make_pair(name, labels));
  if (it == samples_.end()) return std::nullopt;
  return it->second;
}

std::string PrometheusText::Type(const std::string& family) const {
  auto it = types_.find(family);
  return it == types_.end() ? "" : it->second;
}

}  // namespace wsbridge::testing
