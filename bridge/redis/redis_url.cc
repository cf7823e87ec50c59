#include "redis/redis_url.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/percent_decoding.h"

namespace wsbridge {
namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("redis_url: ", what));
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<RedisUrl> ParseRedisUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (absl::StartsWithIgnoreCase(rest, "rediss://")) {
    return Invalid("rediss:// (TLS) is not supported; use redis://");
  }
  if (absl::StartsWithIgnoreCase(rest, "unix://")) {
    return Invalid("unix:// sockets are not supported; use redis://host:port");
  }
  if (!absl::StartsWithIgnoreCase(rest, "redis://")) {
    return Invalid(absl::StrCat("must start with redis://, got '", url, "'"));
  }
  rest.remove_prefix(8);
  if (rest.find_first_of("?#") != absl::string_view::npos) {
    return Invalid("query parameters and fragments are not supported");
  }

  RedisUrl out;
  // The userinfo ends at the last '@' before the path (a raw '@' in a password is tolerated).
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash + 1);
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const size_t colon = userinfo.find(':');
    if (colon == absl::string_view::npos) {
      return Invalid(
          "userinfo without ':'; write redis://:PASSWORD@host or redis://USER:PASSWORD@host");
    }
    auto user = PercentDecode(userinfo.substr(0, colon), PlusSign::kLiteral);
    if (!user.ok()) return Invalid(absl::StrCat("user: ", user.status().message()));
    auto password = PercentDecode(userinfo.substr(colon + 1), PlusSign::kLiteral);
    if (!password.ok()) return Invalid(absl::StrCat("password: ", password.status().message()));
    if (password->empty()) return Invalid("empty password after ':'");
    out.username = *std::move(user);
    out.password = *std::move(password);
  }

  absl::string_view port_text;
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return Invalid("'[' of an IPv6 host without ']'");
    out.host = std::string(authority.substr(0, close));
    authority.remove_prefix(close + 1);
    if (!authority.empty()) {
      if (!absl::ConsumePrefix(&authority, ":")) {
        return Invalid("expected ':port' after the IPv6 host");
      }
      port_text = authority;
      if (port_text.empty()) return Invalid("empty port after ':'");
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return Invalid("empty port after ':'");
    }
  }
  if (out.host.empty()) return Invalid("missing host");
  if (!port_text.empty()) {
    uint32_t port = 0;
    if (!AllDigits(port_text) || !absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
      return Invalid(absl::StrCat("port must be 1-65535, got '", port_text, "'"));
    }
    out.port = static_cast<uint16_t>(port);
  }

  if (!path.empty()) {
    int db = 0;
    if (!AllDigits(path) || !absl::SimpleAtoi(path, &db)) {
      return Invalid(absl::StrCat("db must be a number 0-", std::numeric_limits<int>::max(),
                                  ", got '", path, "'"));
    }
    out.db = db;
  }
  return out;
}

std::string RedactedRedisUrl(const RedisUrl& url) {
  std::string out = "redis://";
  if (!url.password.empty()) absl::StrAppend(&out, url.username, ":***@");
  const bool ipv6 = url.host.find(':') != std::string::npos;
  absl::StrAppend(&out, ipv6 ? "[" : "", url.host, ipv6 ? "]" : "", ":", url.port);
  if (url.db != 0) absl::StrAppend(&out, "/", url.db);
  return out;
}

}  // namespace wsbridge
