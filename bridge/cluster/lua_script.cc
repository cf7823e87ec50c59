#include "cluster/lua_script.h"

#include <utility>

#include "absl/strings/match.h"

namespace wsbridge::cluster {
namespace {

std::vector<std::string> Argv(std::string command, std::string script,
                              std::vector<std::string>& keys, std::vector<std::string>& args) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back(std::move(command));
  argv.push_back(std::move(script));
  argv.push_back(std::to_string(keys.size()));
  for (std::string& k : keys) argv.push_back(std::move(k));
  for (std::string& a : args) argv.push_back(std::move(a));
  return argv;
}

}  // namespace

void LuaScript::Run(RedisConnection& redis, std::vector<std::string> keys,
                    std::vector<std::string> args, RedisConnection::Completion done) {
  if (sha_.empty()) {
    if (!loading_) {
      loading_ = true;
      redis.Command({"SCRIPT", "LOAD", source_}, [this](RedisReply reply) {
        loading_ = false;
        if (reply.type == RedisReply::Type::kString) sha_ = std::move(reply.str);
      });
    }
    redis.Command(Argv("EVAL", source_, keys, args), std::move(done));
    return;
  }
  // Kept for the retry: EVALSHA consumes nothing of them until NOSCRIPT comes back.
  auto retry = std::make_shared<std::vector<std::string>>(Argv("EVAL", source_, keys, args));
  std::vector<std::string> argv = *retry;
  argv[0] = "EVALSHA";
  argv[1] = sha_;
  redis.Command(std::move(argv), [this, &redis, retry, done = std::move(done)](RedisReply reply) {
    if (reply.is_error() && absl::StartsWith(reply.str, "NOSCRIPT")) {
      sha_.clear();  // loaded again by the next Run
      redis.Command(std::move(*retry), done);
      return;
    }
    done(std::move(reply));
  });
}

}  // namespace wsbridge::cluster
