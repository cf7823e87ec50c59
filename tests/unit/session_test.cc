// Session: one browser's connection, driven by hand. Each test connects a "browser" (a plain
// loopback socket in this process) to a Session whose thread loop the test runs itself, with a
// fake clock and a recording event sink; it then plays one way a connection ends, or lets fake
// time pass, and checks what the browser received and which events came out: exactly one
// `opened`, then exactly one `closed`, with the initiator a service would expect.
#include "ws/session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "events/session_event_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hub/connection_limiter.h"
#include "hub/hub.h"
#include "runtime/clock.h"
#include "runtime/io_thread.h"
#include "support/raw_frames.h"
#include "ws/liveness_sweeper.h"
#include "ws/session_context.h"

namespace wsbridge {
namespace {

namespace asio = boost::asio;
using std::chrono::seconds;
using testing::ClientFrame;
using testing::CloseBody;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::kClose;
using testing::kPing;
using testing::kText;

constexpr char kClientKey[] = "dGhlIHNhbXBsZSBub25jZQ==";

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  void Advance(std::chrono::steady_clock::duration d) { now_ += d; }

 private:
  TimePoint now_ = TimePoint(seconds(1000));
};

// Writes each report as one line: "opened", "message:<data>", "error:<code>:<detail>",
// "closed:<code>:<reason>:<initiator>".
class RecordingSink final : public SessionEventSink {
 public:
  void Opened(const SessionIdentity& session, std::string_view remote_address,
              std::span<const std::string> topics,
              const std::map<std::string, std::string>& metadata) override {
    log.push_back("opened");
    session_id.assign(session.session_id);
    opened_remote_address.assign(remote_address);
    opened_topics.assign(topics.begin(), topics.end());
    opened_metadata = metadata;
  }
  void Message(const SessionIdentity&, bool text, std::string_view data) override {
    log.push_back(std::string(text ? "text:" : "binary:") + std::string(data));
  }
  void Error(const SessionIdentity&, SessionErrorCode code, std::string detail) override {
    log.push_back("error:" + std::to_string(static_cast<int>(code)) + ":" + detail);
  }
  void Closed(const SessionIdentity&, uint16_t code, std::string_view reason,
              CloseInitiator initiator) override {
    static constexpr const char* kNames[] = {"client", "server", "transport"};
    log.push_back("closed:" + std::to_string(code) + ":" + std::string(reason) + ":" +
                  kNames[static_cast<int>(initiator)]);
    if (on_closed) on_closed();
  }

  int Count(std::string_view prefix) const {
    int n = 0;
    for (const std::string& line : log) n += line.starts_with(prefix) ? 1 : 0;
    return n;
  }

  std::vector<std::string> log;
  std::function<void()> on_closed;  // runs inside Closed()
  std::string session_id;
  std::string opened_remote_address;
  std::vector<std::string> opened_topics;
  std::map<std::string, std::string> opened_metadata;
};

// A close frame as the server sends it: unmasked.
std::string ServerClose(uint16_t code, std::string_view reason = "") {
  std::string frame = "\x88";
  frame.push_back(static_cast<char>(2 + reason.size()));
  return frame + CloseBody(code, reason);
}

// A pong as the server sends it (payload at most 125 bytes).
std::string ServerPong(std::string_view payload) {
  std::string frame = "\x8A";
  frame.push_back(static_cast<char>(payload.size()));
  return frame + std::string(payload);
}

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() {
    limits_.idle_timeout = absl::Seconds(60);
    limits_.ping_interval = absl::Seconds(25);
    limits_.write_timeout = absl::Seconds(10);
    limits_.close_timeout = absl::Seconds(30);  // real time: never reached by these tests
    thread_.PollOnCallingThread();  // the test's thread is the session's thread from here on
  }

  SessionContext& Context() {
    if (!context_) {
      context_ = std::make_unique<SessionContext>(SessionContext{
          .thread = thread_,
          .hub = hub_,
          .limiter = limiter_,
          .options = limits_,
          .events = sink_,
          .clock = clock_,
          .metrics = metrics_,
      });
    }
    return *context_;
  }

  // Connects the browser and opens a session for it; returns once the browser has the 101.
  std::shared_ptr<Session> Open(std::string id = "s1") {
    auto session = NewSession(std::move(id), {"news"});
    session->Accept(kClientKey, "");
    std::string response;
    RunUntil([&] {
      response += ReadBrowser();
      return response.find("\r\n\r\n") != std::string::npos;
    });
    EXPECT_THAT(response, HasSubstr("101 Switching Protocols"));
    return session;
  }

