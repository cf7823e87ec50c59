// WriteBacklog: the SessionLog's writes waiting for Redis, in order, bounded in bytes, messages
// dropped before opened/closed.
#include "cluster/write_backlog.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace wsbridge::cluster {
namespace {

PendingWrite Write(std::string name, bool droppable, size_t payload = 0) {
  PendingWrite write;
  write.args = {std::move(name), std::string(payload, 'x')};
  write.droppable = droppable;
  return write;
}

std::vector<std::string> Drain(WriteBacklog& backlog) {
  std::vector<std::string> names;
  while (!backlog.empty()) names.push_back(backlog.Pop().args[0]);
  return names;
}

TEST(WriteBacklogTest, KeepsOneOrderAcrossBothClasses) {
  WriteBacklog backlog(1 << 20);
  backlog.Push(Write("opened", false));
  backlog.Push(Write("m1", true));
  backlog.Push(Write("topics", false));
  backlog.Push(Write("m2", true));
  backlog.Push(Write("closed", false));
  EXPECT_EQ(backlog.front().args[0], "opened");
  EXPECT_EQ(Drain(backlog), (std::vector<std::string>{"opened", "m1", "topics", "m2", "closed"}));
  EXPECT_EQ(backlog.bytes(), 0u);
}

TEST(WriteBacklogTest, CountsArgumentsAndOverheadsAndGivesThemBackOnPop) {
  WriteBacklog backlog(1 << 20);
  backlog.Push(Write("abc", true, 100));
  const uint64_t one = WriteBacklog::kWriteOverhead + 2 * WriteBacklog::kArgumentOverhead + 103;
  EXPECT_EQ(backlog.bytes(), one);
  backlog.Push(Write("def", false, 100));
  EXPECT_EQ(backlog.bytes(), 2 * one);
  EXPECT_EQ(backlog.Pop().bytes, one);
  EXPECT_EQ(backlog.bytes(), one);
}

TEST(WriteBacklogTest, PastTheBoundTheOldestMessagesGoFirst) {
  // Names of one length, so that every write costs the same.
  const uint64_t one = WriteBacklog::Cost(Write("m00", true, 1000));
  WriteBacklog backlog(10 * one);
  backlog.Push(Write("opn", false, 1000));
  for (int i = 10; i < 40; ++i) backlog.Push(Write("m" + std::to_string(i), true, 1000));
  backlog.Push(Write("cls", false, 1000));
  EXPECT_LE(backlog.bytes(), backlog.max_bytes());
  EXPECT_EQ(backlog.dropped_kept(), 0u);
  EXPECT_EQ(backlog.dropped_droppable(), 30u - 8u);
  EXPECT_EQ(Drain(backlog), (std::vector<std::string>{"opn", "m32", "m33", "m34", "m35", "m36",
                                                      "m37", "m38", "m39", "cls"}));
}

TEST(WriteBacklogTest, KeptWritesGoOnlyWhenTheyAlonePassTheBound) {
  const uint64_t one = WriteBacklog::Cost(Write("k0", false, 1000));
  WriteBacklog backlog(3 * one);
  backlog.Push(Write("m", true, 1000));
  for (int i = 0; i < 5; ++i) backlog.Push(Write("k" + std::to_string(i), false, 1000));
  EXPECT_EQ(backlog.dropped_droppable(), 1u);
  EXPECT_EQ(backlog.dropped_kept(), 2u);
  EXPECT_EQ(backlog.bytes(), 3 * one);
  EXPECT_EQ(Drain(backlog), (std::vector<std::string>{"k2", "k3", "k4"}));
}

TEST(WriteBacklogTest, ManyTinyWritesAreBoundedByTheirOverhead) {
  WriteBacklog backlog(64 * 1024);
  for (int i = 0; i < 100000; ++i) backlog.Push(Write("", true));
  EXPECT_LE(backlog.bytes(), 64u * 1024);
  EXPECT_LT(backlog.size(), 64u * 1024 / WriteBacklog::kWriteOverhead);
  EXPECT_EQ(backlog.size() + backlog.dropped_droppable(), 100000u);
}

TEST(WriteBacklogTest, AWriteLargerThanTheBoundIsDroppedAtOnce) {
  WriteBacklog backlog(1024);
  backlog.Push(Write("small", false));
  backlog.Push(Write("huge", true, 4096));
  EXPECT_EQ(backlog.dropped_droppable(), 1u);
  EXPECT_EQ(Drain(backlog), std::vector<std::string>{"small"});
}

}  // namespace
}  // namespace wsbridge::cluster
