// Events streams that cost only themselves: many stuck consumers (in another process, never
// reading) beside a healthy one, the per-node stream limit, and a history bounded in bytes as
// well as in events. (A stream past its byte bound: events_test.cc, EventsBackpressureTest.)
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "support/child_process.h"
#include "support/events_reader.h"
#include "support/sanitizers.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

// Waits until the bridge holds `n` Events subscriptions, so nothing that follows is missed.
void AwaitSubscribers(TestBridge& bridge, size_t n, absl::Duration timeout = absl::Seconds(10)) {
  ASSERT_TRUE(
      Eventually([&] { return bridge.server().events().subscription_count() == n; }, timeout))
      << "expected " << n << " Events subscriptions, have "
      << bridge.server().events().subscription_count();
}

// This process's resident memory (VmRSS), in bytes.
uint64_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// `streams` Events streams opened from a child process that never reads them.
std::unique_ptr<ChildProcess> StartIdleStreams(TestBridge& bridge, int streams) {
  auto child = std::make_unique<ChildProcess>(
      IDLE_EVENTS_STREAMS_BINARY,
      std::vector<std::string>{absl::StrCat("127.0.0.1:", bridge.grpc_port()),
                               absl::StrCat(streams)});
  auto line = child->ReadStdoutLine(absl::Seconds(60));
  EXPECT_EQ(line.value_or("<nothing>"), absl::StrCat("open ", streams)) << child->Stderr();
  return child;
}

TEST(EventsIsolationTest, HealthyConsumerBesideTwoThousandIdleStreamsGetsEveryEventInOrder) {
  // The default event bounds; no inbound rate limit, so that 20 browsers make a burst.
  TestBridge bridge([](Config& config) { config.session.client_messages_per_second = 0; });
  constexpr int kIdle = 2000;
  auto idle = StartIdleStreams(bridge, kIdle);
  AwaitSubscribers(bridge, kIdle, absl::Seconds(60));
  EventsReader healthy(bridge.api(), v1::EventsRequest());
  AwaitSubscribers(bridge, kIdle + 1);

  // 20 browsers x 700 messages: about 14,000 events, as fast as the browsers can send them.
  constexpr int kBrowsers = 20;
  constexpr int kMessages = 700;
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (int b = 0; b < kBrowsers; ++b) {
    browsers.push_back(bridge.ConnectAnonymous());
    ASSERT_TRUE(browsers.back());
  }
  const uint64_t rss_before = ResidentBytes();
  // All at once, as fast as the browsers can send (~14,000 events in a fifth of a second, faster
  // than any one stream writes: even beside a single idle stream a consumer falls ~12,000 behind,
  // within the default 100,000-event lag). The healthy stream must get every event; before the
  // fix the bus pushed each event onto all 2,001 queues under its mutex, the node grew by
  // ~480 MiB, and the healthy stream got ~10 events/s and was cut off.
  for (int m = 0; m < kMessages; ++m) {
    for (auto& browser : browsers) browser->SendText(absl::StrCat("message ", m));
  }
  constexpr size_t kExpected = kBrowsers * (1 + kMessages);  // opened + messages
  auto events = healthy.ReadUntil(
      [&](const std::vector<v1::Event>& e) { return e.size() >= kExpected; }, absl::Seconds(120));
  ASSERT_EQ(events.size(), kExpected)
      << "the healthy consumer got " << events.size() << " events; ended: "
      << healthy.WaitEnded(absl::Milliseconds(1)).value_or(grpc::Status::OK).error_message();
  for (size_t i = 1; i < events.size(); ++i) {
    ASSERT_LT(events[i - 1].sequence(), events[i].sequence()) << "at " << i;
  }
  for (auto& browser : browsers) {
    auto mine = EventsOf(events, browser->session_id());
    ASSERT_EQ(mine.size(), 1u + kMessages);
    EXPECT_TRUE(mine[0].has_opened());
    for (int m = 0; m < kMessages; ++m) {
      ASSERT_EQ(mine[1 + m].message().message().text(), absl::StrCat("message ", m));
    }
  }
  EXPECT_FALSE(healthy.WaitEnded(absl::Milliseconds(10)).has_value());
  // The idle streams hold one shared log between them, not a queue each.
  const EventBus::Usage usage = bridge.server().events().usage();
  EXPECT_LE(usage.logged_events + usage.queued_events, kExpected);
  // And the whole node grew by little for them: with a queue per stream it grew by ~480 MiB
  // here (2,000 queues of ~14,000 pointers), with the shared log by ~16 MiB.
  // (Not under AddressSanitizer, whose quarantine keeps freed memory resident on purpose.)
  const uint64_t rss_after = ResidentBytes();
  if (!kUnderSanitizers) {
    EXPECT_LT(rss_after - std::min(rss_after, rss_before), uint64_t{128} << 20)
        << "resident memory grew from " << (rss_before >> 20) << " MiB to " << (rss_after >> 20)
        << " MiB";
  }
}

