// RedisReply: one reply of Redis as a plain value (RESP2: nil, integer, bulk string, status,
// error, array of replies), so that no caller ever sees hiredis's redisReply.
//
// An error comes either from Redis ("WRONGTYPE ...", "NOAUTH ...") or from this client when the
// command got no answer: the connection was lost or closed before the reply came, or there was
// no connection to send it on. Those have `unanswered` set; the command may or may not have run on
// the server.
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace wsbridge {

struct RedisReply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };

  Type type = Type::kNil;
  int64_t integer = 0;               // kInteger
  std::string str;                   // kString (binary-safe), kStatus ("OK"), kError (the text)
  std::vector<RedisReply> elements;  // kArray
  bool unanswered = false;           // kError made up by the client: no reply came

  static RedisReply Unanswered(std::string why) {
    RedisReply r;
    r.type = Type::kError;
    r.str = std::move(why);
    r.unanswered = true;
    return r;
  }

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
};

}  // namespace wsbridge
