// Eventually: waits for an observable state instead of sleeping for a guessed time. A test that
// needs "the bridge has done X" polls for X with a deadline, so it goes on as soon as X holds and
// fails (rather than hangs) when X never does.
//
// Thread-safety: `condition` runs on the caller's thread.
#pragma once

#include <functional>

#include "absl/time/time.h"

namespace wsbridge::testing {

// Polls `condition` until it holds or `timeout` passes; returns its last value.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(5));

}  // namespace wsbridge::testing
