// DrainSchedule: which share of the sessions a draining node closes at each step, and when. The
// sums here are what the drain promises: every session is asked once, no step takes much more
// than an even share, the steps end before the window does, and a window of zero is one step.
#include "hub/drain_schedule.h"

#include <cstddef>
#include <vector>

#include "gtest/gtest.h"

namespace wsbridge {
namespace {

// The shares of `sessions` over every step, as the hub takes them (pending shrinks by each).
std::vector<size_t> Shares(const DrainSchedule& schedule, size_t sessions) {
  std::vector<size_t> shares;
  size_t pending = sessions;
  for (size_t step = 0; step < schedule.steps(); ++step) {
    const size_t share = schedule.ShareAt(step, pending);
    shares.push_back(share);
    pending -= share;
  }
  EXPECT_EQ(pending, 0u);
  return shares;
}

TEST(DrainScheduleTest, StepsEveryIntervalUntilTheCloseMarginBeforeTheWindowEnds) {
  const DrainSchedule schedule(absl::Seconds(10), absl::Seconds(2), absl::Milliseconds(100));
  EXPECT_EQ(schedule.close_margin(), absl::Seconds(2));
  EXPECT_EQ(schedule.steps(), 81u);  // 0, 100 ms, ..., 8 s
  EXPECT_EQ(schedule.StartOf(0), absl::ZeroDuration());
  EXPECT_EQ(schedule.StartOf(1), absl::Milliseconds(100));
  EXPECT_EQ(schedule.StartOf(80), absl::Seconds(8));
  EXPECT_EQ(schedule.StartOf(500), absl::Seconds(8));  // past the end: the last step
}

TEST(DrainScheduleTest, TheCloseMarginIsAtMostHalfTheWindow) {
  // The default close timeout (5 s) with a short window: half the window spreads the closes.
  const DrainSchedule schedule(absl::Seconds(3), absl::Seconds(5), absl::Milliseconds(100));
  EXPECT_EQ(schedule.close_margin(), absl::Milliseconds(1500));
  EXPECT_EQ(schedule.steps(), 16u);
  EXPECT_EQ(schedule.StartOf(schedule.steps() - 1), absl::Milliseconds(1500));
}

TEST(DrainScheduleTest, AWindowOfZeroOrShorterThanAStepClosesEverythingAtOnce) {
  for (absl::Duration window : {absl::ZeroDuration(), absl::Milliseconds(150), absl::Seconds(-1)}) {
    const DrainSchedule schedule(window, absl::Seconds(5), absl::Milliseconds(100));
    EXPECT_EQ(schedule.steps(), 1u) << window;
    EXPECT_EQ(schedule.ShareAt(0, 5000), 5000u) << window;
    EXPECT_EQ(schedule.StartOf(0), absl::ZeroDuration()) << window;
  }
}

TEST(DrainScheduleTest, EachStepTakesAnEvenShareAndEverySessionIsAskedOnce) {
  const DrainSchedule schedule(absl::Seconds(4), absl::Seconds(1), absl::Milliseconds(100));
  ASSERT_EQ(schedule.steps(), 31u);
  const std::vector<size_t> shares = Shares(schedule, 3000);
  for (size_t share : shares) {
    // 3000 / 31 rounded up; no step bunches more than that.
    EXPECT_GE(share, 96u);
    EXPECT_LE(share, 97u);
  }
}

TEST(DrainScheduleTest, FewerSessionsThanStepsCloseOneAtATime) {
  const DrainSchedule schedule(absl::Seconds(10), absl::Seconds(5), absl::Milliseconds(100));
  const std::vector<size_t> shares = Shares(schedule, 7);
  for (size_t share : shares) EXPECT_LE(share, 1u);
}

TEST(DrainScheduleTest, ALateStepMakesUpForTheStepsItMissed) {
  const DrainSchedule schedule(absl::Seconds(4), absl::Seconds(1), absl::Milliseconds(100));
  // The controlling thread woke up at 1.55 s instead of 0 s: the step due then is 15 of 31, and
  // it takes the share of the 16 steps left, not of 31.
  const size_t step = schedule.StepAt(absl::Milliseconds(1550));
  EXPECT_EQ(step, 15u);
  EXPECT_EQ(schedule.ShareAt(step, 1600), 100u);
  EXPECT_EQ(schedule.StepAt(absl::Seconds(-1)), 0u);
  EXPECT_EQ(schedule.StepAt(absl::Seconds(60)), 30u);
  // At or past the last step, whatever remains.
  EXPECT_EQ(schedule.ShareAt(30, 1234), 1234u);
  EXPECT_EQ(schedule.ShareAt(99, 1234), 1234u);
}

TEST(DrainScheduleTest, StepsRunLateShareWhatTheMissedStepsLeftOverTheStepsLeft) {
  // 31 steps, 3,100 sessions: 100 a step when every step runs on time. Here steps 0..4 run, then
  // the controlling thread stalls and next runs at 1.05 s (step 10), then once more at 2.95 s
  // (step 29), and the last step is on time. A late step does not close all that the missed
  // steps would have: it takes the even share of what is pending over the steps left, so the
  // missed sessions are spread over the rest of the window, and the last step takes what remains.
  const DrainSchedule schedule(absl::Seconds(4), absl::Seconds(1), absl::Milliseconds(100));
  ASSERT_EQ(schedule.steps(), 31u);
  size_t pending = 3100;
  std::vector<size_t> closed;
  for (absl::Duration began :
       {absl::ZeroDuration(), absl::Milliseconds(100), absl::Milliseconds(200),
        absl::Milliseconds(300), absl::Milliseconds(400), absl::Milliseconds(1050),
        absl::Milliseconds(1100), absl::Milliseconds(2950), absl::Seconds(3)}) {
    const size_t share = schedule.ShareAt(schedule.StepAt(began), pending);
    closed.push_back(share);
    pending -= share;
  }
  EXPECT_EQ(schedule.StepAt(absl::Milliseconds(1050)), 10u);
  EXPECT_EQ(schedule.StepAt(absl::Milliseconds(2950)), 29u);
  // 2,600 pending over 21 steps left: 124 (rounded up), then 2,476 over 20: 124; at step 29,
  // 2,352 over 2: 1,176; the last step, the other 1,176.
  EXPECT_EQ(closed, (std::vector<size_t>{100, 100, 100, 100, 100, 124, 124, 1176, 1176}));
  EXPECT_EQ(pending, 0u);
}

}  // namespace
}  // namespace wsbridge
