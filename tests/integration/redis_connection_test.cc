// The Redis client of cluster mode (bridge/redis/) against a real redis-server on loopback:
// replies of every type, pipelining, AUTH and SELECT from the URL, pub/sub, and what callers see
// when Redis goes away and comes back. Unit-level tests of our client, so they also run under the
// sanitizers: hiredis handing its socket to Asio is exactly where ASan finds bugs.
#include <atomic>
#include <cstdint>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis/redis_connection.h"
#include "redis/redis_subscriber.h"
#include "redis/redis_url.h"
#include "runtime/io_thread.h"
#include "support/eventually.h"
#include "support/redis_server.h"

namespace wsbridge {
namespace {

using testing::Eventually;
using ::testing::HasSubstr;
using testing::RedisServer;
using ::testing::StartsWith;
using Type = RedisReply::Type;

RedisClientOptions OptionsFor(const std::string& url) {
  RedisClientOptions options;
  options.url = ParseRedisUrl(url).value();
  // Quick retries, so a restart is noticed within a test's patience.
  options.reconnect_initial = absl::Milliseconds(20);
  options.reconnect_max = absl::Milliseconds(200);
  return options;
}

// Every state change a client reported, readable from the test thread.
class StateLog {
 public:
  std::function<void(const RedisStateChange&)> Callback() {
    return [this](const RedisStateChange& change) {
      absl::MutexLock lock(&mu_);
      changes_.push_back(change);
    };
  }
  std::vector<RedisStateChange> changes() const {
    absl::MutexLock lock(&mu_);
    return changes_;
  }
  size_t size() const { return changes().size(); }
  // The last change, if any, says connected.
  bool connected() const {
    const auto all = changes();
    return !all.empty() && all.back().connected;
  }
  int losses() const {
    int n = 0;
    for (const auto& c : changes()) n += c.connected ? 0 : 1;
    return n;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<RedisStateChange> changes_;
};

// Messages a subscriber received, readable from the test thread.
class Inbox {
 public:
  RedisSubscriber::MessageCallback Callback() {
    return [this](const std::string& channel, const std::string& payload) {
      absl::MutexLock lock(&mu_);
      messages_.emplace_back(channel, payload);
    };
  }
  std::vector<std::pair<std::string, std::string>> messages() const {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  size_t size() const { return messages().size(); }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::pair<std::string, std::string>> messages_;
};

class RedisConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { redis_thread_.Start(); }

  // Sends one command and waits for its reply.
  static RedisReply Call(RedisConnection& connection, std::vector<std::string> argv) {
    auto promise = std::make_shared<std::promise<RedisReply>>();
    std::future<RedisReply> reply = promise->get_future();
    connection.Command(std::move(argv), [promise](RedisReply r) { promise->set_value(r); });
    if (reply.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "no reply within 10 s";
      return RedisReply::Unanswered("test: no reply");
    }
    return reply.get();
  }

  // Subscribes and waits until Redis confirmed it.
  static void SubscribeAndWait(RedisSubscriber& subscriber, const std::string& channel) {
    auto active = std::make_shared<std::promise<void>>();
    std::future<void> done = active->get_future();
    subscriber.Subscribe(channel, [active] { active->set_value(); });
    ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "SUBSCRIBE " << channel << " not confirmed";
  }

