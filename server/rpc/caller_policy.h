// CallerPolicy: who is calling, and which profiles they may use.
//
// A caller is identified by a subject alternative name of its verified mTLS
// client certificate, or by a key sent in the `x-caller-key` request
// metadata (compared as SHA-256 digests in constant time). An empty policy
// is open: every caller may do everything, and the server says so loudly
// at start-up. Denials never reveal whether a profile exists.

#ifndef SERVER_RPC_CALLER_POLICY_H_
#define SERVER_RPC_CALLER_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tokenservice {

inline constexpr char kCallerKeyMetadata[] = "x-caller-key";

struct CallerRule {
  std::string name;
  std::vector<std::string> peer_identities;
  std::string key_digest;  // SHA-256 of the key, raw bytes; empty: no key
  std::vector<std::string> profiles;  // "*" = all
  bool may_revoke = false;
  bool may_read_metadata = false;
  bool may_supply_credentials = false;
};

// Immutable after construction, so thread-safe.
class CallerPolicy {
 public:
  // `caller_credentials` allows IssueRequest.client_credentials at all.
  explicit CallerPolicy(std::vector<CallerRule> rules = {},
                        bool caller_credentials = false);

  // True when no caller is listed: everyone may do everything.
  bool open() const { return rules_.empty(); }

  // The caller presenting `peer_identities` (verified certificate SANs) or
  // `key`; nullptr for an open policy. kUnauthenticated when nothing the
  // policy knows was presented.
  absl::StatusOr<const CallerRule*> Authenticate(
      const std::vector<std::string>& peer_identities,
      absl::string_view key) const;

  // Whether `caller` (nullptr: open policy) may use `profile`.
  static bool MayUse(const CallerRule* caller, absl::string_view profile);

  // Whether `caller` may send its own client credentials.
  bool MaySupplyCredentials(const CallerRule* caller) const {
    return caller_credentials_ &&
           (caller == nullptr || caller->may_supply_credentials);
  }

  // The SHA-256 of `key`, raw bytes, as CallerRule::key_digest holds it.
  static std::string KeyDigest(absl::string_view key);

 private:
  std::vector<CallerRule> rules_;
  bool caller_credentials_;
};

}  // namespace tokenservice

#endif  // SERVER_RPC_CALLER_POLICY_H_
