// GroupAssignment: which member of one Events group owns an event, as a function of the event's
// position in the cluster's event log and of the group's membership changes, which are entries of
// that same log (docs/cluster.md "ClusterEventFeed"). Every node applies the same changes at the
// same positions, so every node computes the same owner without asking anyone.
//
// The rule: the owner of an event at position p is, among the members of the group at p that
// have not left since, the one with the highest rendezvous weight for the event's session
// (RendezvousWeight: a hash that is the same in every process); when all of them have left, the
// owner is decided the same way at the position where the last of them left (the members just
// after that leave), and so on; nobody when the group had no members at p. So:
//   - while membership is unchanged, every event of a session has the same owner;
//   - a join moves only the sessions the newcomer wins, from its position on;
//   - a leave moves exactly the leaving member's events (past and future) to the member with the
//     next highest weight, and a second leave does the same again: what moved once can move
//     again, so a share that was replayed to a member that fails too is replayed once more.
// Positions before the first change this node has seen have no owner (nullopt): their events are
// older than anything the node can route.
//
// Bounded by what it is told to remember: ForgetBefore drops the membership of positions older
// than the history the node can still replay from.
//
// Thread-safety: none; a plain value owned by one thread (the Redis thread).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace wsbridge::cluster {

// The weight of `member` for `session_id`: FNV-1a of both, then a 64-bit finalizer. The same on
// every node and every run (absl::Hash is seeded per process, so it cannot be used here).
uint64_t RendezvousWeight(absl::string_view session_id, absl::string_view member);

class GroupAssignment {
 public:
  struct Member {
    std::string id;
    std::string node;
    bool operator==(const Member&) const = default;
  };

  // The membership after the change at `position` is `members_after` (a GroupChange's
  // `members`). Returns the members that left there. REQUIRES: positions increase.
  std::vector<Member> Apply(uint64_t position, std::vector<Member> members_after);

  // The member that owns an event of `session_id` at `position`, by the rule above; nullopt when
  // `position` is before the first change seen or nobody is a member.
  std::optional<std::string> OwnerAt(uint64_t position, absl::string_view session_id) const;

  // Forgets the membership of positions before `position` (the oldest one the caller may still
  // ask about).
  void ForgetBefore(uint64_t position);

  // The members now (empty before the first change).
  const std::vector<Member>& members() const;
  bool known() const { return !epochs_.empty(); }
  size_t epochs() const { return epochs_.size(); }

 private:
  struct Epoch {
    uint64_t from = 0;  // position of the change that began it
    std::vector<Member> members;
  };
  static std::optional<std::string> Pick(const std::vector<const Member*>& candidates,
                                         absl::string_view session_id);

  std::deque<Epoch> epochs_;              // by position
  std::map<std::string, uint64_t> left_;  // member -> where it left, while an epoch names it
};

}  // namespace wsbridge::cluster
