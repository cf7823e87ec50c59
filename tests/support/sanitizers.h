// kUnderSanitizers: whether this test binary was built with AddressSanitizer (the sanitizer pass
// of tests/run-all.sh). Tests of the whole product from outside (processes started, browsers,
// Prometheus) and timing-heavy ones run in the normal pass only; they skip themselves with it.
//
// Thread-safety: a constant.
#pragma once

namespace wsbridge::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderSanitizers = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderSanitizers = true;
#else
inline constexpr bool kUnderSanitizers = false;
#endif
#else
inline constexpr bool kUnderSanitizers = false;
#endif

}  // namespace wsbridge::testing
