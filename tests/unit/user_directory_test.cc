// UserDirectory: which threads hold each user's sessions.
#include "hub/user_directory.h"

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(UserDirectoryTest, ThreadsOfListsEachHoldingThreadOnceInOrder) {
  UserDirectory directory(4);
  directory.Add("alice", 3);
  directory.Add("alice", 1);
  directory.Add("alice", 1);
  directory.Add("bob", 1);
  directory.Add("carol", 0);
  EXPECT_THAT(directory.ThreadsOf({"alice"}), ElementsAre(1, 3));
  EXPECT_THAT(directory.ThreadsOf({"bob", "alice", "bob"}), ElementsAre(1, 3));
  EXPECT_THAT(directory.ThreadsOf({"carol", "bob"}), ElementsAre(0, 1));
  EXPECT_THAT(directory.ThreadsOf({"nobody"}), IsEmpty());
  EXPECT_THAT(directory.ThreadsOf({}), IsEmpty());
  EXPECT_EQ(directory.user_count(), 3u);
}

TEST(UserDirectoryTest, CountsSessionsSoAThreadStaysUntilItsLastSessionLeaves) {
  UserDirectory directory(2);
  directory.Add("alice", 0);
  directory.Add("alice", 0);
  directory.Remove("alice", 0);
  EXPECT_THAT(directory.ThreadsOf({"alice"}), ElementsAre(0));
  directory.Remove("alice", 0);
  EXPECT_THAT(directory.ThreadsOf({"alice"}), IsEmpty());
  EXPECT_EQ(directory.user_count(), 0u);
}

TEST(UserDirectoryTest, AnonymousSessionsAndUnmatchedRemovesAreIgnored) {
  UserDirectory directory(2);
  directory.Add("", 0);
  EXPECT_EQ(directory.user_count(), 0u);
  directory.Remove("never-added", 1);
  directory.Add("alice", 1);
  directory.Remove("alice", 0);  // no session of alice on thread 0
  EXPECT_THAT(directory.ThreadsOf({"alice"}), ElementsAre(1));
}

TEST(UserDirectoryTest, ConcurrentAddsAndRemovesBalance) {
  UserDirectory directory(2);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 2; ++t) {
    threads.emplace_back([&directory, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string user = "u" + std::to_string(i % 50);
        directory.Add(user, t);
        directory.ThreadsOf({user});
        directory.Remove(user, t);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(directory.user_count(), 0u);
}

}  // namespace
}  // namespace wsbridge
