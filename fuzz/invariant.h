// Invariant(): how a fuzz target reports that the code under test broke a promise. It aborts, so
// libFuzzer saves the input as a crash just as it does for a sanitizer report. Verbose(): true
// when WSBRIDGE_FUZZ_VERBOSE is set, for targets that can say what they made of each input
// (`WSBRIDGE_FUZZ_VERBOSE=1 build-fuzz/fuzz/fuzz_jwt fuzz/corpus/fuzz_jwt/*`).
//
// Thread-safety: stateless.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace wsbridge::fuzz {

inline bool Verbose() {
  static const bool verbose = std::getenv("WSBRIDGE_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

inline void Invariant(bool holds, std::string_view what) {
  if (holds) return;
  std::fprintf(stderr, "invariant broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace wsbridge::fuzz
