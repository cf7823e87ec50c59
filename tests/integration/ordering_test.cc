// One order per node: whatever gRPC channels, threads or streams the calls come on, the node
// accepts them in one order and every session receives what it gets in that order. Browsers are
// spread over four I/O threads (the kernel spreads the connections of one SO_REUSEPORT port: the
// chance that all 24 land on one thread is 4^-23), publishers run concurrently on channels of
// their own with many calls in flight, and every assertion is about what the browsers saw, never
// about timing.
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

constexpr int kBrowsers = 24;
constexpr int kPublishers = 8;
constexpr int kCallsPerPublisher = 150;
constexpr int kInFlightPerPublisher = 16;

void FourThreadsRoomyQueues(Config& config) {
  config.listeners.io_threads = 4;
  // Every message of a test fits the queues: these tests are about order, not slow consumers.
  config.session.send_queue.max_messages = 100000;
  config.session.send_queue.max_bytes = 64 << 20;
}

// A stub on a channel of its own (its own TCP connection), as a separate service would have.
std::unique_ptr<v1::Bridge::Stub> OwnChannelStub(TestBridge& bridge, int publisher) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("wsbridge.test.publisher", publisher);
  return v1::Bridge::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", bridge.grpc_port()), grpc::InsecureChannelCredentials(), args));
}

// A context for one asynchronous call: a deadline so a lost answer fails the test instead of
// hanging it, and wait_for_ready because a fresh channel may still be connecting.
std::shared_ptr<grpc::ClientContext> OrderedCallContext() {
  auto context = std::make_shared<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  context->set_wait_for_ready(true);
  return context;
}

// Makes `count` asynchronous calls, `start(i, done)` issuing call i, with at most `in_flight`
// outstanding; returns once all have answered, with the number that did not answer OK. The
// state is shared with the callbacks, which may still be returning when this function does.
int CallsWithInFlight(int count, int in_flight,
                      std::function<void(int, std::function<void(grpc::Status)>)> start) {
  struct Progress : std::enable_shared_from_this<Progress> {
    absl::Mutex mutex;
    int count = 0, started = 0, finished = 0, failed = 0;
    std::function<void(int, std::function<void(grpc::Status)>)> start;

    void StartNext() {
      int i;
      {
        absl::MutexLock lock(&mutex);
        if (started == count) return;
        i = started++;
      }
      start(i, [self = shared_from_this()](grpc::Status status) {
        self->StartNext();
        absl::MutexLock lock(&self->mutex);
        ++self->finished;
        if (!status.ok()) ++self->failed;
      });
    }
  };
  auto progress = std::make_shared<Progress>();
  progress->count = count;
  progress->start = std::move(start);
  for (int i = 0; i < in_flight; ++i) progress->StartNext();
  absl::MutexLock lock(&progress->mutex);
  progress->mutex.Await(absl::Condition(
      +[](Progress* p) { return p->finished == p->count; }, progress.get()));
  return progress->failed;
}

// Unary Broadcasts of "p<publisher>-<i>" to `topic`, `in_flight` at a time on one channel.
void PublishUnary(TestBridge& bridge, int publisher, int count, int in_flight,
                  const std::string& topic) {
  auto stub = OwnChannelStub(bridge, publisher);
  const int failed = CallsWithInFlight(count, in_flight, [&](int i, auto done) {
    auto context = OrderedCallContext();
    auto request = std::make_shared<v1::BroadcastRequest>();
    auto response = std::make_shared<v1::BroadcastResponse>();
    request->add_topics(topic);
    request->mutable_message()->set_text(absl::StrCat("p", publisher, "-", i));
    stub->async()->Broadcast(
        context.get(), request.get(), response.get(),
        [context, request, response, done](grpc::Status status) { done(std::move(status)); });
  });
  EXPECT_EQ(failed, 0) << "publisher " << publisher;
}

// Reads exactly `count` messages from each browser, in parallel (one thread per browser).
std::vector<std::vector<std::string>> ReadAll(
    const std::vector<std::unique_ptr<WsClient>>& browsers, const std::vector<size_t>& counts) {
  std::vector<std::vector<std::string>> seen(browsers.size());
  std::vector<std::thread> readers;
  for (size_t b = 0; b < browsers.size(); ++b) {
    readers.emplace_back([&, b] {
      for (size_t i = 0; i < counts[b]; ++i) {
        auto message = browsers[b]->NextMessage(absl::Seconds(20));
        if (!message.has_value()) return;
        seen[b].push_back(std::move(message->data));
      }
    });
  }
  for (std::thread& reader : readers) reader.join();
  return seen;
}

