// Structured log lines: a fixed message ("session opened") plus named fields (session id, user
// id, close code, ...), written through spdlog as one line. The fields reach the formatter
// (runtime/log_format.h) that renders them: " key=value" after the message in the text format,
// keys of the JSON object in the json format. Other spdlog calls simply have no fields.
//
// How the fields travel: spdlog 1.10's log message carries only text, so LogEvent lends the
// formatter its fields through a thread-local for the duration of the one call. That holds
// because our loggers are synchronous (the sink formats on the calling thread, inside the call);
// an asynchronous logger would format on another thread and see no fields.
//
// What goes in a field is the caller's choice, and a promise: never a payload, never a token
// (the lifecycle lines name sessions, users, codes and who closed; see server/
// logging_event_sink.h).
//
// Thread-safety: LogEvent may be called from any thread; CurrentLogFields() returns the fields
// of the LogEvent under way on the calling thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "spdlog/spdlog.h"

namespace wsbridge {

// One named value: a string, or a whole number (rendered unquoted in JSON).
struct LogField {
  LogField(std::string_view field_name, std::string_view value) : name(field_name), text(value) {}
  LogField(std::string_view field_name, const std::string& value) : name(field_name), text(value) {}
  LogField(std::string_view field_name, const char* value) : name(field_name), text(value) {}
  template <typename Integer, typename = std::enable_if_t<std::is_integral_v<Integer> &&
                                                          !std::is_same_v<Integer, bool>>>
  LogField(std::string_view field_name, Integer value)
      : name(field_name), number(static_cast<int64_t>(value)), is_number(true) {}

  std::string_view name;  // a plain identifier (session_id): written as is
  std::string_view text;
  int64_t number = 0;
  bool is_number = false;
};

// Logs `message` at `level` on `logger` with `fields`, if the logger logs that level.
void LogEvent(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view message,
              std::initializer_list<LogField> fields);
// The same on spdlog's default logger.
void LogEvent(spdlog::level::level_enum level, std::string_view message,
              std::initializer_list<LogField> fields);

// The fields of the LogEvent call under way on this thread; empty outside one.
std::span<const LogField> CurrentLogFields();

}  // namespace wsbridge
