// GrantStore: the fake myPOS's users' grants — authorization codes that a
// test hands out (standing in for the user's consent in a browser) and the
// refresh tokens issued with tokens bought by them.
//
// Codes follow RFC 6749 section 4.1.3: single use, bound to the client and
// to the redirect_uri of the authorization request, and, with PKCE (RFC 7636
// section 4.6), to a code_challenge: S256 when the challenge is set. A
// refresh token stays valid until its client revokes it (no rotation).
// Every failure is the OAuth error "invalid_grant". Thread-safe.

#ifndef FAKE_MYPOS_GRANT_STORE_H_
#define FAKE_MYPOS_GRANT_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/mutex.h"

namespace tokenservice {
namespace fake_mypos {

// A fresh opaque value (tokens, codes): 40 characters of base64url; empty
// if the system has no randomness to give.
std::string NewOpaqueToken();

// base64url(SHA-256(verifier)) without padding: the S256 code_challenge.
std::string S256Challenge(absl::string_view verifier);

// Thread-safe.
class GrantStore {
 public:
  // A new single-use code for `client_id`. `redirect_uri` and
  // `code_challenge` (S256) may be empty.
  std::string IssueCode(const std::string& client_id,
                        const std::string& redirect_uri,
                        const std::string& code_challenge,
                        std::vector<std::string> scopes)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Redeems `code` (once) and returns its scopes. InvalidArgument
  // ("invalid_grant") when the code is unknown or used, or another client,
  // redirect_uri or verifier is given.
  absl::StatusOr<std::vector<std::string>> RedeemCode(
      const std::string& client_id, const std::string& code,
      const std::string& redirect_uri, const std::string& code_verifier)
      ABSL_LOCKS_EXCLUDED(mu_);

  // For a token request `form` with grant_type authorization_code (code,
  // redirect_uri, code_verifier) or refresh_token (refresh_token): the
  // scopes granted, from RedeemCode or UseRefreshToken.
  absl::StatusOr<std::vector<std::string>> Redeem(
      const std::string& client_id,
      const std::map<std::string, std::string>& form) ABSL_LOCKS_EXCLUDED(mu_);

  // A new refresh token for `client_id` and `scopes`.
  std::string IssueRefreshToken(const std::string& client_id,
                                std::vector<std::string> scopes)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The scopes of `refresh_token`, or InvalidArgument ("invalid_grant") when
  // it is unknown or another client's.
  absl::StatusOr<std::vector<std::string>> UseRefreshToken(
      const std::string& client_id, const std::string& refresh_token) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Code {
    std::string client_id;
    std::string redirect_uri;
    std::string code_challenge;
    std::vector<std::string> scopes;
  };
  struct Refresh {
    std::string client_id;
    std::vector<std::string> scopes;
  };

  mutable Mutex mu_;
  absl::flat_hash_map<std::string, Code> codes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Refresh> refresh_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_mypos
}  // namespace tokenservice

#endif  // FAKE_MYPOS_GRANT_STORE_H_