  // Connects a new browser (browser_) over loopback and makes a session of alice for it on the
  // thread, admitted as the handshake admits it, not yet accepted.
  std::shared_ptr<Session> NewSession(std::string id, std::vector<std::string> topics = {}) {
    auto acceptor = thread_.Make<asio::ip::tcp::acceptor>(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    browser_ = std::make_unique<asio::ip::tcp::socket>(thread_.Make<asio::ip::tcp::socket>());
    browser_->connect(acceptor.local_endpoint());
    asio::ip::tcp::socket server = acceptor.accept();
    server_fd_ = server.native_handle();               // the same descriptor inside the session
    server.set_option(asio::ip::tcp::no_delay(true));  // as the listener hands sockets over
    if (small_buffers_) {
      server.set_option(asio::socket_base::send_buffer_size(4096));
      browser_->set_option(asio::socket_base::receive_buffer_size(4096));
    }
    browser_->non_blocking(true);
    absl::StatusOr<SessionSlot> slot = limiter_.TryAdmit("alice", 0);
    EXPECT_TRUE(slot.ok());
    SessionInfo info;
    info.id = std::move(id);
    info.user_id = "alice";
    info.remote_address = "127.0.0.1:5555";
    info.metadata = {{"plan", "pro"}};
    return std::make_shared<Session>(ws::Transport(std::move(server)), Context(), std::move(*slot),
                                     std::move(info), std::move(topics));
  }

  // Runs the session's thread loop until `done` holds (or a generous real-time bound passes:
  // the loop only waits for loopback I/O, never for a timer).
  template <class Done>
  void RunUntil(Done done) {
    const auto give_up = std::chrono::steady_clock::now() + seconds(5);
    while (!done()) {
      ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "condition never held";
      thread_.PollOnCallingThread();
    }
  }

  void RunPending() {
    for (int i = 0; i < 3; ++i) {
      thread_.PollOnCallingThread();
    }
  }

  // What the browser can read now, without waiting.
  std::string ReadBrowser() {
    std::string got;
    char buffer[65536];
    for (;;) {
      boost::system::error_code ec;
      const size_t n = browser_->read_some(asio::buffer(buffer), ec);
      if (ec) break;
      got.append(buffer, n);
    }
    return got;
  }

  // Reads until the browser got `expected` bytes' worth, and returns what it got.
  std::string BrowserReceives(size_t expected) {
    std::string got;
    RunUntil([&] {
      got += ReadBrowser();
      return got.size() >= expected;
    });
    return got;
  }

  void BrowserSends(const std::string& bytes) { asio::write(*browser_, asio::buffer(bytes)); }

  void ExpectOpenedThenOneClosed(const std::string& closed) {
    ASSERT_FALSE(sink_.log.empty());
    EXPECT_EQ(sink_.log.front(), "opened");
    EXPECT_EQ(sink_.log.back(), closed);
    EXPECT_EQ(sink_.Count("opened"), 1);
    EXPECT_EQ(sink_.Count("closed:"), 1);
    EXPECT_EQ(limiter_.sessions(), 0u) << "the connection slot was not given back";
    EXPECT_EQ(hub_.shard(0).size(), 0u) << "still registered";
    EXPECT_THAT(Context().live_sessions, IsEmpty());
  }

  bool Closed() const { return sink_.Count("closed:") > 0; }

  // Declared first: sessions still held by the loop's handlers give their slots back when the
  // thread (below) goes.
  ConnectionLimiter limiter_{1, 0, 0};
  IoThread thread_{0};  // never started: the test runs its loop
  Hub hub_{{&thread_}, 16, limiter_};
  SessionOptions limits_;
  RecordingSink sink_;
  FakeClock clock_;
  metrics::IoThreadMetrics metrics_;
  std::unique_ptr<SessionContext> context_;
  std::unique_ptr<asio::ip::tcp::socket> browser_;
  bool small_buffers_ = false;
  int server_fd_ = -1;
};

// --- Opened, then closed: one test per way a connection ends -----------------------------------

TEST_F(SessionTest, OpenedReportsTheSessionAsRegistered) {
  auto session = Open();
  EXPECT_THAT(sink_.log, ElementsAre("opened"));
  EXPECT_EQ(sink_.session_id, "s1");
  EXPECT_EQ(sink_.opened_remote_address, "127.0.0.1:5555");
  EXPECT_THAT(sink_.opened_topics, ElementsAre("news"));
  EXPECT_EQ(sink_.opened_metadata.at("plan"), "pro");
  EXPECT_EQ(hub_.shard(0).size(), 1u);
}

TEST_F(SessionTest, TheBrowsersCloseIsAnsweredAndReportedAsClient) {
  auto session = Open();
  BrowserSends(ClientFrame(kText, "hi") + ClientFrame(kClose, CloseBody(4001, "bye")));

  EXPECT_EQ(BrowserReceives(4), ServerClose(4001));
  RunUntil([&] { return Closed(); });

  EXPECT_THAT(sink_.log, ElementsAre("opened", "text:hi", "closed:4001:bye:client"));
  ExpectOpenedThenOneClosed("closed:4001:bye:client");
}

TEST_F(SessionTest, TheSlotComesBackOnlyAfterClosedIsReported) {
  // A drain waits for every slot to come back and then ends the Events streams: by then every
  // `closed` event must be in.
  auto session = Open();
  uint32_t sessions_when_closed = 0;
  sink_.on_closed = [&] { sessions_when_closed = limiter_.sessions(); };
  BrowserSends(ClientFrame(kClose, CloseBody(1000, "")));
  RunUntil([&] { return Closed(); });
  EXPECT_EQ(sessions_when_closed, 1u);
  EXPECT_EQ(limiter_.sessions(), 0u);
}

TEST_F(SessionTest, OurCloseAnsweredByTheBrowserIsReportedAsServer) {
  auto session = Open();
  session->Close(4000, "go away");
  EXPECT_EQ(BrowserReceives(11), ServerClose(4000, "go away"));

  // Deliveries after Close are refused: nothing may follow the close frame.
  EXPECT_EQ(session->Deliver(MakePayload(Payload::Kind::kText, "late")), DeliveryOutcome::kDropped);
  BrowserSends(ClientFrame(kClose, CloseBody(4000, "")));
  RunUntil([&] { return Closed(); });

  ExpectOpenedThenOneClosed("closed:4000:go away:server");
}

TEST_F(SessionTest, CloseFramesCrossingEachOtherEndAsServer) {
  auto session = Open();
  session->Close(4000, "bye");  // queued, not yet flushed: the loop has not run
  BrowserSends(ClientFrame(kClose, CloseBody(1000, "")));
  RunUntil([&] { return Closed(); });

  ExpectOpenedThenOneClosed("closed:4000:bye:server");
}

TEST_F(SessionTest, AProtocolErrorIsReportedThenClosesWith1002AsServer) {
  auto session = Open();
  BrowserSends("\x81\x02hi");  // unmasked: a protocol error
  EXPECT_EQ(BrowserReceives(2 + 2 + 14), ServerClose(1002, "protocol error"));
  // The server shut down its side; the browser closes the TCP connection.
  browser_->close();
  RunUntil([&] { return Closed(); });

  ASSERT_EQ(sink_.log.size(), 3u);
  EXPECT_THAT(sink_.log[1], HasSubstr("error:2:"));  // kProtocolError
  ExpectOpenedThenOneClosed("closed:1002:protocol error:server");
}

TEST_F(SessionTest, AProtocolErrorWhileOurCloseWaitsInTheQueueKeepsOurClose) {
  small_buffers_ = true;
  limits_.send_queue.max_bytes = 64 << 20;
  auto session = Open();
  // The browser reads nothing: our close frame stays behind a message that does not fit.
  ASSERT_EQ(session->Deliver(MakePayload(Payload::Kind::kBinary, std::string(8 << 20, 'x'))),
            DeliveryOutcome::kQueued);
  RunPending();
  session->Close(4000, "bye");
  RunPending();
  ASSERT_EQ(session->Counters().queued_messages, 2u);

  BrowserSends("\x81\x02hi");  // unmasked: a protocol error
  RunUntil([&] { return sink_.Count("error:") == 1; });
  browser_->close();
  RunUntil([&] { return Closed(); });

  EXPECT_THAT(sink_.log[1], HasSubstr("error:2:"));
  ExpectOpenedThenOneClosed("closed:4000:bye:server");
}

// --- Pongs around the close handshake (RFC 6455 5.5.1, 5.5.2) ------------------------------------

TEST_F(SessionTest, APingThatCameInTheSameReadAsTheBrowsersCloseIsAnsweredBeforeOurClose) {
  auto session = Open();
  BrowserSends(ClientFrame(kPing, "p1") + ClientFrame(kClose, CloseBody(1000, "")));

  EXPECT_EQ(BrowserReceives(4 + 4), ServerPong("p1") + ServerClose(1000));
  RunUntil([&] { return Closed(); });
  ExpectOpenedThenOneClosed("closed:1000::client");
}

TEST_F(SessionTest, APingWhileOurCloseWaitsInTheQueueIsAnsweredAheadOfOurClose) {
  limits_.send_queue.max_bytes = 64 << 20;
  auto session = Open();
  // The browser reads nothing yet: our close frame stays behind a message bigger than what the
  // loopback buffers take (the socket buffers are left at their size, so that the browser can
  // read it all quickly later).
  const PayloadPtr message = MakePayload(Payload::Kind::kBinary, std::string(32 << 20, 'x'));
  ASSERT_EQ(session->Deliver(message), DeliveryOutcome::kQueued);
  RunPending();
  session->Close(4000, "bye");
  RunPending();
  ASSERT_EQ(session->Counters().queued_messages, 2u);

  BrowserSends(ClientFrame(kPing, "still there?"));
  RunUntil([&] { return session->Counters().queued_messages == 3; });

  // The browser reads: the message, whole, then the pong, then our close.
  const std::string tail = ServerPong("still there?") + ServerClose(4000, "bye");
  const std::string received = BrowserReceives(message->wire_size() + tail.size());
  ASSERT_EQ(received.size(), message->wire_size() + tail.size());
  EXPECT_TRUE(received.starts_with(message->header()));
  EXPECT_EQ(received.substr(message->wire_size()), tail);
  BrowserSends(ClientFrame(kClose, CloseBody(4000, "")));
  RunUntil([&] { return Closed(); });
  ExpectOpenedThenOneClosed("closed:4000:bye:server");
}

TEST_F(SessionTest, APingAfterOurCloseIsOnTheWireGoesUnanswered) {
  // Nothing may follow our close frame (RFC 6455 5.5.1), so a ping that comes after it is read
  // but not answered; the browser's close still ends the handshake.
  auto session = Open();
  session->Close(4000, "bye");
  EXPECT_EQ(BrowserReceives(5), ServerClose(4000, "bye"));

  BrowserSends(ClientFrame(kPing, "late") + ClientFrame(kClose, CloseBody(4000, "")));
  RunUntil([&] { return Closed(); });

  EXPECT_EQ(ReadBrowser(), "");
  ExpectOpenedThenOneClosed("closed:4000:bye:server");
}

TEST_F(SessionTest, AFullSendQueueMakesASlowConsumerThatClosesWith1013) {
  small_buffers_ = true;
  limits_.send_queue.max_messages = 1;
  limits_.send_queue.max_bytes = 64 << 20;
  auto session = Open();
  ASSERT_EQ(session->Deliver(MakePayload(Payload::Kind::kBinary, std::string(8 << 20, 'x'))),
            DeliveryOutcome::kQueued);
  RunPending();

  EXPECT_EQ(session->Deliver(MakePayload(Payload::Kind::kText, "one too many")),
            DeliveryOutcome::kDropped);

  ASSERT_EQ(sink_.Count("error:0:"), 1);  // kSlowConsumer
  EXPECT_THAT(sink_.log[1], HasSubstr("send queue full"));
  browser_->close();
  RunUntil([&] { return Closed(); });
  ExpectOpenedThenOneClosed("closed:1013:slow consumer:server");
}

TEST_F(SessionTest, ACloseThatCameWithTheUpgradeRequestIsAnsweredAfterTheUpgrade) {
  auto session = NewSession("early");
  // The browser's first frames were read along with its request.
  session->Accept(kClientKey,
                  ClientFrame(kText, "early") + ClientFrame(kClose, CloseBody(1000, "")));
  RunUntil([&] { return Closed(); });

  const std::string received = ReadBrowser();
  EXPECT_THAT(received, HasSubstr("101 Switching Protocols"));
  EXPECT_TRUE(received.ends_with("\r\n\r\n" + ServerClose(1000))) << received;
  EXPECT_THAT(sink_.log, ElementsAre("opened", "text:early", "closed:1000::client"));
  ExpectOpenedThenOneClosed("closed:1000::client");
}

TEST_F(SessionTest, AFloodPastTheInboundRateIsReportedAndClosedWith1008) {
  limits_.client_messages_per_second = 2;
  limits_.client_messages_burst = 2;
  auto session = Open();

  // Three at the same instant: the third is over the rate.
  BrowserSends(ClientFrame(kText, "a") + ClientFrame(kText, "b") + ClientFrame(kText, "c"));
  EXPECT_EQ(BrowserReceives(2 + 2 + 12), ServerClose(1008, "rate limited"));
  BrowserSends(ClientFrame(kClose, CloseBody(1008, "")));
  RunUntil([&] { return Closed(); });

  ASSERT_EQ(sink_.log.size(), 5u);
  EXPECT_EQ(sink_.log[1], "text:a");
  EXPECT_EQ(sink_.log[2], "text:b");
  EXPECT_THAT(sink_.log[3], HasSubstr("error:3:"));  // kRateLimited; "c" is not forwarded
  ExpectOpenedThenOneClosed("closed:1008:rate limited:server");
}

TEST_F(SessionTest, AMessageAfterTheRateRefilledOnTheClockIsAccepted) {
  limits_.client_messages_per_second = 1;
  limits_.client_messages_burst = 1;
  auto session = Open();

  BrowserSends(ClientFrame(kText, "a"));
  RunUntil([&] { return sink_.Count("text:") == 1; });
  clock_.Advance(seconds(1));
  BrowserSends(ClientFrame(kText, "b"));
  RunUntil([&] { return sink_.Count("text:") == 2; });

  EXPECT_EQ(sink_.Count("error:"), 0);
  EXPECT_THAT(sink_.log, ElementsAre("opened", "text:a", "text:b"));
}

// --- Ping floods (RFC 6455 5.5.3) ---------------------------------------------------------------

TEST_F(SessionTest, APingFloodFromABrowserThatDoesNotReadHoldsOnlyOnePong) {
  limits_.client_messages_per_second = 0;  // the rate limit is not what bounds this
  limits_.send_queue.max_bytes = 64 << 20;
  auto session = Open();
  // The browser reads nothing yet: a message bigger than the loopback buffers take blocks the
  // socket, so pongs cannot leave. (The buffers keep their size, so that the browser can read it
  // all quickly later.)
  const PayloadPtr message = MakePayload(Payload::Kind::kBinary, std::string(32 << 20, 'x'));
  ASSERT_EQ(session->Deliver(message), DeliveryOutcome::kQueued);
  RunPending();

  constexpr int kPings = 20000;
  for (int batch = 0; batch < kPings / 100; ++batch) {
    std::string pings;
    for (int i = batch * 100; i < (batch + 1) * 100; ++i) {
      pings += ClientFrame(kPing, "p" + std::to_string(i));
    }
    BrowserSends(pings);
    RunPending();
  }
  BrowserSends(ClientFrame(kText, "done"));
  RunUntil([&] { return sink_.Count("text:done") == 1; });

  // The message and one pong, answering the newest ping.
  const std::string last = "p" + std::to_string(kPings - 1);
  EXPECT_EQ(session->Counters().queued_messages, 2u);
  EXPECT_EQ(session->Counters().queued_bytes, message->bytes.size() + last.size());

  const std::string received = BrowserReceives(message->wire_size() + 2 + last.size());
  EXPECT_EQ(received.substr(message->wire_size()), ServerPong(last));
  EXPECT_EQ(session->Counters().queued_messages, 0u);
  EXPECT_EQ(sink_.Count("error:"), 0);
}

TEST_F(SessionTest, PingsTakeTokensOfTheInboundRateLikeMessages) {
  limits_.client_messages_per_second = 2;
  limits_.client_messages_burst = 2;
  auto session = Open();

  // Three pings at the same instant: the third is over the rate. The pong owed still goes out
  // ahead of our close, answering the newest ping (the earlier pongs were not started).
  BrowserSends(ClientFrame(kPing, "a") + ClientFrame(kPing, "b") + ClientFrame(kPing, "c"));
  EXPECT_EQ(BrowserReceives(3 + 2 + 2 + 12), ServerPong("c") + ServerClose(1008, "rate limited"));
  BrowserSends(ClientFrame(kClose, CloseBody(1008, "")));
  RunUntil([&] { return Closed(); });

  ASSERT_EQ(sink_.log.size(), 3u);
  EXPECT_THAT(sink_.log[1], HasSubstr("error:3:"));  // kRateLimited
  EXPECT_THAT(sink_.log[1], HasSubstr("messages and pings per second"));
  ExpectOpenedThenOneClosed("closed:1008:rate limited:server");
}

TEST_F(SessionTest, ASessionOverItsQueueLimitsReadsNothingUntilTheBrowserTakesSome) {
  limits_.send_queue.max_messages = 2;
  limits_.send_queue.max_bytes = 64 << 20;
  auto session = Open();
  // As above: the browser reads nothing yet and the big message blocks the socket.
  const PayloadPtr big = MakePayload(Payload::Kind::kBinary, std::string(32 << 20, 'x'));
  const PayloadPtr small = MakePayload(Payload::Kind::kText, "m2");
  ASSERT_EQ(session->Deliver(big), DeliveryOutcome::kQueued);
  ASSERT_EQ(session->Deliver(small), DeliveryOutcome::kQueued);
  RunPending();

  // The pong goes on top of the full queue: over its limits, the session stops reading.
  BrowserSends(ClientFrame(kPing, "p"));
  RunUntil([&] { return session->Counters().queued_messages == 3; });
  BrowserSends(ClientFrame(kText, "while paused"));
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) thread_.PollOnCallingThread();
  EXPECT_EQ(sink_.Count("text:"), 0) << "read while the queue was over its limits";

