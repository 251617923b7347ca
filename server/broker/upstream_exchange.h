// UpstreamExchange: the one way the broker layer makes a request to myPOS.
//
// The broker's client-credentials fetch, its revocation and a user's grant
// exchange each take the same steps, here and nowhere else: compute the
// upstream deadline (server/upstream/upstream_deadline.h: the earlier of
// now + upstream_timeout and the caller's deadline minus a margin; a fetch
// that callers share has no caller deadline, only the server's), read the
// profile's id and secret (files are read again, so a rotated secret
// applies at once), make the call, turn our own timeout into kUnavailable,
// record the upstream metric by kind, and log one line with one set of
// fields: profile, duration_ms, code, and fingerprint where there is a
// token, error where there is one.
//
// Asynchronous: each call returns at once and calls `done` exactly once,
// on the transport's or the timers' thread, or inside the call when no
// request could be made (credentials unreadable). Call it with no lock
// held that `done` takes.
//
// Returns the OAuthClient's errors, mapped as above, and kFailedPrecondition
// when a secret file cannot be read (logged as credentials_unreadable; no
// request is made). Never logs a token, a secret or a user's grant.
//
// Thread-safe: it holds no state of its own. Borrows every pointer; each
// must outlive it and every exchange under way.

#ifndef SERVER_BROKER_UPSTREAM_EXCHANGE_H_
#define SERVER_BROKER_UPSTREAM_EXCHANGE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
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

  using TokenDone = absl::AnyInvocable<void(absl::StatusOr<ExchangedToken>) &&>;
  // On success, the client id that myPOS accepted the revocation from.
  using RevokeDone = absl::AnyInvocable<void(absl::StatusOr<std::string>) &&>;

  // A client-credentials token for `scopes` (kind "token"), on the
  // server's deadline alone (callers share it); the token's scopes are
  // myPOS's, or `scopes` when myPOS names none. `lane` and `wanted` as
  // RequestOptions (server/upstream/http_transport.h) say.
  void FetchToken(const CredentialProfile& profile,
                  const std::vector<std::string>& scopes, Lane lane,
                  std::function<bool()> wanted, TokenDone done) const;

  // The token a user's `grant` buys (kind "grant", lane kCaller); scopes as
  // FetchToken, with the grant's scopes as the fallback. A failure after
  // which myPOS may have used the grant (no answer, a 5xx, an unusable
  // reply, a shutdown mid-request) is kUnknown, reason
  // UPSTREAM_OUTCOME_UNKNOWN, so that nothing retries it.
  void ExchangeGrant(const CredentialProfile& profile, const UserGrant& grant,
                     absl::Time caller_deadline, TokenDone done) const;

  // Revokes `token`, whose fingerprint is `fingerprint` (kind "revoke",
  // lane kReserved).
  void RevokeToken(const CredentialProfile& profile, absl::string_view token,
                   absl::string_view fingerprint, absl::Time caller_deadline,
                   RevokeDone done) const;

 private:
  // One exchange under way: its start, deadline and credentials.
  struct Call {
    UpstreamKind kind;
    std::string profile;
    absl::Time start;
    UpstreamDeadline deadline;
    ClientCredentials credentials;
  };

  absl::StatusOr<Call> Start(UpstreamKind kind,
                             const CredentialProfile& profile,
                             absl::Time caller_deadline) const;
  RequestOptions OptionsFor(const Call& call, Lane lane,
                            std::function<bool()> wanted) const;
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
