#include "support/eventually.h"

#include "absl/time/clock.h"

namespace wsbridge::testing {

bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return condition();
    absl::SleepFor(absl::Milliseconds(5));  // the poll period, not a guess at how long X takes
  }
  return true;
}

}  // namespace wsbridge::testing