  // The browser takes what waits: reading resumes and the message is forwarded.
  const std::string received = BrowserReceives(big->wire_size() + small->wire_size() + 3);
  EXPECT_EQ(received.substr(big->wire_size()),
            std::string(small->header()) + "m2" + ServerPong("p"));
  RunUntil([&] { return sink_.Count("text:while paused") == 1; });
  EXPECT_EQ(sink_.Count("error:"), 0);
}

TEST_F(SessionTest, OurCloseUnansweredPastTheCloseDeadlineEndsAsServer) {
  limits_.close_timeout = absl::Milliseconds(1);  // a real timer: the loop waits for it
  auto session = Open();
  session->Close(4000, "bye");
  EXPECT_EQ(BrowserReceives(5), ServerClose(4000, "bye"));

  RunUntil([&] { return Closed(); });  // the browser never answers

  ExpectOpenedThenOneClosed("closed:4000:bye:server");
}

TEST_F(SessionTest, ALostConnectionIsReportedAsTransport) {
  auto session = Open();
  browser_->close();
  RunUntil([&] { return Closed(); });

  ASSERT_EQ(sink_.log.size(), 2u);
  EXPECT_THAT(sink_.log.back(), HasSubstr("closed:1006:"));
  EXPECT_THAT(sink_.log.back(), HasSubstr(":transport"));
  ExpectOpenedThenOneClosed(sink_.log.back());
}

