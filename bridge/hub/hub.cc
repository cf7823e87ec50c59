#include "hub/hub.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace wsbridge {
namespace {

SessionView ViewOf(const RoutingIndex::Entry& entry) {
  return SessionView{entry.info, entry.topics, entry.endpoint->Counters()};
}

// The rendezvous of one ListSessions: every shard arrives after copying its part; the last one
// reads the event sequence while the others wait, then releases them. A shard that waited out
// its patience abandons the cut (the page gets no sequence) and later arrivals do not wait.
class ListCut {
 public:
  ListCut(size_t shards, std::function<uint64_t()> sequence)
      : remaining_(shards), sequence_source_(std::move(sequence)) {}

  // Called once per shard on its I/O thread, after the shard copied its part.
  void ArriveAndWait(absl::Duration patience) {
    absl::MutexLock lock(&mutex_);
    if (--remaining_ == 0) {
      if (!abandoned_) sequence_ = sequence_source_ ? sequence_source_() : 0;
      return;
    }
    if (abandoned_) return;
    auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return remaining_ == 0 || abandoned_;
    };
    if (!mutex_.AwaitWithTimeout(absl::Condition(&released), patience)) abandoned_ = true;
  }

  // After every shard arrived: the sequence of the cut, 0 if it was abandoned.
  uint64_t sequence() const {
    absl::MutexLock lock(&mutex_);
    return abandoned_ ? 0 : sequence_;
  }

 private:
  mutable absl::Mutex mutex_;
  size_t remaining_ ABSL_GUARDED_BY(mutex_);
  bool abandoned_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t sequence_ ABSL_GUARDED_BY(mutex_) = 0;
  const std::function<uint64_t()> sequence_source_;
};

// What one shard did with one delivery.
struct DeliveryPartial {
  uint32_t matched = 0, queued = 0, dropped = 0;
  std::vector<bool> found_named;  // [k]: targets.selector.session_ids[k] lives on this shard
};

// Resolves `targets` in `index` and queues `payload` on each session found. On the shard's
// thread; `scratch` is the shard's reusable resolution buffer.
DeliveryPartial DeliverOnShard(RoutingIndex& index, std::vector<RoutingIndex::Entry*>& scratch,
                               const DeliveryTargets& targets, const PayloadPtr& payload) {
  DeliveryPartial partial;
  partial.found_named.assign(targets.selector.session_ids.size(), false);
  scratch.clear();
  index.Resolve(targets, &partial.found_named, scratch);
  for (RoutingIndex::Entry* entry : scratch) {
    ++partial.matched;
    if (entry->endpoint->Deliver(payload) == DeliveryOutcome::kQueued) {
      ++partial.queued;
    } else {
      ++partial.dropped;
    }
  }
  scratch.clear();
  return partial;
}

// The counts of one delivery, summed over the shards' partials.
class DeliveryTally {
 public:
  explicit DeliveryTally(const DeliveryTargets& targets)
      : targets_(targets), found_(targets.selector.session_ids.size(), false) {}

  void Add(const DeliveryPartial& p) {
    counts_.matched += p.matched;
    counts_.queued += p.queued;
    counts_.dropped += p.dropped;
    for (size_t i = 0; i < found_.size(); ++i) found_[i] = found_[i] || p.found_named[i];
  }

  DeliveryCounts Finish() && {
    const auto& named = targets_.selector.session_ids;
    for (size_t i = 0; i < named.size(); ++i) {
      if (!found_[i]) counts_.unknown_session_ids.push_back(named[i]);
    }
    return std::move(counts_);
  }

 private:
  const DeliveryTargets& targets_;
  std::vector<bool> found_;
  DeliveryCounts counts_;
};

bool UsersOnly(const DeliveryTargets& targets) {
  return targets.topics.empty() && !targets.all_sessions && targets.selector.session_ids.empty();
}

}  // namespace

