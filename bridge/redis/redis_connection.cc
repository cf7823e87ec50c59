#include "redis/redis_connection.h"

#include <utility>

#include "redis/redis_link.h"
#include "runtime/io_thread.h"

namespace wsbridge {

RedisConnection::RedisConnection(IoThread& redis_thread, RedisClientOptions options,
                                 StateCallback on_state)
    : thread_(redis_thread),
      link_(std::make_shared<RedisLink>(redis_thread, std::move(options), std::move(on_state))) {
  thread_.Post([link = link_] { link->Connect(); });
}

RedisConnection::~RedisConnection() {
  thread_.RunAndWait([link = link_] { link->Close(); });
}

void RedisConnection::Command(std::vector<std::string> argv, Completion done) {
  thread_.Post([link = link_, argv = std::move(argv), done = std::move(done)]() mutable {
    link->Send(argv, std::move(done));
  });
}

}  // namespace wsbridge
