#include "cluster/group_assignment.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

namespace wsbridge::cluster {

uint64_t RendezvousWeight(absl::string_view session_id, absl::string_view member) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64 bits
  const auto mix = [&hash](absl::string_view bytes) {
    for (unsigned char c : bytes) {
      hash ^= c;
      hash *= 1099511628211ull;
    }
  };
  mix(session_id);
  mix(absl::string_view("\0", 1));  // "ab"+"c" and "a"+"bc" must differ
  mix(member);
  // splitmix64's finalizer: FNV alone leaves the high bits of similar inputs close.
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ull;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebull;
  hash ^= hash >> 31;
  return hash;
}

std::vector<GroupAssignment::Member> GroupAssignment::Apply(uint64_t position,
                                                            std::vector<Member> members_after) {
  std::sort(members_after.begin(), members_after.end(),
            [](const Member& a, const Member& b) { return a.id < b.id; });
  std::vector<Member> left;
  for (const Member& member : members()) {
    const bool stays = std::any_of(members_after.begin(), members_after.end(),
                                   [&member](const Member& m) { return m.id == member.id; });
    if (!stays) {
      left.push_back(member);
      left_.emplace(member.id, position);
    }
  }
  epochs_.push_back({position, std::move(members_after)});
  return left;
}

std::optional<std::string> GroupAssignment::Pick(const std::vector<const Member*>& candidates,
                                                 absl::string_view session_id) {
  const Member* best = nullptr;
  uint64_t best_weight = 0;
  for (const Member* member : candidates) {
    const uint64_t weight = RendezvousWeight(session_id, member->id);
    // Ties (never in practice) go to the smaller id, so every node breaks them alike.
    if (best == nullptr || weight > best_weight ||
        (weight == best_weight && member->id < best->id)) {
      best = member;
      best_weight = weight;
    }
  }
  if (best == nullptr) return std::nullopt;
  return best->id;
}

std::optional<std::string> GroupAssignment::OwnerAt(uint64_t position,
                                                    absl::string_view session_id) const {
  auto after = std::upper_bound(epochs_.begin(), epochs_.end(), position,
                                [](uint64_t p, const Epoch& epoch) { return p < epoch.from; });
  if (after == epochs_.begin()) return std::nullopt;
  auto epoch = after - 1;
  // Each step moves to a later epoch (the one a leave began), so this ends at the latest one,
  // whose members have not left.
  while (true) {
    std::vector<const Member*> candidates;
    uint64_t last_leave = 0;
    for (const Member& member : epoch->members) {
      auto left = left_.find(member.id);
      if (left == left_.end()) {
        candidates.push_back(&member);
      } else {
        last_leave = std::max(last_leave, left->second);
      }
    }
    if (!candidates.empty()) return Pick(candidates, session_id);
    if (last_leave == 0) return std::nullopt;  // nobody was a member at `position`
    epoch = std::upper_bound(epochs_.begin(), epochs_.end(), last_leave,
                             [](uint64_t p, const Epoch& e) { return p < e.from; }) -
            1;
  }
}

void GroupAssignment::ForgetBefore(uint64_t position) {
  // Keep the epoch that covers `position`: drop one only when its successor starts at or before.
  bool dropped = false;
  while (epochs_.size() > 1 && epochs_[1].from <= position) {
    epochs_.pop_front();
    dropped = true;
  }
  if (!dropped) return;
  std::set<std::string> named;
  for (const Epoch& epoch : epochs_) {
    for (const Member& member : epoch.members) named.insert(member.id);
  }
  for (auto it = left_.begin(); it != left_.end();) {
    it = named.contains(it->first) ? std::next(it) : left_.erase(it);
  }
}

const std::vector<GroupAssignment::Member>& GroupAssignment::members() const {
  static const std::vector<Member> kNone;
  return epochs_.empty() ? kNone : epochs_.back().members;
}

}  // namespace wsbridge::cluster
