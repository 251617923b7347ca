#include "server/rpc/caller_policy.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <utility>

namespace tokenservice {

CallerPolicy::CallerPolicy(std::vector<CallerRule> rules,
                           bool caller_credentials)
    : rules_(std::move(rules)), caller_credentials_(caller_credentials) {}

std::string CallerPolicy::KeyDigest(absl::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

absl::StatusOr<const CallerRule*> CallerPolicy::Authenticate(
    const std::vector<std::string>& peer_identities,
    absl::string_view key) const {
  if (open()) return nullptr;
  if (!key.empty()) {
    const std::string digest = KeyDigest(key);
    const CallerRule* match = nullptr;
    // Every rule is compared, in constant time, whatever matched before.
    for (const CallerRule& rule : rules_) {
      if (rule.key_digest.size() == digest.size() &&
          CRYPTO_memcmp(rule.key_digest.data(), digest.data(), digest.size()) ==
              0) {
        match = &rule;
      }
    }
    if (match != nullptr) return match;
    return absl::UnauthenticatedError("the caller key is not known");
  }
  for (const CallerRule& rule : rules_) {
    for (const std::string& identity : peer_identities) {
      if (std::find(rule.peer_identities.begin(), rule.peer_identities.end(),
                    identity) != rule.peer_identities.end()) {
        return &rule;
      }
    }
  }
  return absl::UnauthenticatedError(
      "no caller key and no client certificate that the caller policy "
      "knows");
}

bool CallerPolicy::MayUse(const CallerRule* caller, absl::string_view profile) {
  if (caller == nullptr) return true;
  for (const std::string& allowed : caller->profiles) {
    if (allowed == "*" || allowed == profile) return true;
  }
  return false;
}

}  // namespace tokenservice
