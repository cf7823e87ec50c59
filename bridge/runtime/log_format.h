// How log lines look (--log_format): `text` is spdlog's usual line with the structured fields
// (runtime/structured_log.h) appended as key=value; `json` is one JSON object per line, for log
// shippers:
//   {"time":"2026-11-30T19:00:00.123456Z","level":"info","logger":"wsbridge",
//    "message":"session closed","session_id":"...","user_id":"alice","code":1001,...}
// Field names never collide with the four fixed keys (ours are fixed names like session_id).
// JSON strings are escaped per RFC 8259: quotes, backslashes and control characters escaped,
// valid UTF-8 passed through as is, any invalid byte replaced by U+FFFD so that every line
// parses whatever bytes a message holds.
//
// The renderers are pure functions (tested without spdlog); MakeLogFormatter wraps them as the
// spdlog formatter that main() installs.
//
// Thread-safety: plain functions; each formatter instance is used under its sink's lock.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "runtime/structured_log.h"
#include "spdlog/formatter.h"

namespace wsbridge {

enum class LogFormat { kText, kJson };

// "text" or "json"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view name);

// Appends `text` as a JSON string, quotes included.
void AppendJsonString(std::string_view text, std::string& out);

// One JSON log line, without the newline.
std::string JsonLogLine(absl::Time time, std::string_view level, std::string_view logger,
                        std::string_view message, std::span<const LogField> fields);

// The fields as the text format appends them: " key=value" each; a value that is empty or holds
// a space, quote, '=', backslash or control character is written as a JSON string.
std::string TextLogFields(std::span<const LogField> fields);

// The spdlog formatter of `format`.
std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format);

}  // namespace wsbridge