Hub::Hub(std::vector<IoThread*> threads, size_t max_topics_per_session,
         const ConnectionLimiter& sessions)
    : scatter_(threads), max_topics_per_session_(max_topics_per_session), sessions_(sessions) {
  shards_.reserve(threads.size());
  for (IoThread* thread : threads) {
    shards_.push_back(std::make_unique<Shard>());
    shards_.back()->thread = thread;
  }
}

void Hub::SetObserver(HubObserver* observer) {
  for (size_t i = 0; i < shards_.size(); ++i) shards_[i]->index.SetObserver(observer, i);
}

void Hub::SetEventSequence(std::function<uint64_t()> source) {
  event_sequence_ = std::move(source);
}

bool Hub::Register(size_t i, SessionInfo info, std::vector<std::string> topics,
                   SessionEndpoint* endpoint) {
  WSBRIDGE_ASSERT_ON(*shards_[i]->thread);
  Shard& shard = *shards_[i];
  // A handshake that passed the draining check before the drain began ends here after it:
  // the drain closes this session too.
  std::string id = info.id;
  if (!shard.index.Add(std::move(info), std::move(topics), endpoint)) return false;
  if (shard.drain_pending.has_value()) shard.drain_pending->push_back(std::move(id));
  return true;
}

bool Hub::Unregister(size_t i, absl::string_view session_id) {
  WSBRIDGE_ASSERT_ON(*shards_[i]->thread);
  return shards_[i]->index.Remove(session_id);
}

template <class Partial, class Work, class Done>
void Hub::OnShards(std::vector<size_t> shard_indices, Work work, Done done) {
  scatter_.Run<Partial>(
      std::move(shard_indices),
      [this, work = std::move(work)](size_t i) {
        Shard& shard = *shards_[i];
        WSBRIDGE_ASSERT_ON(*shard.thread);
        return work(shard);
      },
      std::move(done));
}

template <class Partial, class Work, class Done>
void Hub::OnAllShards(Work work, Done done) {
  OnShards<Partial>(AllShards(), std::move(work), std::move(done));
}

