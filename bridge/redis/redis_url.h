// RedisUrl: where cluster mode finds Redis, parsed from --redis_url.
//
//   redis://[[user]:password@]host[:port][/db]
//
// `redis://:secret@host` authenticates with the password alone (AUTH secret: Redis's
// requirepass); `redis://user:secret@host` as a Redis 6 ACL user (AUTH user secret). The user and
// password are percent-decoded (RFC 3986), so a password may hold '@', ':' or '/' as %40, %3A,
// %2F. An IPv6 host is written in brackets ([::1]). Defaults: port 6379, db 0. TLS (rediss://),
// Unix sockets and query parameters are not supported and are refused by name.
//
// Thread-safety: plain value and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wsbridge {

struct RedisUrl {
  std::string host;
  uint16_t port = 6379;
  std::string username;  // empty: AUTH with the password alone (or no AUTH without one)
  std::string password;  // empty: no AUTH
  int db = 0;            // SELECTed on connect when not 0
};

// INVALID_ARGUMENT naming what is wrong ("redis_url: port must be 1-65535, got '0'").
absl::StatusOr<RedisUrl> ParseRedisUrl(absl::string_view url);

// The URL again with the password replaced by "***": what logs and errors may show.
std::string RedactedRedisUrl(const RedisUrl& url);

}  // namespace wsbridge
