#include "redis/redis_subscriber.h"

#include <map>
#include <utility>
#include <vector>

#include "redis/redis_link.h"
#include "runtime/io_thread.h"

namespace wsbridge {

// The channel set and the link it is subscribed on; lives on the Redis thread.
class RedisSubscriber::Channels : public std::enable_shared_from_this<Channels> {
 public:
  Channels(IoThread& io, RedisClientOptions options, MessageCallback on_message,
           StateCallback on_state)
      : on_message_(std::move(on_message)),
        on_state_(std::move(on_state)),
        link_(std::make_shared<RedisLink>(
            io, std::move(options), [this](const RedisStateChange& c) { OnLinkState(c); },
            [this](const RedisReply& r) { OnPush(r); })) {}

  void Start() { link_->Connect(); }
  void Close() { link_->Close(); }

  void Subscribe(const std::string& channel, std::function<void()> on_active) {
    Channel& c = channels_[channel];
    if (++c.refs == 1 && link_->connected()) link_->SendPubSub({"SUBSCRIBE", channel});
    if (on_active == nullptr) return;
    if (c.active) {
      on_active();
    } else {
      c.waiters.push_back(std::move(on_active));
    }
  }

  void Unsubscribe(const std::string& channel) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    if (--it->second.refs > 0) return;
    channels_.erase(it);
    if (link_->connected()) link_->SendPubSub({"UNSUBSCRIBE", channel});
    MaybeResubscribed();
  }

 private:
  struct Channel {
    int refs = 0;
    bool active = false;  // Redis confirmed the SUBSCRIBE on the current connection
    std::vector<std::function<void()>> waiters;
  };

  // Both run inside hiredis's processing; a callback may destroy the RedisSubscriber, so each
  // keeps the channel set alive until it returns.
  void OnLinkState(const RedisStateChange& change) {
    const std::shared_ptr<Channels> keep_alive = shared_from_this();
    for (auto& [name, c] : channels_) c.active = false;
    if (!change.connected) {
      resubscribing_ = false;
      if (on_state_ != nullptr) on_state_(change);
      return;
    }
    // A fresh connection holds no subscription: ask for all of them again, a bounded number of
    // channels per command.
    constexpr size_t kChannelsPerCommand = 1000;
    std::vector<std::string> argv = {"SUBSCRIBE"};
    for (const auto& [name, c] : channels_) {
      argv.push_back(name);
      if (argv.size() > kChannelsPerCommand) {
        link_->SendPubSub(argv);
        argv.resize(1);
      }
    }
    if (argv.size() > 1) link_->SendPubSub(argv);
    resubscribing_ = true;
    resubscribed_ = had_connection_ ? channels_.size() : 0;
    had_connection_ = true;
    MaybeResubscribed();
  }

  void MaybeResubscribed() {
    if (!resubscribing_) return;
    for (const auto& [name, c] : channels_) {
      if (!c.active) return;
    }
    resubscribing_ = false;
    if (on_state_ != nullptr) {
      RedisStateChange change;
      change.connected = true;
      change.resubscribed = resubscribed_;
      on_state_(change);
    }
  }

  void OnPush(const RedisReply& reply) {
    const std::shared_ptr<Channels> keep_alive = shared_from_this();
    if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 3) return;
    const std::string& kind = reply.elements[0].str;
    const std::string& channel = reply.elements[1].str;
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;  // unsubscribed since: not delivered
    if (kind == "message") {
      if (on_message_ != nullptr) on_message_(channel, reply.elements[2].str);
    } else if (kind == "subscribe") {
      Channel& c = it->second;
      c.active = true;
      std::vector<std::function<void()>> waiters = std::move(c.waiters);
      c.waiters.clear();
      MaybeResubscribed();
      for (auto& w : waiters) w();
    }
  }

  MessageCallback on_message_;
  StateCallback on_state_;
  std::map<std::string, Channel> channels_;
  bool had_connection_ = false;
  bool resubscribing_ = false;
  size_t resubscribed_ = 0;
  std::shared_ptr<RedisLink> link_;  // last: its callbacks point into the members above
};

RedisSubscriber::RedisSubscriber(IoThread& redis_thread, RedisClientOptions options,
                                 MessageCallback on_message, StateCallback on_state)
    : thread_(redis_thread),
      channels_(std::make_shared<Channels>(redis_thread, std::move(options), std::move(on_message),
                                           std::move(on_state))) {
  thread_.Post([channels = channels_] { channels->Start(); });
}

RedisSubscriber::~RedisSubscriber() {
  thread_.RunAndWait([channels = channels_] { channels->Close(); });
}

void RedisSubscriber::Subscribe(std::string channel, std::function<void()> on_active) {
  thread_.Post([channels = channels_, channel = std::move(channel),
                on_active = std::move(on_active)]() mutable {
    channels->Subscribe(channel, std::move(on_active));
  });
}

void RedisSubscriber::Unsubscribe(std::string channel) {
  thread_.Post(
      [channels = channels_, channel = std::move(channel)] { channels->Unsubscribe(channel); });
}

}  // namespace wsbridge
