// Token fingerprints: how logs, metadata and operators refer to a token
// without seeing it.

#ifndef BASE_FINGERPRINT_H_
#define BASE_FINGERPRINT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tokenservice {

// Number of hex digits in a fingerprint.
inline constexpr int kFingerprintLength = 16;

// Returns the first 16 lower-case hex digits of SHA-256(token): stable,
// non-reversible, and unique enough to name the tokens one server caches.
std::string Fingerprint(absl::string_view token);

// True when `s` has the form Fingerprint() returns.
bool IsFingerprint(absl::string_view s);

}  // namespace tokenservice

#endif  // BASE_FINGERPRINT_H_
