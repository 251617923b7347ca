// UpstreamExchange: the one way the broker layer makes a request to myPOS.
//
// The broker's client-credentials fetch, its revocation and a user's grant
// exchange each take the same steps, here and nowhere else: compute the
// upstream deadline from the caller's (server/upstream/upstream_deadline.h:
// the earlier of now + upstream_timeout and the caller's deadline minus a
// margin), read the profile's id and secret (files are read again, so a
// rotated secret applies at once), make the call, turn our own timeout
// into kUnavailable, record the upstream metric by kind, and log one line
// with one set of fields: profile, duration_ms, code, and fingerprint where
// there is a token, error where there is one.
//
// Returns the OAuthClient's errors, mapped as above, and kFailedPrecondition
// when a secret file cannot be read (logged as credentials_unreadable; no
// request is made). Never logs a token, a secret or a user's grant.
//
// Thread-safe: it holds no state of its own. Borrows every pointer; each
// must outlive it.

#ifndef SERVER_BROKER_UPSTREAM_EXCHANGE_H_
#define SERVER_BROKER_UPSTREAM_EXCHANGE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "server/broker/credential_store.h"
#include "server/broker/token_cache.h"
#include "server/ops/log.h"
#include "server/ops/metrics.h"
#include "server/upstream/oauth_client.h"
#include "server/upstream/upstream_deadline.h"

namespace tokenservice {

// A token myPOS issued. `token` has every field but those the caller
// decides (refresh_time, default_min_validity, hit_reply).
struct ExchangedToken {
  CachedToken token;
  std::string refresh_token;  // user grants only; empty when myPOS sent none
};

// Thread-safe (see above). Borrows every pointer.
class UpstreamExchange {
 public:
  struct Options {
    absl::Duration upstream_timeout = absl::Seconds(10);
    absl::Duration deadline_margin = absl::Milliseconds(50);
  };

  UpstreamExchange(Options options, OAuthClient* upstream, const Clock* clock,
                   Metrics* metrics);

  // A client-credentials token for `scopes` (kind "token"); the token's
  // scopes are myPOS's, or `scopes` when myPOS names none.
  absl::StatusOr<ExchangedToken> FetchToken(
      const CredentialProfile& profile, const std::vector<std::string>& scopes,
      absl::Time caller_deadline) const;

  // The token a user's `grant` buys (kind "grant"); scopes as FetchToken,
  // with the grant's scopes as the fallback. A failure after which myPOS
  // may have used the grant (no answer, a 5xx, an unusable reply) is
  // kUnknown, reason UPSTREAM_OUTCOME_UNKNOWN, so that nothing retries it.
  absl::StatusOr<ExchangedToken> ExchangeGrant(
      const CredentialProfile& profile, const UserGrant& grant,
      absl::Time caller_deadline) const;

  // Revokes `token`, whose fingerprint is `fingerprint` (kind "revoke").
  // On success, the client id that myPOS accepted the revocation from.
  absl::StatusOr<std::string> RevokeToken(const CredentialProfile& profile,
                                          absl::string_view token,
                                          absl::string_view fingerprint,
                                          absl::Time caller_deadline) const;

 private:
  // One exchange under way: its start, deadline and credentials.
  struct Call {
    UpstreamKind kind;
    const CredentialProfile* profile;
    absl::Time start;
    UpstreamDeadline deadline;
    ClientCredentials credentials;
  };

  absl::StatusOr<Call> Start(UpstreamKind kind,
                             const CredentialProfile& profile,
                             absl::Time caller_deadline) const;
  // Maps our own timeout in `status`, records the metric and logs the
  // outcome with `fields` added; returns the mapped status.
  absl::Status Finish(const Call& call, absl::Status status,
                      std::vector<LogField> fields) const;
  // Finish for a token reply: builds the token on success.
  absl::StatusOr<ExchangedToken> FinishToken(
      const Call& call, absl::StatusOr<UpstreamToken> reply,
      const std::vector<std::string>& requested_scopes,
      std::vector<LogField> fields) const;

  const Options options_;
  OAuthClient* const upstream_;
  const Clock* const clock_;
  Metrics* const metrics_;
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_UPSTREAM_EXCHANGE_H_
