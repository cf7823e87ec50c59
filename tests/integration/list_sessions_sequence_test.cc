// ListSessions' `sequence` on a single node: under heavy churn of real WebSocket sessions, every
// page of every listing is a consistent cut of the event stream. A service that rebuilds the set
// of sessions from a listing's pages and the events after them (docs/cluster.md "Directory reads
// and the ListSessions sequence": an event counts only when its sequence is above the sequence
// of the page whose id range holds its session) sees no `closed` for a session it does not hold
// (a gap) and no `opened` for one it already holds (a double count), and ends with exactly the
// bridge's sessions.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/events_reader.h"
#include "support/test_bridge.h"
#include "support/ws_client.h"

namespace wsbridge::testing {
namespace {

struct Page {
  uint64_t sequence = 0;
  std::vector<std::string> ids;
};

// A listing: its pages in order (each page's range is above the previous page's last id).
using Listing = std::vector<Page>;

Listing ListAll(TestBridge& bridge, int page_size) {
  Listing pages;
  std::string token;
  do {
    v1::ListSessionsRequest request;
    request.set_page_size(page_size);
    request.set_page_token(token);
    v1::ListSessionsResponse response;
    grpc::Status status = bridge.api().ListSessions(CallContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) break;
    Page page;
    page.sequence = response.sequence();
    for (const v1::Session& s : response.sessions()) page.ids.push_back(s.session_id());
    pages.push_back(std::move(page));
    token = response.next_page_token();
  } while (!token.empty());
  return pages;
}

// The sequence of the page whose id range holds `id`.
uint64_t CutFor(const Listing& listing, const std::string& id) {
  for (size_t k = 0; k + 1 < listing.size(); ++k) {
    if (!listing[k].ids.empty() && id <= listing[k].ids.back()) return listing[k].sequence;
  }
  return listing.back().sequence;
}

// Rebuilds the set of sessions from `listing` and `events` (every event after the listing's
// first page, in order), recording gaps and double counts.
std::set<std::string> Rebuild(const Listing& listing, const std::vector<v1::Event>& events,
                              std::vector<std::string>* problems) {
  std::set<std::string> sessions;
  for (const Page& page : listing) sessions.insert(page.ids.begin(), page.ids.end());
  for (const v1::Event& event : events) {
    if (event.sequence() <= CutFor(listing, event.session_id())) continue;
    if (event.has_opened() && !sessions.insert(event.session_id()).second) {
      problems->push_back("double count: opened " + event.session_id() + " at " +
                          std::to_string(event.sequence()) + " already listed");
    }
    if (event.has_closed() && sessions.erase(event.session_id()) == 0) {
      problems->push_back("gap: closed " + event.session_id() + " at " +
                          std::to_string(event.sequence()) + " not held");
    }
  }
  return sessions;
}

TEST(ListSessionsSequence, PagesAreConsistentCutsOfTheEventStreamUnderChurn) {
  TestBridge bridge([](Config& config) { config.listeners.io_threads = 4; });
  auto anchor = bridge.ConnectAnonymous();  // so the first page has events behind it
  ASSERT_TRUE(anchor);

  // Churn: each worker opens browsers and closes (or drops) random ones of its own.
  std::atomic<bool> stop{false};
  std::mutex kept_mutex;
  std::vector<std::unique_ptr<WsClient>> kept;  // still open at the end
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&bridge, &stop, &kept_mutex, &kept, w] {
      std::mt19937 random(w);
      std::vector<std::unique_ptr<WsClient>> held;
      while (!stop.load()) {
        if (held.size() < 12) {
          if (auto browser = bridge.ConnectAnonymous()) held.push_back(std::move(browser));
        }
        if (!held.empty() && random() % 2 == 0) {
          const size_t victim = random() % held.size();
          if (random() % 2 == 0) {
            held[victim]->Close(1000, "bye");
            held[victim]->WaitClosed(absl::Seconds(2));
          } else {
            held[victim]->Abort();
          }
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(victim));
        }
      }
      // What is still held stays open: the final listing must find it.
      std::lock_guard<std::mutex> lock(kept_mutex);
      for (auto& b : held) kept.push_back(std::move(b));
    });
  }

  std::vector<Listing> listings;
  while (listings.size() < 60) listings.push_back(ListAll(bridge, 3));
  stop = true;
  for (std::thread& t : workers) t.join();

  // Quiet now: wait until a listing stops changing, then take the final one in one page.
  Listing final_listing;
  for (int i = 0; i < 50; ++i) {
    final_listing = ListAll(bridge, 1000);
    absl::SleepFor(absl::Milliseconds(100));
    if (ListAll(bridge, 1000)[0].sequence == final_listing[0].sequence) break;
  }
  ASSERT_EQ(final_listing.size(), 1u);
  const std::set<std::string> real(final_listing[0].ids.begin(), final_listing[0].ids.end());

  uint64_t first = listings[0][0].sequence;
  ASSERT_GT(first, 0u);
  for (const Listing& l : listings) {
    for (const Page& p : l) first = std::min(first, p.sequence);
  }
  v1::EventsRequest request;
  request.set_start_after_sequence(first);
  EventsReader reader(bridge.api(), request);
  const uint64_t last = final_listing[0].sequence;
  std::vector<v1::Event> events = reader.ReadUntil(
      [last](const std::vector<v1::Event>& e) { return !e.empty() && e.back().sequence() >= last; },
      absl::Seconds(20));
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(events.back().sequence(), last);

  size_t churned = 0;
  for (const v1::Event& e : events) churned += e.has_opened() ? 1 : 0;
  EXPECT_GT(churned, 100u) << "not much churn: the test proves little";
  size_t pages = 0;
  for (size_t i = 0; i < listings.size(); ++i) {
    pages += listings[i].size();
    std::vector<std::string> problems;
    std::set<std::string> rebuilt = Rebuild(listings[i], events, &problems);
    EXPECT_TRUE(problems.empty()) << "listing " << i << ": " << problems.size()
                                  << " problems, first: " << problems.front();
    EXPECT_EQ(rebuilt, real) << "listing " << i;
  }
  EXPECT_GT(pages, listings.size()) << "every listing fit one page: paging untested";
}

}  // namespace
}  // namespace wsbridge::testing
