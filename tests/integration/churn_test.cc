// Churn: 2,000 browsers open and close concurrently (closing themselves, vanishing, or being
// disconnected) while Pushes and Broadcasts run and an Events stream reads. Afterwards every
// session had exactly one `opened` and one `closed`, in that order, and no session is left.
// Under ASan (CI's second pass) this also shows nothing leaks.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "support/events_reader.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

// One short-lived browser on a shared io_context: connect, upgrade, read for a while, then
// close, vanish, or wait to be disconnected.
class ChurnBrowser : public std::enable_shared_from_this<ChurnBrowser> {
 public:
  enum class Ending { kCloses, kVanishes, kWaits };

  ChurnBrowser(asio::io_context& io, uint16_t port, Ending ending, int linger_ms,
               std::function<void(std::string)> on_session)
      : ws_(io),
        timer_(io),
        port_(port),
        ending_(ending),
        linger_ms_(linger_ms),
        on_session_(std::move(on_session)) {}

  void Start() {
    beast::get_lowest_layer(ws_).async_connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_),
        [self = shared_from_this()](beast::error_code ec) {
          if (ec) return;
          self->ws_.async_handshake(self->response_, "127.0.0.1", "/ws?topics=lobby",
                                    [self](beast::error_code ec2) { self->OnUpgraded(ec2); });
        });
  }

 private:
  void OnUpgraded(beast::error_code ec) {
    if (ec) return;
    on_session_(std::string(response_["X-Wsbridge-Session-Id"]));
    Read();
    timer_.expires_after(std::chrono::milliseconds(linger_ms_));
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->End(); });
  }

  void Read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->timer_.cancel();
        return;
      }
      self->buffer_.consume(self->buffer_.size());
      self->Read();
    });
  }

  void End() {
    if (ending_ == Ending::kCloses) {
      ws_.async_close(websocket::close_code::normal,
                      [self = shared_from_this()](beast::error_code) {});
    } else if (ending_ == Ending::kVanishes) {
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).socket().close(ignored);
    }
    // kWaits: the pusher thread's Disconnect ends it.
  }

  websocket::stream<beast::tcp_stream> ws_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  websocket::response_type response_;
  uint16_t port_;
  Ending ending_;
  int linger_ms_;
  std::function<void(std::string)> on_session_;
};

TEST(ChurnTest, TwoThousandSessionsOpenAndCloseWhileCallsAndEventsFlow) {
  TestBridge bridge([](Config& config) { config.session.close_timeout = absl::Seconds(2); });
  EventsReader events(bridge.api(), v1::EventsRequest());
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));

  constexpr int kBrowsers = 2000;
  std::mutex ids_mutex;
  std::set<std::string> session_ids;
  asio::io_context io;
  std::mt19937 random(42);
  for (int i = 0; i < kBrowsers; ++i) {
    const auto ending = static_cast<ChurnBrowser::Ending>(i % 3);
    std::make_shared<ChurnBrowser>(io, bridge.ws_port(), ending, static_cast<int>(random() % 200),
                                   [&](std::string id) {
                                     std::lock_guard<std::mutex> lock(ids_mutex);
                                     session_ids.insert(std::move(id));
                                   })
        ->Start();
  }

  // Calls from the backend while the browsers come and go.
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::thread backend([&] {
    auto stub = v1::Bridge::NewStub(bridge.channel());
    while (!stop.load()) {
      v1::BroadcastRequest broadcast;
      broadcast.add_topics("lobby");
      broadcast.mutable_message()->set_text("tick");
      v1::BroadcastResponse broadcasted;
      EXPECT_TRUE(stub->Broadcast(CallContext().get(), broadcast, &broadcasted).ok());

      v1::ListSessionsRequest list;
      list.set_page_size(50);
      v1::ListSessionsResponse listed;
      EXPECT_TRUE(stub->ListSessions(CallContext().get(), list, &listed).ok());
      v1::PushRequest push;
      v1::DisconnectRequest disconnect;
      for (const auto& session : listed.sessions()) {
        push.add_session_ids(session.session_id());
        disconnect.add_session_ids(session.session_id());
      }
      if (push.session_ids_size() > 0) {
        push.mutable_message()->set_binary("p");
        v1::PushResponse pushed;
        EXPECT_TRUE(stub->Push(CallContext().get(), push, &pushed).ok());
        v1::DisconnectResponse disconnected;
        EXPECT_TRUE(stub->Disconnect(CallContext().get(), disconnect, &disconnected).ok());
      }
      calls += 3;
    }
  });
  std::thread io_thread([&] { io.run_for(std::chrono::seconds(60)); });
  io_thread.join();
  // Everything the browsers did is over; let the backend see an empty node, then stop it.
  v1::ListSessionsRequest list;
  EXPECT_TRUE(Eventually(
      [&] {
        v1::ListSessionsResponse listed;
        return bridge.api().ListSessions(CallContext().get(), list, &listed).ok() &&
               listed.sessions().empty();
      },
      absl::Seconds(20)))
      << "sessions left after churn";
  stop = true;
  backend.join();
  EXPECT_GT(calls.load(), 0);
  ASSERT_GT(session_ids.size(), kBrowsers * 9u / 10) << "most browsers should have connected";

  // Every session: exactly one opened, then exactly one closed.
  std::map<std::string, std::pair<int, int>> counts;
  std::map<std::string, uint64_t> opened_at;
  size_t closed_total = 0;
  uint64_t last_sequence = 0;
  while (closed_total < session_ids.size()) {
    auto event = events.Next(absl::Seconds(10));
    ASSERT_TRUE(event.has_value()) << "events stopped after " << closed_total << " closed";
    EXPECT_GT(event->sequence(), last_sequence);
    last_sequence = event->sequence();
    if (event->has_opened()) {
      ++counts[event->session_id()].first;
      opened_at[event->session_id()] = event->sequence();
    }
    if (event->has_closed()) {
      ++counts[event->session_id()].second;
      ++closed_total;
      EXPECT_TRUE(opened_at.contains(event->session_id())) << "closed before opened";
    }
  }
  EXPECT_FALSE(events.Next(absl::Milliseconds(300)).has_value()) << "events after the last close";
  EXPECT_EQ(counts.size(), session_ids.size());
  for (const std::string& id : session_ids) {
    EXPECT_EQ(counts[id].first, 1) << id;
    EXPECT_EQ(counts[id].second, 1) << id;
  }
}

}  // namespace
}  // namespace wsbridge::testing
