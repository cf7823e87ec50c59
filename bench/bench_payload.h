// BenchPayload: the text of one benchmark message, shared by the publisher (which writes it) and
// the load generator (which checks it on arrival). Format: "<seq> <sent_ns> " followed by padding
// to the requested size: 'x' repeated, or (kJson) JSON rows like an application's update, which
// compress about as real payloads do (runs of 'x' would flatter permessage-deflate). `seq` numbers
// the messages of one stream (a topic for fan-out, a user for unicast) from 0, so a subscriber
// knows exactly what it should see next; `sent_ns` is CLOCK_MONOTONIC at publish time, comparable
// across processes of one machine.
//
// Thread-safety: pure functions.
#pragma once

#include <charconv>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace wsbridge::bench {

inline int64_t MonotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

enum class Padding { kX, kJson };

inline std::string MakeBenchPayload(uint64_t seq, int64_t sent_ns, size_t size,
                                    Padding padding = Padding::kX) {
  std::string text = std::to_string(seq) + ' ' + std::to_string(sent_ns) + ' ';
  if (padding == Padding::kJson) {
    // Rows whose numbers change with seq and row, names from a small vocabulary.
    static constexpr const char* kSymbols[] = {"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META"};
    text += "{\"type\":\"quotes\",\"rows\":[";
    for (uint64_t row = 0; text.size() < size; ++row) {
      const uint64_t mix = (seq * 2654435761u + row * 40503u) % 1000003u;
      text += "{\"symbol\":\"" + std::string(kSymbols[(seq + row) % 6]) +
              "\",\"bid\":" + std::to_string(100 + mix % 900) + "." + std::to_string(mix % 100) +
              ",\"ask\":" + std::to_string(101 + mix % 899) +
              ",\"volume\":" + std::to_string(mix * 7 % 100000) +
              ",\"ts\":" + std::to_string(sent_ns / 1000 + static_cast<int64_t>(row)) + "},";
    }
    text.resize(size);
    return text;
  }
  if (text.size() < size) text.append(size - text.size(), 'x');
  return text;
}

struct ParsedBenchPayload {
  uint64_t seq = 0;
  int64_t sent_ns = 0;
};

// nullopt when `text` is not a benchmark message.
inline std::optional<ParsedBenchPayload> ParseBenchPayload(std::string_view text) {
  ParsedBenchPayload parsed;
  const char* end = text.data() + text.size();
  auto [p1, e1] = std::from_chars(text.data(), end, parsed.seq);
  if (e1 != std::errc() || p1 == end || *p1 != ' ') return std::nullopt;
  auto [p2, e2] = std::from_chars(p1 + 1, end, parsed.sent_ns);
  if (e2 != std::errc() || p2 == end || *p2 != ' ') return std::nullopt;
  return parsed;
}

}  // namespace wsbridge::bench