// Every pair of sessions received their common messages in the same relative order.
void ExpectOneOrder(const std::vector<std::vector<std::string>>& seen) {
  std::vector<absl::flat_hash_set<std::string>> sets;
  for (const auto& sequence : seen) sets.emplace_back(sequence.begin(), sequence.end());
  for (size_t a = 0; a < seen.size(); ++a) {
    ASSERT_EQ(sets[a].size(), seen[a].size()) << "browser " << a << " got a message twice";
    for (size_t b = a + 1; b < seen.size(); ++b) {
      std::vector<std::string> a_common, b_common;
      for (const std::string& m : seen[a]) {
        if (sets[b].contains(m)) a_common.push_back(m);
      }
      for (const std::string& m : seen[b]) {
        if (sets[a].contains(m)) b_common.push_back(m);
      }
      ASSERT_EQ(a_common, b_common) << "browsers " << a << " and " << b << " disagree on order";
    }
  }
}

std::vector<std::unique_ptr<WsClient>> ConnectBrowsers(TestBridge& bridge, int count,
                                                       const std::string& query) {
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (int i = 0; i < count; ++i) {
    browsers.push_back(bridge.ConnectAnonymous(query));
    EXPECT_TRUE(browsers.back() != nullptr);
  }
  return browsers;
}

TEST(OrderingTest, ConcurrentPublishersOnSeparateChannelsGiveEverySubscriberOneOrder) {
  TestBridge bridge(FourThreadsRoomyQueues);
  auto browsers = ConnectBrowsers(bridge, kBrowsers, "topics=news");
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back(
        [&, p] { PublishUnary(bridge, p, kCallsPerPublisher, kInFlightPerPublisher, "news"); });
  }
  for (std::thread& publisher : publishers) publisher.join();

  constexpr size_t kTotal = kPublishers * kCallsPerPublisher;
  auto seen = ReadAll(browsers, std::vector<size_t>(kBrowsers, kTotal));
  for (int b = 0; b < kBrowsers; ++b) ASSERT_EQ(seen[b].size(), kTotal) << "browser " << b;
  for (int b = 1; b < kBrowsers; ++b) {
    ASSERT_EQ(seen[b], seen[0]) << "browser " << b << " saw another order than browser 0";
  }
  EXPECT_EQ(std::set<std::string>(seen[0].begin(), seen[0].end()).size(), kTotal);
}

TEST(OrderingTest, OnePublisherWithManyCallsInFlightGivesEverySubscriberOneOrder) {
  TestBridge bridge(FourThreadsRoomyQueues);
  auto browsers = ConnectBrowsers(bridge, kBrowsers, "topics=news");
  constexpr int kCalls = 1200;
  PublishUnary(bridge, 0, kCalls, 16, "news");
  auto seen = ReadAll(browsers, std::vector<size_t>(kBrowsers, kCalls));
  for (int b = 0; b < kBrowsers; ++b) ASSERT_EQ(seen[b].size(), size_t{kCalls}) << b;
  for (int b = 1; b < kBrowsers; ++b) ASSERT_EQ(seen[b], seen[0]) << "browser " << b;
}

TEST(OrderingTest, StreamsAndUnaryCallsTogetherGiveEverySubscriberOneOrder) {
  TestBridge bridge(FourThreadsRoomyQueues);
  auto browsers = ConnectBrowsers(bridge, kBrowsers, "topics=news");
  constexpr int kStreams = 4;
  constexpr int kPerStream = 300;
  std::vector<std::thread> publishers;
  for (int s = 0; s < kStreams; ++s) {
    publishers.emplace_back([&, s] {
      auto stub = OwnChannelStub(bridge, 100 + s);
      auto context = CallContext();
      // A fresh channel may still be connecting: wait for it rather than fail the call.
      context->set_wait_for_ready(true);
      auto stream = stub->BroadcastStream(context.get());
      std::thread writer([&] {
        for (int i = 0; i < kPerStream; ++i) {
          v1::BroadcastRequest request;
          request.add_topics("news");
          request.mutable_message()->set_text(absl::StrCat("s", s, "-", i));
          if (!stream->Write(request)) break;
        }
        stream->WritesDone();
      });
      v1::BroadcastResponse response;
      int answered = 0;
      while (stream->Read(&response)) ++answered;
      writer.join();
      const grpc::Status status = stream->Finish();
      EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
      EXPECT_EQ(answered, kPerStream);
    });
  }
  for (int p = 0; p < kStreams; ++p) {
    publishers.emplace_back([&, p] { PublishUnary(bridge, p, kCallsPerPublisher, 8, "news"); });
  }
  for (std::thread& publisher : publishers) publisher.join();

  constexpr size_t kTotal = kStreams * kPerStream + kStreams * kCallsPerPublisher;
  auto seen = ReadAll(browsers, std::vector<size_t>(kBrowsers, kTotal));
  for (int b = 0; b < kBrowsers; ++b) ASSERT_EQ(seen[b].size(), kTotal) << "browser " << b;
  for (int b = 1; b < kBrowsers; ++b) ASSERT_EQ(seen[b], seen[0]) << "browser " << b;
}

