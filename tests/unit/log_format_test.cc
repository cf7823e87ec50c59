// Log lines as --log_format writes them: JSON strings escaped so that every line parses whatever
// bytes a message or field holds, the fixed keys and typed fields of a JSON line, key=value
// fields in the text format, and both formatters installed on a real spdlog logger.
#include "runtime/log_format.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/structured_log.h"
#include "spdlog/sinks/ostream_sink.h"

namespace wsbridge {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Json(std::string_view text) {
  std::string out;
  AppendJsonString(text, out);
  return out;
}

// Parses a JSON object; fails the test if it is not one.
google::protobuf::Struct Parse(const std::string& line) {
  google::protobuf::Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << line;
  return parsed;
}

TEST(LogFormatTest, JsonStringsEscapeQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Json("plain"), R"("plain")");
  EXPECT_EQ(Json(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(Json("a\nb\rc\td\be\ff"), R"("a\nb\rc\td\be\ff")");
  EXPECT_EQ(Json(std::string("nul\0x", 5)), R"("nul\u0000x")");
  EXPECT_EQ(Json("\x01\x1f\x7f"), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(Json(""), R"("")");
}

TEST(LogFormatTest, JsonStringsKeepUtf8AndReplaceBytesThatAreNot) {
  EXPECT_EQ(Json("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(Json("\xff"), R"("\ufffd")");
  EXPECT_EQ(Json("a\xe6\x97"), R"("a\ufffd\ufffd")");                    // truncated sequence
  EXPECT_EQ(Json("\xc0\x80"), R"("\ufffd\ufffd")");                      // overlong NUL
  EXPECT_EQ(Json("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // a surrogate
  EXPECT_EQ(Json("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // past U+10FFFF
  // Whatever the bytes, the result is a JSON string a parser takes.
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  const google::protobuf::Struct parsed = Parse("{\"v\":" + Json(every_byte) + "}");
  EXPECT_TRUE(parsed.fields().contains("v"));
}

TEST(LogFormatTest, AJsonLineHasTheFixedKeysThenTheFieldsTyped) {
  const absl::Time time = absl::FromUnixMicros(1'700'000'000'123'456);
  const std::string line =
      JsonLogLine(time, "info", "wsbridge", "session \"closed\"",
                  {{LogField("session_id", "s-1"), LogField("user_id", "\xc3\xa9lise"),
                    LogField("code", uint16_t{1001}), LogField("initiator", "server")}});
  EXPECT_EQ(line,
            "{\"time\":\"2023-11-14T22:13:20.123456Z\",\"level\":\"info\",\"logger\":\"wsbridge\","
            "\"message\":\"session \\\"closed\\\"\",\"session_id\":\"s-1\",\"user_id\":"
            "\"\xc3\xa9lise\",\"code\":1001,\"initiator\":\"server\"}");
  const google::protobuf::Struct parsed = Parse(line);
  EXPECT_EQ(parsed.fields().at("code").number_value(), 1001);
  EXPECT_EQ(parsed.fields().at("message").string_value(), "session \"closed\"");
}

TEST(LogFormatTest, TextFieldsAreKeyValueQuotedOnlyWhenNeeded) {
  EXPECT_EQ(TextLogFields({}), "");
  EXPECT_EQ(TextLogFields(
                {{LogField("session_id", "s-1"), LogField("code", 1001), LogField("user_id", ""),
                  LogField("reason", "server shutting down"), LogField("detail", "a=b\n")}}),
            " session_id=s-1 code=1001 user_id=\"\" reason=\"server shutting down\" "
            "detail=\"a=b\\n\"");
}

TEST(LogFormatTest, OnlyTextAndJsonAreFormats) {
  EXPECT_EQ(ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("JSON"), std::nullopt);
  EXPECT_EQ(ParseLogFormat(""), std::nullopt);
}

// A logger writing to a string, with the formatter of `format`.
struct CapturedLogger {
  explicit CapturedLogger(LogFormat format)
      : logger("captured", std::make_shared<spdlog::sinks::ostream_sink_st>(out)) {
    logger.set_formatter(MakeLogFormatter(format));
    logger.set_level(spdlog::level::info);
  }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  std::ostringstream out;
  spdlog::logger logger;
};

TEST(LogFormatTest, TheJsonFormatterWritesOneObjectPerLineWithTheEventsFields) {
  CapturedLogger captured(LogFormat::kJson);
  LogEvent(captured.logger, spdlog::level::info, "session opened",
           {{"session_id", "s-9"}, {"user_id", "bob"}});
  captured.logger.warn("plain line\nwith a newline");  // no fields: only the fixed keys
  LogEvent(captured.logger, spdlog::level::debug, "not logged", {{"session_id", "s-0"}});

  const std::vector<std::string> lines = captured.Lines();
  ASSERT_EQ(lines.size(), 2u) << captured.out.str();
  const google::protobuf::Struct opened = Parse(lines[0]);
  EXPECT_EQ(opened.fields().at("level").string_value(), "info");
  EXPECT_EQ(opened.fields().at("logger").string_value(), "captured");
  EXPECT_EQ(opened.fields().at("message").string_value(), "session opened");
  EXPECT_EQ(opened.fields().at("session_id").string_value(), "s-9");
  EXPECT_EQ(opened.fields().at("user_id").string_value(), "bob");
  EXPECT_THAT(opened.fields().at("time").string_value(), EndsWith("Z"));
  const google::protobuf::Struct plain = Parse(lines[1]);
  EXPECT_EQ(plain.fields().size(), 4u);
  EXPECT_EQ(plain.fields().at("level").string_value(), "warning");
  EXPECT_EQ(plain.fields().at("message").string_value(), "plain line\nwith a newline");
}

TEST(LogFormatTest, TheTextFormatterAppendsTheFieldsToTheUsualLine) {
  CapturedLogger captured(LogFormat::kText);
  LogEvent(captured.logger, spdlog::level::info, "session closed",
           {{"session_id", "s-9"}, {"code", 1001}, {"initiator", "server"}});
  captured.logger.info("no fields");

  const std::vector<std::string> lines = captured.Lines();
  ASSERT_EQ(lines.size(), 2u) << captured.out.str();
  EXPECT_THAT(lines[0], StartsWith("["));
  EXPECT_THAT(lines[0], HasSubstr("[captured] [info] session closed"));
  EXPECT_THAT(lines[0], EndsWith("session closed session_id=s-9 code=1001 initiator=server"));
  EXPECT_THAT(lines[1], EndsWith("[info] no fields"));
}

}  // namespace
}  // namespace wsbridge
