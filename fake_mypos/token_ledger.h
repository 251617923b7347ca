// TokenLedger: every access token the fake myPOS issued, and which of them
// were revoked, so that the fake's API can accept live tokens only and tests
// can ask what happened. Thread-safe.

#ifndef FAKE_MYPOS_TOKEN_LEDGER_H_
#define FAKE_MYPOS_TOKEN_LEDGER_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "base/mutex.h"

namespace tokenservice {
namespace fake_mypos {

// Thread-safe.
class TokenLedger {
 public:
  // Tokens live `lifetime` from issue, by the real clock.
  explicit TokenLedger(absl::Duration lifetime) : lifetime_(lifetime) {}

  // A new token for `client_id`; empty if there was no randomness.
  std::string Issue(const std::string& client_id,
                    std::vector<std::string> scopes) ABSL_LOCKS_EXCLUDED(mu_);

  // Marks `token` revoked when `client_id` owns it (RFC 7009 section 2.1).
  // Returns false only when the token was issued to another client; an
  // unknown token is fine (section 2.2).
  bool Revoke(const std::string& client_id, const std::string& token)
      ABSL_LOCKS_EXCLUDED(mu_);

  // True when `token` was issued, is not revoked and has not expired.
  bool IsActive(const std::string& token) const ABSL_LOCKS_EXCLUDED(mu_);

  // Tokens revoked, in order, each once.
  std::vector<std::string> revoked() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Issued {
    std::string client_id;
    std::vector<std::string> scopes;
    absl::Time issue_time;
    bool revoked = false;
  };

  const absl::Duration lifetime_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, Issued> tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> revoked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_mypos
}  // namespace tokenservice

#endif  // FAKE_MYPOS_TOKEN_LEDGER_H_
