// ParseRedisUrl: what --redis_url accepts, its defaults, and errors that name what is wrong.
#include "redis/redis_url.h"

#include "gtest/gtest.h"

namespace wsbridge {
namespace {

TEST(RedisUrlTest, HostAloneTakesTheDefaults) {
  const RedisUrl url = ParseRedisUrl("redis://cache.internal").value();
  EXPECT_EQ(url.host, "cache.internal");
  EXPECT_EQ(url.port, 6379);
  EXPECT_EQ(url.db, 0);
  EXPECT_EQ(url.username, "");
  EXPECT_EQ(url.password, "");
}

TEST(RedisUrlTest, PortAndDb) {
  const RedisUrl url = ParseRedisUrl("redis://10.0.0.5:6380/3").value();
  EXPECT_EQ(url.host, "10.0.0.5");
  EXPECT_EQ(url.port, 6380);
  EXPECT_EQ(url.db, 3);
  EXPECT_EQ(ParseRedisUrl("redis://h:1/").value().db, 0);
  EXPECT_EQ(ParseRedisUrl("REDIS://h").value().host, "h");
}

TEST(RedisUrlTest, PasswordAloneOrAnAclUser) {
  const RedisUrl legacy = ParseRedisUrl("redis://:s3cret@h:7000/1").value();
  EXPECT_EQ(legacy.username, "");
  EXPECT_EQ(legacy.password, "s3cret");
  EXPECT_EQ(legacy.port, 7000);
  EXPECT_EQ(legacy.db, 1);
  const RedisUrl acl = ParseRedisUrl("redis://bridge:pw@h").value();
  EXPECT_EQ(acl.username, "bridge");
  EXPECT_EQ(acl.password, "pw");
}

TEST(RedisUrlTest, PasswordIsPercentDecodedAndMayHoldAnAt) {
  EXPECT_EQ(ParseRedisUrl("redis://:p%40ss%3Aw%2Fd@h").value().password, "p@ss:w/d");
  // A raw '@' before the last one stays in the password.
  const RedisUrl url = ParseRedisUrl("redis://:a@b@h:1").value();
  EXPECT_EQ(url.password, "a@b");
  EXPECT_EQ(url.host, "h");
}

TEST(RedisUrlTest, Ipv6HostInBrackets) {
  const RedisUrl url = ParseRedisUrl("redis://[::1]:6390/2").value();
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 6390);
  EXPECT_EQ(url.db, 2);
  EXPECT_EQ(ParseRedisUrl("redis://[fe80::1]").value().port, 6379);
}

void ExpectInvalid(const char* url, const char* message) {
  const auto parsed = ParseRedisUrl(url);
  ASSERT_FALSE(parsed.ok()) << url;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << url;
  EXPECT_EQ(parsed.status().message(), message) << url;
}

TEST(RedisUrlTest, ErrorsNameWhatIsWrong) {
  ExpectInvalid("http://h", "redis_url: must start with redis://, got 'http://h'");
  ExpectInvalid("h:6379", "redis_url: must start with redis://, got 'h:6379'");
  ExpectInvalid("rediss://h", "redis_url: rediss:// (TLS) is not supported; use redis://");
  ExpectInvalid("unix:///tmp/r.sock",
                "redis_url: unix:// sockets are not supported; use redis://host:port");
  ExpectInvalid("redis://", "redis_url: missing host");
  ExpectInvalid("redis://:6379", "redis_url: missing host");
  ExpectInvalid("redis://h:", "redis_url: empty port after ':'");
  ExpectInvalid("redis://h:0", "redis_url: port must be 1-65535, got '0'");
  ExpectInvalid("redis://h:65536", "redis_url: port must be 1-65535, got '65536'");
  ExpectInvalid("redis://h:+1", "redis_url: port must be 1-65535, got '+1'");
  ExpectInvalid("redis://h:63x", "redis_url: port must be 1-65535, got '63x'");
  ExpectInvalid("redis://h/x", "redis_url: db must be a number 0-2147483647, got 'x'");
  ExpectInvalid("redis://h/-1", "redis_url: db must be a number 0-2147483647, got '-1'");
  ExpectInvalid("redis://h/99999999999",
                "redis_url: db must be a number 0-2147483647, got '99999999999'");
  ExpectInvalid("redis://h/0?timeout=1",
                "redis_url: query parameters and fragments are not supported");
  ExpectInvalid("redis://pw@h",
                "redis_url: userinfo without ':'; write redis://:PASSWORD@host or "
                "redis://USER:PASSWORD@host");
  ExpectInvalid("redis://:@h", "redis_url: empty password after ':'");
  ExpectInvalid("redis://:%zz@h", "redis_url: password: bad percent-encoding");
  ExpectInvalid("redis://[::1", "redis_url: '[' of an IPv6 host without ']'");
  ExpectInvalid("redis://[::1]x", "redis_url: expected ':port' after the IPv6 host");
}

TEST(RedisUrlTest, RedactedHidesThePassword) {
  EXPECT_EQ(RedactedRedisUrl(ParseRedisUrl("redis://:s3cret@h:1/2").value()), "redis://:***@h:1/2");
  EXPECT_EQ(RedactedRedisUrl(ParseRedisUrl("redis://u:s3cret@h").value()), "redis://u:***@h:6379");
  EXPECT_EQ(RedactedRedisUrl(ParseRedisUrl("redis://[::1]").value()), "redis://[::1]:6379");
}

}  // namespace
}  // namespace wsbridge
