#include "runtime/structured_log.h"

namespace wsbridge {
namespace {
// The fields of the LogEvent under way on this thread (see the header: synchronous sinks only).
thread_local std::span<const LogField> current_fields;
}  // namespace

void LogEvent(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view message,
              std::initializer_list<LogField> fields) {
  if (!logger.should_log(level)) return;
  const std::span<const LogField> outer = current_fields;  // a sink that logs while formatting
  current_fields = std::span<const LogField>(fields.begin(), fields.size());
  logger.log(level, spdlog::string_view_t(message.data(), message.size()));
  current_fields = outer;
}

void LogEvent(spdlog::level::level_enum level, std::string_view message,
              std::initializer_list<LogField> fields) {
  LogEvent(*spdlog::default_logger_raw(), level, message, fields);
}

std::span<const LogField> CurrentLogFields() { return current_fields; }

}  // namespace wsbridge