  IoThread redis_thread_{0};
};

TEST_F(RedisConnectionTest, RepliesOfEveryTypeAndBinarySafeValues) {
  RedisServer server;
  RedisConnection redis(redis_thread_, OptionsFor(server.Url()));

  const std::string key("k\0ey", 4);
  const std::string value("a\0b\r\n\xff", 6);
  const RedisReply set = Call(redis, {"SET", key, value});
  EXPECT_EQ(set.type, Type::kStatus);
  EXPECT_EQ(set.str, "OK");
  const RedisReply get = Call(redis, {"GET", key});
  EXPECT_EQ(get.type, Type::kString);
  EXPECT_EQ(get.str, value);
  EXPECT_EQ(Call(redis, {"STRLEN", key}).integer, 6);
  // The key with its \0 is not the key cut at it.
  EXPECT_TRUE(Call(redis, {"GET", "k"}).is_nil());

  const RedisReply incr = Call(redis, {"INCRBY", "counter", "41"});
  EXPECT_EQ(incr.type, Type::kInteger);
  EXPECT_EQ(incr.integer, 41);

  Call(redis, {"RPUSH", "list", "a", std::string("\0", 1), "c"});
  const RedisReply range = Call(redis, {"LRANGE", "list", "0", "-1"});
  ASSERT_EQ(range.type, Type::kArray);
  ASSERT_EQ(range.elements.size(), 3u);
  EXPECT_EQ(range.elements[0].str, "a");
  EXPECT_EQ(range.elements[1].str, std::string("\0", 1));
  EXPECT_EQ(range.elements[2].str, "c");

  const RedisReply empty = Call(redis, {"LRANGE", "no-such-list", "0", "-1"});
  EXPECT_EQ(empty.type, Type::kArray);
  EXPECT_TRUE(empty.elements.empty());

  const RedisReply wrong = Call(redis, {"INCR", "list"});
  EXPECT_EQ(wrong.type, Type::kError);
  EXPECT_THAT(wrong.str, StartsWith("WRONGTYPE"));
  EXPECT_FALSE(wrong.unanswered);  // Redis answered it
}

TEST_F(RedisConnectionTest, TenThousandPipelinedIncrsCompleteInOrder) {
  RedisServer server;
  constexpr int kCount = 10000;
  std::vector<int64_t> seen;  // appended on the Redis thread, read after `all` is set
  seen.reserve(kCount);
  std::promise<void> all;
  RedisConnection redis(redis_thread_, OptionsFor(server.Url()));
  for (int i = 0; i < kCount; ++i) {
    redis.Command({"INCR", "n"}, [&seen, &all](RedisReply r) {
      seen.push_back(r.type == Type::kInteger ? r.integer : -1);
      if (seen.size() == kCount) all.set_value();
    });
  }
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(seen[i], i + 1) << "reply " << i;
}

// The write(2) calls this process has made so far (all threads), from /proc/self/io.
int64_t WriteCalls() {
  std::ifstream io("/proc/self/io");
  std::string field;
  int64_t value = 0;
  while (io >> field >> value) {
    if (field == "syscw:") return value;
  }
  ADD_FAILURE() << "no syscw in /proc/self/io";
  return 0;
}

// Pipelining: commands given in one turn of the Redis thread leave in a few writes, not one
// each. Counted as the process's write system calls, which nothing else makes meanwhile (the
// commands are given on the Redis thread itself, so no wake-up of its loop is written either).
TEST_F(RedisConnectionTest, CommandsGivenBackToBackShareTheirWrites) {
  RedisServer server;
  constexpr int kCount = 10000;
  std::atomic<int> completions{0};
  std::promise<void> all;
  RedisConnection redis(redis_thread_, OptionsFor(server.Url()));
  EXPECT_EQ(Call(redis, {"PING"}).str, "PONG");
  const int64_t before = WriteCalls();
  redis_thread_.Post([&] {
    for (int i = 0; i < kCount; ++i) {
      redis.Command({"INCR", "n"}, [&](RedisReply) {
        if (++completions == kCount) all.set_value();
      });
    }
  });
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const int64_t writes = WriteCalls() - before;
  EXPECT_LT(writes, 100) << kCount << " commands took " << writes << " writes";
}

TEST_F(RedisConnectionTest, AuthWithThePasswordFromTheUrl) {
  RedisServer server(RedisServer::Options{.password = "s3cret"});
  StateLog state;
  RedisConnection redis(redis_thread_, OptionsFor(server.Url()), state.Callback());
  EXPECT_EQ(Call(redis, {"SET", "a", "1"}).str, "OK");
  EXPECT_EQ(Call(redis, {"GET", "a"}).str, "1");
  ASSERT_TRUE(Eventually([&] { return state.connected(); }));
  EXPECT_EQ(state.losses(), 0);
}

TEST_F(RedisConnectionTest, AWrongPasswordIsAClearErrorAndRetried) {
  RedisServer server(RedisServer::Options{.password = "s3cret"});
  StateLog state;
  RedisConnection redis(redis_thread_, OptionsFor(server.UrlWithPassword("wrong")),
                        state.Callback());
  ASSERT_TRUE(Eventually([&] { return state.size() > 0; }));
  const RedisStateChange first = state.changes().front();
  EXPECT_FALSE(first.connected);
  EXPECT_THAT(first.error, HasSubstr("AUTH on 127.0.0.1:"));
  EXPECT_THAT(first.error, HasSubstr("WRONGPASS"));

  const RedisReply reply = Call(redis, {"GET", "a"});
  EXPECT_TRUE(reply.is_error());
  EXPECT_THAT(reply.str, HasSubstr("AUTH"));
  // The same failure on every retry is reported once.
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(state.size(), 1u);
}

TEST_F(RedisConnectionTest, NoPasswordForAServerThatWantsOneGetsNoauth) {
  RedisServer server(RedisServer::Options{.password = "s3cret"});
  RedisConnection redis(redis_thread_,
                        OptionsFor(server.UrlWithPassword("s3cret").substr(0, 0) +
                                   "redis://127.0.0.1:" + std::to_string(server.port())));
  const RedisReply reply = Call(redis, {"GET", "a"});
  EXPECT_TRUE(reply.is_error());
  EXPECT_FALSE(reply.unanswered);
  EXPECT_THAT(reply.str, StartsWith("NOAUTH"));
}

TEST_F(RedisConnectionTest, SelectsTheDbFromTheUrl) {
  RedisServer server;
  RedisConnection db3(redis_thread_, OptionsFor(server.Url(3)));
  RedisConnection db0(redis_thread_, OptionsFor(server.Url()));
  EXPECT_EQ(Call(db3, {"SET", "where", "three"}).str, "OK");
  EXPECT_TRUE(Call(db0, {"GET", "where"}).is_nil());
  EXPECT_EQ(Call(db3, {"GET", "where"}).str, "three");
  EXPECT_EQ(Call(db0, {"DBSIZE"}).integer, 0);
  EXPECT_EQ(Call(db3, {"DBSIZE"}).integer, 1);
}

TEST_F(RedisConnectionTest, PublishedMessagesReachASubscriberUntilItUnsubscribes) {
  RedisServer server;
  RedisConnection publisher(redis_thread_, OptionsFor(server.Url()));
  Inbox inbox;
  RedisSubscriber subscriber(redis_thread_, OptionsFor(server.Url()), inbox.Callback());

  // Two references on "news": the first Unsubscribe keeps it.
  SubscribeAndWait(subscriber, "news");
  SubscribeAndWait(subscriber, "news");
  const std::string payload("hello\0world", 11);
  EXPECT_EQ(Call(publisher, {"PUBLISH", "news", payload}).integer, 1);
  EXPECT_EQ(Call(publisher, {"PUBLISH", "other", "not for us"}).integer, 0);
  ASSERT_TRUE(Eventually([&] { return inbox.size() == 1; }));
  EXPECT_EQ(inbox.messages()[0].first, "news");
  EXPECT_EQ(inbox.messages()[0].second, payload);

  subscriber.Unsubscribe("news");
  EXPECT_EQ(Call(publisher, {"PUBLISH", "news", "still"}).integer, 1);
  ASSERT_TRUE(Eventually([&] { return inbox.size() == 2; }));

  subscriber.Unsubscribe("news");
  // Redis stops counting the subscriber once it processed the UNSUBSCRIBE...
  ASSERT_TRUE(Eventually([&] {
    return Call(publisher, {"PUBLISH", "news", "gone"}).integer == 0;
  }));
  // ...and nothing published after the Unsubscribe was delivered.
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(inbox.size(), 2u);
}

// A message Redis sent before it processed the UNSUBSCRIBE, still unread when Unsubscribe() ran,
// is not delivered.
TEST_F(RedisConnectionTest, AMessageInFlightAtUnsubscribeIsNotDelivered) {
  RedisServer server;
  IoThread publisher_thread(1);  // keeps publishing while the Redis thread is held
  publisher_thread.Start();
  RedisConnection publisher(publisher_thread, OptionsFor(server.Url()));
  Inbox inbox;
  RedisSubscriber subscriber(redis_thread_, OptionsFor(server.Url()), inbox.Callback());
  SubscribeAndWait(subscriber, "news");
  SubscribeAndWait(subscriber, "marker");

  // Hold the Redis thread, so the next message waits unread in the subscriber's socket.
  std::promise<void> held;
  std::promise<void> release;
  std::future<void> released = release.get_future();
  redis_thread_.Post([&] {
    held.set_value();
    released.wait();
  });
  held.get_future().wait();
  EXPECT_EQ(Call(publisher, {"PUBLISH", "news", "in flight"}).integer, 1);
  subscriber.Unsubscribe("news");  // runs before the subscriber reads the message
  release.set_value();

  // Redis sends the marker after the message on the same connection: once it is here, the
  // message was read too.
  EXPECT_EQ(Call(publisher, {"PUBLISH", "marker", "after"}).integer, 1);
  ASSERT_TRUE(Eventually([&] { return inbox.size() >= 1; }));
  absl::SleepFor(absl::Milliseconds(50));
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox.messages()[0].first, "marker");
}

TEST_F(RedisConnectionTest, AnOutageFailsPendingCommandsOnceAndBothClientsComeBackByThemselves) {
  RedisServer server;
  StateLog connection_state;
  StateLog subscriber_state;
  Inbox inbox;
  // Declared before the clients: their completions may run until the clients are destroyed.
  std::atomic<int> completions{0};
  std::promise<RedisReply> pending;
  RedisConnection observer(redis_thread_, OptionsFor(server.Url()));
  RedisConnection redis(redis_thread_, OptionsFor(server.Url()), connection_state.Callback());
  RedisSubscriber subscriber(redis_thread_, OptionsFor(server.Url()), inbox.Callback(),
                             subscriber_state.Callback());
  SubscribeAndWait(subscriber, "events");
  ASSERT_TRUE(Eventually([&] { return connection_state.connected(); }));

  // A command that the server holds (blocks on an empty list) is pending when Redis goes.
  redis.Command({"BLPOP", "empty", "0"}, [&](RedisReply r) {
    if (++completions == 1) pending.set_value(std::move(r));
  });
  ASSERT_TRUE(Eventually([&] {
    return Call(observer, {"CLIENT", "LIST"}).str.find("cmd=blpop") != std::string::npos;
  }));

  server.Stop();
  auto reply = pending.get_future();
  ASSERT_EQ(reply.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const RedisReply failed = reply.get();
  EXPECT_TRUE(failed.is_error());
  EXPECT_TRUE(failed.unanswered);
  EXPECT_THAT(failed.str, HasSubstr("lost"));

  ASSERT_TRUE(Eventually([&] { return connection_state.losses() == 1; }));
  EXPECT_FALSE(connection_state.changes().back().connected);
  EXPECT_THAT(connection_state.changes().back().error, HasSubstr("127.0.0.1:"));
  ASSERT_TRUE(Eventually([&] { return subscriber_state.losses() >= 1; }));

  // While down, commands fail at once with why.
  const RedisReply down = Call(redis, {"GET", "a"});
  EXPECT_TRUE(down.unanswered);
  EXPECT_THAT(down.str, HasSubstr("not connected"));

  server.Restart();
  ASSERT_TRUE(Eventually([&] { return connection_state.connected(); }, absl::Seconds(10)));
  EXPECT_EQ(Call(redis, {"SET", "back", "1"}).str, "OK");
  ASSERT_TRUE(Eventually([&] { return subscriber_state.connected(); }, absl::Seconds(10)));
  EXPECT_EQ(subscriber_state.changes().back().resubscribed, 1u);
  EXPECT_EQ(Call(redis, {"PUBLISH", "events", "after restart"}).integer, 1);
  ASSERT_TRUE(Eventually([&] { return inbox.size() == 1; }));
  EXPECT_EQ(inbox.messages()[0].second, "after restart");

  // The pending command completed exactly once, however many reconnects there were.
  EXPECT_EQ(completions.load(), 1);
}

TEST_F(RedisConnectionTest, ASubscriberSurvivesAKilledServer) {
  RedisServer server;
  StateLog state;
  StateLog publisher_state;
  Inbox inbox;
  RedisConnection publisher(redis_thread_, OptionsFor(server.Url()), publisher_state.Callback());
  RedisSubscriber subscriber(redis_thread_, OptionsFor(server.Url()), inbox.Callback(),
                             state.Callback());
  SubscribeAndWait(subscriber, "a");
  SubscribeAndWait(subscriber, "b");
  server.Kill();
  ASSERT_TRUE(Eventually([&] { return state.losses() >= 1 && publisher_state.losses() >= 1; }));
  // Taken while down: subscribed on the way back.
  subscriber.Subscribe("c");
  server.Restart();
  ASSERT_TRUE(Eventually([&] { return state.connected(); }, absl::Seconds(10)));
  // The publisher comes back on its own schedule.
  ASSERT_TRUE(Eventually([&] { return publisher_state.connected(); }, absl::Seconds(10)));
  EXPECT_EQ(state.changes().back().resubscribed, 3u);
  for (const char* channel : {"a", "b", "c"}) {
    EXPECT_EQ(Call(publisher, {"PUBLISH", channel, channel}).integer, 1) << channel;
  }
  ASSERT_TRUE(Eventually([&] { return inbox.size() == 3; }));
}

// A Redis that hangs (SIGSTOP) closes nothing: the watchdog fails the pending command with a
// message that says so, within the bound (and one check), and when Redis goes on the connection
// comes back by itself. Reconnects while it hangs do not count as connected (their PING is not
// answered).
TEST_F(RedisConnectionTest, AHungRedisFailsPendingCommandsWithinTheBoundAndRecovers) {
  RedisServer server;
  StateLog states;
  RedisClientOptions options = OptionsFor(server.Url());
  options.reply_timeout = absl::Milliseconds(300);
  options.connect_timeout = absl::Milliseconds(300);
  RedisConnection redis(redis_thread_, options, states.Callback());
  ASSERT_EQ(Call(redis, {"SET", "k", "v"}).str, "OK");

  server.Pause();
  const RedisReply hung = Call(redis, {"GET", "k"});
  EXPECT_TRUE(hung.unanswered);
  EXPECT_THAT(hung.str, HasSubstr("did not answer within 300 ms"));
  // Reported right after the pending commands were failed.
  ASSERT_TRUE(Eventually([&] { return states.losses() >= 1; }));
  const std::vector<RedisStateChange> changes = states.changes();
  ASSERT_GE(changes.size(), 2u);  // connected, then the loss
  EXPECT_FALSE(changes[1].connected);
  EXPECT_THAT(changes[1].error, HasSubstr("did not answer within 300 ms"));
  absl::SleepFor(absl::Milliseconds(700));  // reconnect attempts meanwhile
  EXPECT_FALSE(states.connected());
  EXPECT_TRUE(Call(redis, {"GET", "k"}).unanswered);

  server.Resume();
  ASSERT_TRUE(Eventually([&] { return Call(redis, {"GET", "k"}).str == "v"; }));
  EXPECT_TRUE(states.connected());
}

// An idle subscriber notices a hung Redis too (its probe is not confirmed), and after it goes on
// subscribes again and receives.
TEST_F(RedisConnectionTest, AnIdleSubscriberNoticesAHungRedis) {
  RedisServer server;
  StateLog states;
  Inbox inbox;
  RedisClientOptions options = OptionsFor(server.Url());
  options.reply_timeout = absl::Milliseconds(300);
  options.connect_timeout = absl::Milliseconds(300);
  RedisSubscriber subscriber(redis_thread_, options, inbox.Callback(), states.Callback());
  SubscribeAndWait(subscriber, "news");
  absl::SleepFor(absl::Milliseconds(900));  // idle, probed: a healthy Redis is not lost
  EXPECT_EQ(states.losses(), 0);

  server.Pause();
  ASSERT_TRUE(Eventually([&] { return states.losses() >= 1; }, absl::Seconds(10)));
  for (const RedisStateChange& c : states.changes()) {
    if (!c.connected) {
      EXPECT_THAT(c.error, HasSubstr("did not answer within 300 ms"));
      break;
    }
  }
  server.Resume();
  ASSERT_TRUE(Eventually([&] {
    const auto all = states.changes();
    return !all.empty() && all.back().connected && all.back().resubscribed == 1;
  }));
  RedisConnection publisher(redis_thread_, OptionsFor(server.Url()));
  EXPECT_EQ(Call(publisher, {"PUBLISH", "news", "again"}).integer, 1);
  ASSERT_TRUE(Eventually([&] { return inbox.size() == 1; }));
  EXPECT_EQ(inbox.messages()[0].second, "again");
}

TEST_F(RedisConnectionTest, DestroyingAConnectionWithCommandsInFlightCompletesEachOnce) {
  RedisServer server;
  constexpr int kCount = 2000;
  std::atomic<int> completions{0};
  std::atomic<int> unanswered{0};
  auto redis = std::make_unique<RedisConnection>(redis_thread_, OptionsFor(server.Url()));
  EXPECT_EQ(Call(*redis, {"PING"}).str, "PONG");
  for (int i = 0; i < kCount; ++i) {
    redis->Command({"BLPOP", "never", "0"}, [&](RedisReply r) {
      ++completions;
      if (r.unanswered) ++unanswered;
    });
  }
  redis.reset();
  // The destructor returned: everything it held has completed, with "connection closed".
  EXPECT_EQ(completions.load(), kCount);
  EXPECT_EQ(unanswered.load(), kCount);
}

TEST_F(RedisConnectionTest, ACompletionMayDestroyItsConnection) {
  RedisServer server;
  std::atomic<int> completions{0};
  std::promise<void> destroyed;
  auto redis = std::make_unique<RedisConnection>(redis_thread_, OptionsFor(server.Url()));
  // The first reply destroys the connection from inside hiredis's callback; the others are
  // then failed by the (deferred) free of the context. All are given in one task of the Redis
  // thread, so no completion can run before the last is given.
  redis_thread_.Post([&] {
    redis->Command({"PING"}, [&](RedisReply) {
      ++completions;
      redis.reset();
      destroyed.set_value();
    });
    for (int i = 0; i < 100; ++i) redis->Command({"PING"}, [&](RedisReply) { ++completions; });
  });
  ASSERT_EQ(destroyed.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_TRUE(Eventually([&] { return completions.load() == 101; }));
}

TEST_F(RedisConnectionTest, AMessageCallbackMayDestroyItsSubscriber) {
  RedisServer server;
  std::atomic<int> messages{0};
  std::promise<void> destroyed;
  std::unique_ptr<RedisSubscriber> subscriber;
  subscriber = std::make_unique<RedisSubscriber>(redis_thread_, OptionsFor(server.Url()),
                                                 [&](const std::string&, const std::string&) {
                                                   if (++messages == 1) {
                                                     subscriber.reset();
                                                     destroyed.set_value();
                                                   }
                                                 });
  RedisConnection publisher(redis_thread_, OptionsFor(server.Url()));
  SubscribeAndWait(*subscriber, "bye");
  // Several messages in one read: the first one's callback destroys the subscriber.
  redis_thread_.Post([&] {
    for (int i = 0; i < 10; ++i) publisher.Command({"PUBLISH", "bye", "x"}, [](RedisReply) {});
  });
  ASSERT_EQ(destroyed.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(Call(publisher, {"PING"}).str, "PONG");
  EXPECT_EQ(messages.load(), 1);
}

TEST_F(RedisConnectionTest, NoServerMeansUnansweredErrorsAndLostReportedOnce) {
  uint16_t port = 0;
  {
    RedisServer gone;  // a port that was just free and has nothing on it now
    port = gone.port();
  }
  StateLog state;
  RedisConnection redis(redis_thread_, OptionsFor("redis://127.0.0.1:" + std::to_string(port)),
                        state.Callback());
  const RedisReply reply = Call(redis, {"PING"});
  EXPECT_TRUE(reply.unanswered);
  ASSERT_TRUE(Eventually([&] { return state.size() == 1; }));
  EXPECT_THAT(state.changes()[0].error, HasSubstr("Connection refused"));
  absl::SleepFor(absl::Milliseconds(500));  // several retries
  EXPECT_EQ(state.size(), 1u);
}

}  // namespace
}  // namespace wsbridge