TEST_F(SessionTest, ASessionWhoseIdIsTakenEndsWithoutAnyEvent) {
  auto first = Open("same");
  sink_.log.clear();
  auto browser_of_first = std::move(browser_);

  auto second = NewSession("same");
  second->Accept(kClientKey, "");
  RunPending();

  EXPECT_THAT(sink_.log, IsEmpty());
  EXPECT_EQ(limiter_.sessions(), 1u);  // the second slot was given back
  EXPECT_EQ(hub_.shard(0).size(), 1u);
}

// --- Liveness, on a fake clock -------------------------------------------------------------------

TEST_F(SessionTest, ASilentBrowserIsPingedAfterThePingInterval) {
  auto session = Open();
  auto sweeper = std::make_shared<LivenessSweeper>(Context());

  clock_.Advance(seconds(24));
  sweeper->Sweep();
  RunPending();
  EXPECT_EQ(ReadBrowser(), "");

  clock_.Advance(seconds(1));
  sweeper->Sweep();
  EXPECT_EQ(BrowserReceives(2), std::string("\x89\x00", 2));

  // Not again until another interval has passed.
  clock_.Advance(seconds(10));
  sweeper->Sweep();
  RunPending();
  EXPECT_EQ(ReadBrowser(), "");
}

TEST_F(SessionTest, ASilentBrowserGetsOnePingPerIntervalHoweverOftenTheSweepRuns) {
  limits_.idle_timeout = absl::ZeroDuration();  // never dropped: only pings are counted
  auto session = Open();
  auto sweeper = std::make_shared<LivenessSweeper>(Context());
  // Five intervals of silence, swept every second: five pings, not one per sweep.
  std::string pings;
  for (int second = 1; second <= 5 * 25; ++second) {
    clock_.Advance(seconds(1));
    sweeper->Sweep();
    RunPending();
    pings += ReadBrowser();
  }
  if (pings.size() < 10) pings += BrowserReceives(10 - pings.size());
  EXPECT_EQ(pings, std::string("\x89\x00\x89\x00\x89\x00\x89\x00\x89\x00", 10));
}

