#include "base/fingerprint.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"

namespace tokenservice {

std::string Fingerprint(absl::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest), kFingerprintLength / 2));
}

bool IsFingerprint(absl::string_view s) {
  if (s.size() != kFingerprintLength) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace tokenservice
