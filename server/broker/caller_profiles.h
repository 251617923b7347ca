// CallerProfiles: credential profiles made of caller-supplied credentials.
//
// A caller allowed to send its own client id and secret gets, for that
// request, a profile named "caller-supplied:<client id>" that carries a
// keyed hash of the secret (HMAC-SHA-256 under a random per-process key),
// never the secret in a form that outlives the request. The cache keys such
// tokens by that hash, so two callers with the same client id and different
// secrets never share a token, and nobody can recompute the hash from a
// guessed secret without the key.

#ifndef SERVER_BROKER_CALLER_PROFILES_H_
#define SERVER_BROKER_CALLER_PROFILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/broker/credential_store.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

// Profile name shown for tokens of caller-supplied credentials, before the
// client id.
inline constexpr char kCallerSuppliedPrefix[] = "caller-supplied:";

// Immutable after creation, so thread-safe.
class CallerProfiles {
 public:
  // kInternal when OpenSSL has no random bytes for the key: without one the
  // hashes would be plain functions of the secrets.
  static absl::StatusOr<CallerProfiles> Create();

  // The profile for `credentials`, with `secret_hash` set.
  CredentialProfile ProfileFor(const ClientCredentials& credentials) const;

  // Whose cache entries `profile`'s are (the owner part of CacheKey): the
  // profile's name, and for caller-supplied credentials the name and the
  // secret's hash.
  static std::string CacheOwner(const CredentialProfile& profile);

 private:
  explicit CallerProfiles(std::string key) : key_(std::move(key)) {}

  std::string key_;
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_CALLER_PROFILES_H_