TEST_F(SessionTest, NoPingsWhenThePingIntervalIsZero) {
  limits_.ping_interval = absl::ZeroDuration();
  limits_.idle_timeout = absl::ZeroDuration();
  auto session = Open();
  auto sweeper = std::make_shared<LivenessSweeper>(Context());
  for (int hour = 0; hour < 3; ++hour) {
    clock_.Advance(std::chrono::hours(1));
    sweeper->Sweep();
    RunPending();
  }
  EXPECT_EQ(ReadBrowser(), "");
  EXPECT_THAT(sink_.log, ElementsAre("opened"));  // still open, nothing reported
}

TEST_F(SessionTest, ABrowserHeardRecentlyIsNotPinged) {
  auto session = Open();
  auto sweeper = std::make_shared<LivenessSweeper>(Context());

  clock_.Advance(seconds(20));
  BrowserSends(ClientFrame(kText, "still here"));
  RunUntil([&] { return sink_.Count("text:") == 1; });
  clock_.Advance(seconds(10));  // 30 s since open, 10 s since heard
  sweeper->Sweep();
  RunPending();
  EXPECT_EQ(ReadBrowser(), "");

  clock_.Advance(seconds(15));  // 25 s since heard
  sweeper->Sweep();
  EXPECT_EQ(BrowserReceives(2), std::string("\x89\x00", 2));
}

