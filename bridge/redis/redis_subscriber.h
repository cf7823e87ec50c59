// RedisSubscriber: one pub/sub connection to Redis (a hiredis context of its own: a connection
// in subscribed mode takes no other commands), with the channels this node listens to.
//
// Subscribe() and Unsubscribe() are reference-counted per channel: the first Subscribe of a
// channel sends SUBSCRIBE, the Unsubscribe that balances the last one sends UNSUBSCRIBE, and
// the calls in between send nothing. An Unsubscribe of a channel not held does nothing. From the
// moment a channel is unsubscribed (count back to 0) its messages are no longer delivered, even
// those Redis sent before it processed the UNSUBSCRIBE.
//
// An idle subscriber still notices a Redis that hangs: it SUBSCRIBEs `probe_channel` every
// reply_timeout / 2 and a confirmation missing for reply_timeout counts as a loss
// (redis_client_options.h). The probe's confirmations are not reported.
//
// After a loss the subscriber reconnects by itself (redis_client_options.h) and subscribes again
// to every channel it holds; once Redis has confirmed them all it reports connected with
// `resubscribed` = how many. Messages published while it was down are lost (Redis pub/sub keeps
// nothing): a caller that must not miss any learns of the gap from that report (and from the
// loss reported before it). Messages of a channel confirmed early may arrive before the report.
// A SUBSCRIBE that Redis refuses (an ACL without the channel) is not reported: the channel
// stays inactive and its `on_active` never runs.
//
// Thread-safety: Subscribe() and Unsubscribe() may be called from any thread; they post onto the
// Redis thread, which owns the channel set. Calls from one thread take effect in their order.
// `on_message`, `on_state` and `on_active` run on the Redis thread and must not block.
// Destruction as RedisConnection's: from any thread, also from inside its own callbacks, and
// when the destructor returns no callback runs any more. REQUIRES: the Redis thread is running.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "redis/redis_client_options.h"

namespace wsbridge {

class IoThread;

class RedisSubscriber {
 public:
  // `payload` is the message's bytes, binary-safe.
  using MessageCallback =
      std::function<void(const std::string& channel, const std::string& payload)>;
  using StateCallback = std::function<void(const RedisStateChange&)>;

  // Starts connecting at once. `redis_thread` must outlive the subscriber.
  RedisSubscriber(IoThread& redis_thread, RedisClientOptions options, MessageCallback on_message,
                  StateCallback on_state = nullptr);
  ~RedisSubscriber();
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  // Takes one reference on `channel`. `on_active` (optional) runs once Redis has confirmed the
  // subscription: at once if it already has, later if the subscriber is (re)connecting; never if
  // the channel is unsubscribed before that.
  void Subscribe(std::string channel, std::function<void()> on_active = nullptr);
  // Drops one reference on `channel`.
  void Unsubscribe(std::string channel);

 private:
  class Channels;
  IoThread& thread_;
  std::shared_ptr<Channels> channels_;
};

}  // namespace wsbridge
