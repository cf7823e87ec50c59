// GroupAssignment: the owner of an event as a function of its position in the event log and of
// the group's membership changes at earlier positions. Every node computes it alone, so it must
// be a pure function of those changes: these tests replay small logs and check who owns what.
#include "cluster/group_assignment.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wsbridge::cluster {
namespace {

using Member = GroupAssignment::Member;

std::vector<Member> Members(std::vector<std::string> ids) {
  std::vector<Member> members;
  for (auto& id : ids) members.push_back({id, absl::StrCat("node-of-", id)});
  return members;
}

std::vector<std::string> Sessions(int n) {
  std::vector<std::string> sessions;
  for (int i = 0; i < n; ++i) sessions.push_back(absl::StrCat("session-", i));
  return sessions;
}

TEST(RendezvousWeightTest, IsTheSameFunctionEverywhereAndSeparatesItsTwoParts) {
  // Pinned: a node of another build or run must compute the same owner.
  EXPECT_EQ(RendezvousWeight("s", "m"), RendezvousWeight("s", "m"));
  EXPECT_NE(RendezvousWeight("ab", "c"), RendezvousWeight("a", "bc"));
  EXPECT_NE(RendezvousWeight("s", "m1"), RendezvousWeight("s", "m2"));
}

TEST(GroupAssignmentTest, BeforeAnyChangeNothingIsOwned) {
  GroupAssignment assignment;
  EXPECT_FALSE(assignment.known());
  EXPECT_EQ(assignment.OwnerAt(5, "s"), std::nullopt);
  assignment.Apply(10, Members({"a"}));
  EXPECT_EQ(assignment.OwnerAt(9, "s"), std::nullopt);
  EXPECT_EQ(assignment.OwnerAt(10, "s"), "a");
}

TEST(GroupAssignmentTest, EachSessionHasOneOwnerWhileMembershipIsUnchangedAndBothMembersGetSome) {
  GroupAssignment assignment;
  assignment.Apply(10, Members({"a", "b"}));
  std::map<std::string, int> owned;
  for (const auto& session : Sessions(100)) {
    const auto owner = assignment.OwnerAt(11, session);
    ASSERT_TRUE(owner.has_value());
    for (uint64_t position = 12; position < 20; ++position) {
      EXPECT_EQ(assignment.OwnerAt(position, session), owner);
    }
    ++owned[*owner];
  }
  EXPECT_GT(owned["a"], 20);
  EXPECT_GT(owned["b"], 20);
}

TEST(GroupAssignmentTest, AJoinMovesOnlyLaterEventsAndOnlyToTheNewcomer) {
  GroupAssignment assignment;
  assignment.Apply(10, Members({"a", "b"}));
  assignment.Apply(20, Members({"a", "b", "c"}));
  int moved = 0;
  for (const auto& session : Sessions(100)) {
    const auto before = assignment.OwnerAt(15, session);
    const auto after = assignment.OwnerAt(25, session);
    if (before != after) {
      EXPECT_EQ(after, "c");
      ++moved;
    }
  }
  EXPECT_GT(moved, 10);
}

TEST(GroupAssignmentTest, ALeaveMovesExactlyTheLeaversEventsPastAndFuture) {
  GroupAssignment assignment;
  assignment.Apply(10, Members({"a", "b", "c"}));
  std::map<std::string, std::optional<std::string>> before;
  for (const auto& session : Sessions(100)) before[session] = assignment.OwnerAt(15, session);
  const auto left = assignment.Apply(20, Members({"a", "c"}));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, "b");
  for (const auto& session : Sessions(100)) {
    const auto past = assignment.OwnerAt(15, session);
    const auto future = assignment.OwnerAt(25, session);
    if (before[session] == "b") {
      EXPECT_NE(past, "b") << session;
      EXPECT_EQ(past, future) << session << ": its past and future events go to one member";
    } else {
      EXPECT_EQ(past, before[session]) << session << " was not b's and must not move";
    }
  }
}

TEST(GroupAssignmentTest, WhenEveryMemberOfAPositionLeftItsEventsFollowTheMembersAtTheLastLeave) {
  GroupAssignment assignment;
  assignment.Apply(10, Members({"a"}));
  assignment.Apply(20, Members({"a", "b"}));  // b joins
  assignment.Apply(30, Members({"b"}));       // a leaves: a's events of 10..19 go to b
  EXPECT_EQ(assignment.OwnerAt(15, "s"), "b");
  assignment.Apply(40, Members({"b", "c"}));  // c joins: the past stays b's
  EXPECT_EQ(assignment.OwnerAt(15, "s"), "b");
  assignment.Apply(50, Members({"c"}));  // b leaves: everything b owned goes to c
  EXPECT_EQ(assignment.OwnerAt(15, "s"), "c");
  EXPECT_EQ(assignment.OwnerAt(25, "s"), "c");
  assignment.Apply(60, Members({}));
  EXPECT_EQ(assignment.OwnerAt(65, "s"), std::nullopt) << "nobody is a member";
}

TEST(GroupAssignmentTest, EventsOfAPositionWithoutMembersAreNobodysEvenAfterAJoin) {
  GroupAssignment assignment;
  assignment.Apply(10, Members({}));
  assignment.Apply(20, Members({"a"}));
  EXPECT_EQ(assignment.OwnerAt(15, "s"), std::nullopt);
  EXPECT_EQ(assignment.OwnerAt(25, "s"), "a");
}

TEST(GroupAssignmentTest, TwoNodesApplyingTheSameChangesAgreeOnEveryOwner) {
  // The members_after lists come in any order (a hash's HGETALL): the answer must not depend on
  // it.
  GroupAssignment one;
  GroupAssignment two;
  one.Apply(10, Members({"a", "b", "c"}));
  two.Apply(10, Members({"c", "a", "b"}));
  one.Apply(20, Members({"c", "a"}));
  two.Apply(20, Members({"a", "c"}));
  for (const auto& session : Sessions(50)) {
    for (uint64_t position : {12u, 22u}) {
      EXPECT_EQ(one.OwnerAt(position, session), two.OwnerAt(position, session));
    }
  }
}

TEST(GroupAssignmentTest, ForgetBeforeKeepsTheEpochThatCoversThePositionAndDropsOlderOnes) {
  GroupAssignment assignment;
  assignment.Apply(10, Members({"a"}));
  assignment.Apply(20, Members({"a", "b"}));
  assignment.Apply(30, Members({"b"}));
  const auto owner = assignment.OwnerAt(25, "s");
  assignment.ForgetBefore(25);
  EXPECT_EQ(assignment.epochs(), 2u);
  EXPECT_EQ(assignment.OwnerAt(25, "s"), owner);
  EXPECT_EQ(assignment.OwnerAt(15, "s"), std::nullopt) << "forgotten";
}

}  // namespace
}  // namespace wsbridge::cluster