TEST_F(SessionTest, ABrowserSilentPastTheIdleTimeoutIsDroppedAsTransport) {
  auto session = Open();
  auto sweeper = std::make_shared<LivenessSweeper>(Context());

  clock_.Advance(seconds(59));
  sweeper->Sweep();
  RunPending();
  EXPECT_FALSE(Closed());

  clock_.Advance(seconds(1));
  sweeper->Sweep();
  RunUntil([&] { return Closed(); });

  ExpectOpenedThenOneClosed(sink_.log.back());
  EXPECT_THAT(sink_.log.back(), HasSubstr("closed:1006:"));
  EXPECT_THAT(sink_.log.back(), HasSubstr(":transport"));
}

TEST_F(SessionTest, ABrowserInTheMiddleOfALargeFrameIsNotIdle) {
  auto session = Open();
  auto sweeper = std::make_shared<LivenessSweeper>(Context());
  const std::string frame = ClientFrame(kText, std::string(1000, 'x'));

  // Half a frame 50 s after the open: heard, though no frame is complete yet.
  clock_.Advance(seconds(50));
  BrowserSends(frame.substr(0, 500));
  RunPending();
  clock_.Advance(seconds(50));  // 100 s after the open, 50 s after the last bytes
  sweeper->Sweep();
  RunPending();
  EXPECT_FALSE(Closed());

  BrowserSends(frame.substr(500));
  RunUntil([&] { return sink_.Count("text:") == 1; });
  EXPECT_FALSE(Closed());
}

