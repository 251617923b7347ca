// FUZZ_CHECK: the invariant assertion of the fuzz harnesses. A violated
// invariant prints what broke and aborts, which libFuzzer records as a crash
// (and the replay test as a failure naming the input file).

#ifndef FUZZ_FUZZ_CHECK_H_
#define FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace tokenservice {
namespace fuzz {

// A marker planted in fuzz inputs where a secret would be (a token in a
// reply, a token to revoke). ':' keeps it outside every character set the
// server echoes on purpose (OAuth error codes, field names), so it may never
// appear in a Status message.
inline constexpr char kCanaryMarker[] = "canary:";

[[noreturn]] inline void FailInvariant(const char* file, int line,
                                       const char* condition,
                                       absl::string_view detail) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n  %.*s\n", file, line,
               condition, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// True when `s` has no ASCII control character (newline included): what a
// Status message must be, so that it stays one line in a log or in the
// one-line start-up error.
inline bool IsOneLine(absl::string_view s) {
  for (char c : s) {
    if ((c >= 0 && c < 0x20) || c == 0x7f) return false;
  }
  return true;
}

}  // namespace fuzz
}  // namespace tokenservice

#define FUZZ_CHECK(condition, detail)                                     \
  do {                                                                    \
    if (!(condition)) {                                                   \
      ::tokenservice::fuzz::FailInvariant(__FILE__, __LINE__, #condition, \
                                          (detail));                      \
    }                                                                     \
  } while (0)

#endif  // FUZZ_FUZZ_CHECK_H_