TEST(OrderingTest, PushesToUsersAndBroadcastsInterleaveInOneOrder) {
  // Six users with four sessions each, all on "news". Publishers push to changing subsets of the
  // users and broadcast to the topic at the same time: each session receives a different subset,
  // and any two sessions agree on the order of the messages they share.
  TestBridge bridge(FourThreadsRoomyQueues);
  constexpr int kUsers = 6;
  std::vector<std::unique_ptr<WsClient>> browsers;
  std::vector<int> user_of;
  for (int u = 0; u < kUsers; ++u) {
    for (int k = 0; k < 4; ++k) {
      browsers.push_back(bridge.ConnectUser(absl::StrCat("user", u), "topics=news"));
      ASSERT_TRUE(browsers.back() != nullptr);
      user_of.push_back(u);
    }
  }
  // Message i of publisher p goes to the users whose bit is set in (p * 7 + i) % 64, or to the
  // whole topic when that is 0.
  auto audience = [](int p, int i) { return (p * 7 + i) % 64; };
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      auto stub = OwnChannelStub(bridge, p);
      const int failed =
          CallsWithInFlight(kCallsPerPublisher, kInFlightPerPublisher, [&](int i, auto done) {
            auto context = OrderedCallContext();
            const std::string text = absl::StrCat("p", p, "-", i);
            const int users = audience(p, i);
            if (users == 0) {
              auto request = std::make_shared<v1::BroadcastRequest>();
              auto response = std::make_shared<v1::BroadcastResponse>();
              request->add_topics("news");
              request->mutable_message()->set_text(text);
              stub->async()->Broadcast(
                  context.get(), request.get(), response.get(),
                  [context, request, response, done](grpc::Status s) { done(std::move(s)); });
              return;
            }
            auto request = std::make_shared<v1::PushRequest>();
            auto response = std::make_shared<v1::PushResponse>();
            for (int u = 0; u < kUsers; ++u) {
              if (users & (1 << u)) request->add_user_ids(absl::StrCat("user", u));
            }
            request->mutable_message()->set_text(text);
            stub->async()->Push(
                context.get(), request.get(), response.get(),
                [context, request, response, done](grpc::Status s) { done(std::move(s)); });
          });
      EXPECT_EQ(failed, 0);
    });
  }
  for (std::thread& publisher : publishers) publisher.join();

  std::vector<size_t> expected(browsers.size(), 0);
  for (int p = 0; p < kPublishers; ++p) {
    for (int i = 0; i < kCallsPerPublisher; ++i) {
      const int users = audience(p, i);
      for (size_t b = 0; b < browsers.size(); ++b) {
        if (users == 0 || (users & (1 << user_of[b]))) ++expected[b];
      }
    }
  }
  auto seen = ReadAll(browsers, expected);
  for (size_t b = 0; b < browsers.size(); ++b) {
    ASSERT_EQ(seen[b].size(), expected[b]) << "browser " << b;
  }
  ExpectOneOrder(seen);
}

TEST(OrderingTest, BroadcastsAfterAnUnsubscribeInNodeOrderNeverReachTheSession) {
  // A stream of broadcasts runs while another service unsubscribes half of the browsers. What an
  // unsubscribed browser received must be exactly the beginning of what a still-subscribed
  // browser received: the unsubscribe took one place in the node's order, for every thread alike.
  TestBridge bridge(FourThreadsRoomyQueues);
  auto stay = ConnectBrowsers(bridge, kBrowsers / 2, "topics=news");
  auto leave = ConnectBrowsers(bridge, kBrowsers / 2, "topics=news");
  constexpr int kBroadcasts = 4000;
  std::thread publisher([&] { PublishUnary(bridge, 0, kBroadcasts, 8, "news"); });
  std::thread unsubscriber([&] {
    auto stub = OwnChannelStub(bridge, 1);
    v1::UnsubscribeRequest request;
    for (const auto& browser : leave) request.add_session_ids(browser->session_id());
    request.add_topics("news");
    // Somewhere in the middle of the stream: after the first stayer has seen a few messages.
    ASSERT_TRUE(Eventually([&] { return stay[0]->pending() >= 50; }, absl::Seconds(20)));
    v1::UnsubscribeResponse response;
    auto context = CallContext();
    ASSERT_TRUE(stub->Unsubscribe(context.get(), request, &response).ok());
    EXPECT_EQ(response.sessions(), leave.size());
  });
  unsubscriber.join();
  publisher.join();

  auto stayed = ReadAll(stay, std::vector<size_t>(stay.size(), kBroadcasts));
  for (size_t b = 1; b < stayed.size(); ++b) ASSERT_EQ(stayed[b], stayed[0]) << b;
  const std::vector<std::string>& order = stayed[0];
  ASSERT_EQ(order.size(), size_t{kBroadcasts});
  for (size_t b = 0; b < leave.size(); ++b) {
    std::vector<std::string> got;
    while (auto message = leave[b]->NextMessage(absl::Milliseconds(300))) {
      got.push_back(message->data);
    }
    ASSERT_LT(got.size(), order.size()) << "browser " << b << " was never unsubscribed";
    ASSERT_EQ(got, std::vector<std::string>(order.begin(), order.begin() + got.size()))
        << "browser " << b << " got a broadcast that the node accepted after its unsubscribe";
  }
}

}  // namespace
}  // namespace wsbridge::testing