TEST_F(SessionTest, AWriteStalledPastTheWriteTimeoutClosesAsSlowConsumer) {
  small_buffers_ = true;
  limits_.send_queue.max_bytes = 64 << 20;
  auto session = Open();
  auto sweeper = std::make_shared<LivenessSweeper>(Context());
  // The browser reads nothing: a big message fills the socket and the write stalls.
  ASSERT_EQ(session->Deliver(MakePayload(Payload::Kind::kBinary, std::string(8 << 20, 'x'))),
            DeliveryOutcome::kQueued);
  for (int i = 0; i < 10; ++i) RunPending();
  ASSERT_EQ(session->Counters().queued_messages, 1u);

  clock_.Advance(seconds(9));
  sweeper->Sweep();
  RunPending();
  EXPECT_EQ(sink_.Count("error:"), 0);

  clock_.Advance(seconds(1));
  sweeper->Sweep();
  ASSERT_EQ(sink_.Count("error:0:"), 1);  // kSlowConsumer
  EXPECT_EQ(session->Deliver(MakePayload(Payload::Kind::kText, "late")), DeliveryOutcome::kDropped);

  browser_->close();
  RunUntil([&] { return Closed(); });
  ExpectOpenedThenOneClosed("closed:1013:slow consumer:server");
}