std::vector<size_t> Hub::AllShards() const {
  std::vector<size_t> all(shards_.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

std::vector<size_t> Hub::ShardsFor(const DeliveryTargets& targets) const {
  // Addressed to users only: just the threads that hold them.
  if (UsersOnly(targets)) return sessions_.ThreadsOf(targets.selector.user_ids);
  return AllShards();
}

void Hub::Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload,
                  DeliveryDone done) {
  OnShards<DeliveryPartial>(
      ShardsFor(*targets),
      [targets, payload = std::move(payload)](Shard& shard) {
        return DeliverOnShard(shard.index, shard.scratch, *targets, payload);
      },
      [targets, done = std::move(done)](std::vector<DeliveryPartial> partials) {
        DeliveryTally tally(*targets);
        for (const DeliveryPartial& p : partials) tally.Add(p);
        done(std::move(tally).Finish());
      });
}

void Hub::DeliverBatch(std::shared_ptr<const std::vector<DeliveryItem>> items, BatchDone done) {
  // The union of the shards the items need.
  std::vector<bool> needed(shards_.size(), false);
  size_t needed_count = 0;
  for (const DeliveryItem& item : *items) {
    for (size_t i : ShardsFor(*item.targets)) {
      if (needed[i]) continue;
      needed[i] = true;
      ++needed_count;
    }
    if (needed_count == shards_.size()) break;
  }
  std::vector<size_t> shard_indices;
  for (size_t i = 0; i < needed.size(); ++i) {
    if (needed[i]) shard_indices.push_back(i);
  }
  OnShards<std::vector<DeliveryPartial>>(
      std::move(shard_indices),
      [items](Shard& shard) {
        std::vector<DeliveryPartial> partials;
        partials.reserve(items->size());
        for (const DeliveryItem& item : *items) {
          partials.push_back(
              DeliverOnShard(shard.index, shard.scratch, *item.targets, item.payload));
        }
        return partials;
      },
      [items, done = std::move(done)](std::vector<std::vector<DeliveryPartial>> partials) {
        std::vector<DeliveryCounts> counts;
        counts.reserve(items->size());
        for (size_t k = 0; k < items->size(); ++k) {
          DeliveryTally tally(*(*items)[k].targets);
          for (const auto& shard_partials : partials) tally.Add(shard_partials[k]);
          counts.push_back(std::move(tally).Finish());
        }
        done(std::move(counts));
      });
}

namespace {
auto SumCounts(CountDone done) {
  return [done = std::move(done)](std::vector<uint32_t> partials) {
    uint32_t total = 0;
    for (uint32_t p : partials) total += p;
    done(total);
  };
}
CountDone AsSessionCount(SessionCountDone done) {
  return [done = std::move(done)](uint32_t sessions) { done(SessionCount{sessions, {}}); };
}
}  // namespace

void Hub::Subscribe(std::shared_ptr<const SessionSelector> selector,
                    std::shared_ptr<const std::vector<std::string>> topics, SubscribeDone done) {
  OnAllShards<SubscribeCounts>(
      [selector, topics, max = max_topics_per_session_](Shard& shard) {
        return shard.index.Subscribe(*selector, *topics, max);
      },
      [done = std::move(done)](std::vector<SubscribeCounts> partials) {
        SubscribeCounts total;
        for (SubscribeCounts& p : partials) {
          total.subscribed += p.subscribed;
          if (p.refused == 0) continue;
          if (total.refused == 0 || p.refused_session_id < total.refused_session_id) {
            total.refused_session_id = std::move(p.refused_session_id);
            total.refused_session_topics = p.refused_session_topics;
            total.refused_session_would_have = p.refused_session_would_have;
            total.max_topics_per_session = p.max_topics_per_session;
          }
          total.refused += p.refused;
        }
        done(std::move(total));
      });
}

void Hub::Unsubscribe(std::shared_ptr<const SessionSelector> selector,
                      std::shared_ptr<const std::vector<std::string>> topics,
                      SessionCountDone done) {
  OnAllShards<uint32_t>(
      [selector, topics](Shard& shard) {
        return static_cast<uint32_t>(shard.index.Unsubscribe(*selector, *topics));
      },
      SumCounts(AsSessionCount(std::move(done))));
}

void Hub::Disconnect(std::shared_ptr<const SessionSelector> selector, uint16_t code,
                     std::string reason, SessionCountDone done) {
  OnAllShards<uint32_t>(
      [selector, code, reason = std::move(reason)](Shard& shard) {
        shard.scratch.clear();
        shard.index.Select(*selector, nullptr, shard.scratch);
        // Close() may unregister the session from the index synchronously: act on a copy.
        std::vector<RoutingIndex::Entry*> selected;
        selected.swap(shard.scratch);
        for (RoutingIndex::Entry* entry : selected) entry->endpoint->Close(code, reason);
        return static_cast<uint32_t>(selected.size());
      },
      SumCounts(AsSessionCount(std::move(done))));
}

void Hub::DisconnectAll(uint16_t code, std::string reason, CountDone done) {
  OnAllShards<uint32_t>(
      [code, reason = std::move(reason)](Shard& shard) {
        std::vector<RoutingIndex::Entry*> all;
        DeliveryTargets everyone;
        everyone.all_sessions = true;
        shard.index.Resolve(everyone, nullptr, all);
        for (RoutingIndex::Entry* entry : all) entry->endpoint->Close(code, reason);
        return static_cast<uint32_t>(all.size());
      },
      SumCounts(std::move(done)));
}

void Hub::CloseDrainStep(std::shared_ptr<const DrainSchedule> schedule, size_t step, uint16_t code,
                         std::string reason, CountDone done) {
  OnAllShards<uint32_t>(
      [schedule = std::move(schedule), step, code, reason = std::move(reason)](Shard& shard) {
        if (!shard.drain_pending.has_value()) {
          // The first step: every session here is pending from now on (Register adds the
          // ones whose handshake was already past the draining check).
          std::vector<RoutingIndex::Entry*> present;
          DeliveryTargets everyone;
          everyone.all_sessions = true;
          shard.index.Resolve(everyone, nullptr, present);
          shard.drain_pending.emplace();
          shard.drain_pending->reserve(present.size());
          for (const RoutingIndex::Entry* entry : present) {
            shard.drain_pending->push_back(entry->info.id);
          }
        }
        std::vector<std::string>& pending = *shard.drain_pending;
        const size_t share = schedule->ShareAt(step, pending.size());
        // Close() may unregister the session from the index synchronously: choose, then close.
        std::vector<SessionEndpoint*> chosen;
        for (size_t i = 0; i < share; ++i) {
          // A session gone on its own meanwhile counts towards the share: it needs no close.
          if (const RoutingIndex::Entry* entry = shard.index.Find(pending.back())) {
            chosen.push_back(entry->endpoint);
          }
          pending.pop_back();
        }
        for (SessionEndpoint* endpoint : chosen) endpoint->Close(code, reason);
        return static_cast<uint32_t>(chosen.size());
      },
      SumCounts(std::move(done)));
}

void Hub::GetSession(std::string session_id, SessionDone done) {
  OnAllShards<std::optional<SessionView>>(
      [session_id = std::move(session_id)](Shard& shard) -> std::optional<SessionView> {
        const RoutingIndex::Entry* entry = shard.index.Find(session_id);
        if (entry == nullptr) return std::nullopt;
        return ViewOf(*entry);
      },
      [done = std::move(done)](std::vector<std::optional<SessionView>> partials) {
        for (auto& p : partials) {
          if (p.has_value()) return done(SessionLookup{std::move(p), {}});
        }
        done(SessionLookup{});
      });
}

void Hub::CountersOf(std::shared_ptr<const std::vector<std::string>> session_ids,
                     CountersDone done) {
  OnAllShards<std::vector<HeldCounters>>(
      [session_ids = std::move(session_ids)](Shard& shard) {
        std::vector<HeldCounters> held;
        for (const std::string& id : *session_ids) {
          if (const RoutingIndex::Entry* entry = shard.index.Find(id)) {
            held.push_back(HeldCounters{id, entry->endpoint->Counters()});
          }
        }
        return held;
      },
      [done = std::move(done)](std::vector<std::vector<HeldCounters>> partials) {
        std::vector<HeldCounters> all;
        for (auto& p : partials) std::move(p.begin(), p.end(), std::back_inserter(all));
        done(std::move(all));
      });
}

void Hub::ListSessions(ListQuery query, PageDone done) {
  const size_t page_size = query.page_size;
  auto cut = std::make_shared<ListCut>(shards_.size(), event_sequence_);
  OnAllShards<std::vector<SessionView>>(
      [query = std::move(query), cut](Shard& shard) {
        // One more than a page: tells whether anything follows.
        auto entries =
            shard.index.ListAfter(query.after_id, query.user_id, query.topic, query.page_size + 1);
        std::vector<SessionView> views;
        views.reserve(entries.size());
        for (const RoutingIndex::Entry* entry : entries) views.push_back(ViewOf(*entry));
        cut->ArriveAndWait(kListCutPatience);
        return views;
      },
      [page_size, cut, done = std::move(done)](std::vector<std::vector<SessionView>> partials) {
        SessionPage page;
        page.sequence = cut->sequence();
        for (auto& p : partials) {
          std::move(p.begin(), p.end(), std::back_inserter(page.sessions));
        }
        std::sort(page.sessions.begin(), page.sessions.end(),
                  [](const SessionView& a, const SessionView& b) { return a.info.id < b.info.id; });
        if (page.sessions.size() > page_size) {
          page.sessions.resize(page_size);
          page.more = true;
        }
        done(std::move(page));
      });
}

}  // namespace wsbridge
