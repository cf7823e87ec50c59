// SessionIdGenerator: makes session ids: 128 random bits as 32 lowercase hex characters, so ids
// are unguessable and unique across nodes without coordination.
//
// Thread-safety: none; keep one per thread (each I/O thread owns one).
#pragma once

#include <string>

#include "absl/random/random.h"

namespace wsbridge {

class SessionIdGenerator {
 public:
  std::string Next();

 private:
  absl::BitGen random_;
};

}  // namespace wsbridge