TEST(EventsIsolationTest, StreamsPastMaxEventsStreamsAreRefusedNamingTheFlag) {
  TestBridge bridge([](Config& config) { config.events.max_streams = 3; });
  std::vector<std::unique_ptr<EventsReader>> readers;
  for (int i = 0; i < 3; ++i) {
    readers.push_back(std::make_unique<EventsReader>(bridge.api(), v1::EventsRequest()));
  }
  AwaitSubscribers(bridge, 3);

  EventsReader refused(bridge.api(), v1::EventsRequest());
  auto status = refused.WaitEnded();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status->error_message(), HasSubstr("--max_events_streams"));

  // A place given back is a place to take, and the streams still open work.
  readers.front()->Cancel();
  AwaitSubscribers(bridge, 2);
  EventsReader admitted(bridge.api(), v1::EventsRequest());
  AwaitSubscribers(bridge, 3);
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);
  auto opened = admitted.Next();
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(opened->has_opened());
  EXPECT_TRUE(readers.back()->Next().has_value());
}

// 64 KiB browser messages against a 256 KiB history: the count (100,000) would keep them all.
TEST(EventsIsolationTest, TheHistoryIsBoundedInBytesAndOlderResumesAreOutOfRange) {
  TestBridge bridge([](Config& config) {
    config.events.history = 100000;
    config.events.history_bytes = 256 << 10;
  });
  EventsReader witness(bridge.api(), v1::EventsRequest());
  AwaitSubscribers(bridge, 1);
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);
  constexpr int kMessages = 40;
  for (int i = 0; i < kMessages; ++i) browser->SendBinary(std::string(64 << 10, 'a' + i % 26));
  auto events =
      witness.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 1 + kMessages; });
  ASSERT_EQ(events.size(), 1u + kMessages);

  const EventBus::Usage usage = bridge.server().events().usage();
  EXPECT_LE(usage.history_bytes, uint64_t{256} << 10);
  EXPECT_EQ(usage.history_events, 3u) << "three 64 KiB events fit in 256 KiB, four do not";

  v1::EventsRequest from_the_start;
  from_the_start.set_start_after_sequence(events[0].sequence());
  EventsReader gone(bridge.api(), from_the_start);
  auto status = gone.WaitEnded();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status->error_message(), HasSubstr("bytes"));

  v1::EventsRequest recent;
  recent.set_start_after_sequence(events[events.size() - 3].sequence());
  EventsReader resumed(bridge.api(), recent);
  auto replayed = resumed.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 2; });
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed[0].sequence(), events[events.size() - 2].sequence());
  EXPECT_EQ(replayed[1].sequence(), events.back().sequence());
  EXPECT_EQ(replayed[1].message().message().binary(), events.back().message().message().binary());
}

}  // namespace
}  // namespace wsbridge::testing