// --- Coalescing of streams (ws/stream_coalescing.h) ---------------------------------------------

class CoalescingTest : public SessionTest {
 protected:
  // Whether the session's socket sends every frame at once (TCP_NODELAY), read off the socket.
  bool SendsAtOnce() {
    int nodelay = -1;
    socklen_t length = sizeof nodelay;
    EXPECT_EQ(::getsockopt(server_fd_, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length), 0);
    return nodelay != 0;
  }

  // Delivers a one-letter text message and lets the session write it.
  void DeliverAndWrite(Session& session, char letter) {
    ASSERT_EQ(session.Deliver(MakePayload(Payload::Kind::kText, std::string(1, letter))),
              DeliveryOutcome::kQueued);
    RunPending();
  }
};

TEST_F(CoalescingTest, AStreamLetsTheKernelCoalesceUntilItPauses) {
  limits_.coalesce_gap = absl::Milliseconds(50);
  auto session = Open();
  EXPECT_TRUE(SendsAtOnce());
  DeliverAndWrite(*session, 'a');
  clock_.Advance(std::chrono::milliseconds(10));
  DeliverAndWrite(*session, 'b');
  EXPECT_FALSE(SendsAtOnce()) << "messages 10 ms apart are a stream";
  EXPECT_EQ(Context().coalescing.watched(), 1u);
  EXPECT_EQ(BrowserReceives(6),
            "\x81\x01"
            "a"
            "\x81\x01"
            "b");

  clock_.Advance(std::chrono::milliseconds(20));
  Context().coalescing.Sweep();
  EXPECT_FALSE(SendsAtOnce()) << "20 ms after the last message the stream goes on";
  EXPECT_EQ(Context().coalescing.watched(), 1u);

  clock_.Advance(std::chrono::milliseconds(40));
  Context().coalescing.Sweep();
  EXPECT_TRUE(SendsAtOnce()) << "after a pause of the gap, frames leave at once again";
  EXPECT_EQ(Context().coalescing.watched(), 0u);
}

TEST_F(CoalescingTest, AMessageAfterAPauseLeavesAtOnce) {
  auto session = Open();
  DeliverAndWrite(*session, 'a');
  clock_.Advance(std::chrono::milliseconds(1));
  DeliverAndWrite(*session, 'b');
  ASSERT_FALSE(SendsAtOnce());
  clock_.Advance(std::chrono::milliseconds(80));
  DeliverAndWrite(*session, 'c');
  EXPECT_TRUE(SendsAtOnce()) << "the first message after a pause is not held";
  EXPECT_EQ(BrowserReceives(9),
            "\x81\x01"
            "a"
            "\x81\x01"
            "b"
            "\x81\x01"
            "c");
}

TEST_F(CoalescingTest, SparseMessagesNeverCoalesce) {
  auto session = Open();
  for (char letter : std::string("abc")) {
    DeliverAndWrite(*session, letter);
    clock_.Advance(std::chrono::milliseconds(60));
  }
  EXPECT_TRUE(SendsAtOnce());
  EXPECT_EQ(Context().coalescing.watched(), 0u);
}

TEST_F(CoalescingTest, AZeroGapTurnsCoalescingOff) {
  limits_.coalesce_gap = absl::ZeroDuration();
  auto session = Open();
  for (char letter : std::string("abc")) DeliverAndWrite(*session, letter);
  EXPECT_TRUE(SendsAtOnce());
  EXPECT_EQ(Context().coalescing.watched(), 0u);
}

TEST_F(CoalescingTest, AClosingSessionSendsItsCloseFrameAtOnce) {
  auto session = Open();
  DeliverAndWrite(*session, 'a');
  DeliverAndWrite(*session, 'b');
  ASSERT_FALSE(SendsAtOnce());
  session->Close(1000, "bye");
  EXPECT_TRUE(SendsAtOnce()) << "the close frame must not wait for coalescing";
  RunPending();
  Context().coalescing.Sweep();
  EXPECT_EQ(Context().coalescing.watched(), 0u);
  BrowserSends(ClientFrame(kClose, CloseBody(1000, "")));
  RunUntil([&] { return Closed(); });
}

}  // namespace
}  // namespace wsbridge
