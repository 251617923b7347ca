// RetryingOAuthClient: an OAuthClient that retries another one.
//
// Transient failures (reason UPSTREAM_UNAVAILABLE or UPSTREAM_RATE_LIMITED:
// network errors, 408, 5xx, 429) are retried with capped exponential backoff
// and full jitter, waiting at least what a Retry-After asked for (capped at
// max_retry_after). Each wait is a timer (base/timers.h): no thread sleeps
// through a backoff. A retry is made only when, after the wait, at least
// min_attempt_time is left before the deadline, and only while the result
// is still wanted (RequestOptions::wanted, asked by the transport);
// otherwise the last error is returned at once. Nothing else is retried: not
// OAuth errors (a retry cannot fix invalid_client, invalid_scope,
// invalid_grant, ...), not bad replies, not TLS failures, not the deadline.
//
// Credentials that the provider rejected in a client-credentials token
// request (reason CREDENTIALS_REJECTED: invalid_client or HTTP 401 from the
// token endpoint) are remembered for rejected_credentials_ttl per client id
// and secret, for at most kMaxRejectedCredentials of them: until then every
// call with them returns the remembered kFailedPrecondition without an
// upstream request, so a storm of callers does not become a storm of
// rejected requests. A changed secret is not affected. The errors of a
// revocation or of a user's grant exchange are that call's alone: they are
// never remembered, so one caller's bad grant cannot lock a profile out.
//
// ExchangeGrant is never retried: an authorization code is single-use and a
// refresh token may rotate, so a repeated exchange could fail or burn the
// user's grant after a lost reply. It still honours rejected credentials.
//
// Each retry is logged (event "upstream_retry"). Thread-safe; owns `inner`,
// borrows `clock` and `timers`, which must outlive it; a retry under way
// (waiting on a timer) must end before it is destroyed.

#ifndef SERVER_UPSTREAM_RETRYING_OAUTH_CLIENT_H_
#define SERVER_UPSTREAM_RETRYING_OAUTH_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/timers.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

// The most rejected credentials remembered at once.
inline constexpr size_t kMaxRejectedCredentials = 1024;

// Thread-safe. Owns the client it decorates; borrows the clock.
class RetryingOAuthClient : public OAuthClient {
 public:
  struct Options {
    // Attempts per call, the first included (1: no retries).
    int max_attempts = 4;
    // Backoff before retry n (n = 1, 2, ...) is drawn uniformly from
    // [0, min(max_backoff, initial_backoff * multiplier^(n-1))].
    absl::Duration initial_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(2);
    double backoff_multiplier = 2.0;
    // A Retry-After longer than this is waited only this long.
    absl::Duration max_retry_after = absl::Seconds(10);
    // A retry needs at least this much time left after its backoff.
    absl::Duration min_attempt_time = absl::Milliseconds(50);
    // How long rejected credentials are remembered; zero: not at all.
    absl::Duration rejected_credentials_ttl = absl::Seconds(30);
  };

  // Maps a backoff cap to the wait actually used, in [0, cap].
  using Jitter = std::function<absl::Duration(absl::Duration cap)>;

  // `jitter` defaults to full jitter (uniform in [0, cap]).
  RetryingOAuthClient(Options options, std::unique_ptr<OAuthClient> inner,
                      const Clock* clock, Timers* timers,
                      Jitter jitter = nullptr);

  void FetchToken(const ClientCredentials& credentials,
                  const std::vector<std::string>& scopes,
                  const RequestOptions& options, TokenCallback done) override
      ABSL_LOCKS_EXCLUDED(mu_);

  void ExchangeGrant(const ClientCredentials& credentials,
                     const UserGrant& grant, const RequestOptions& options,
                     TokenCallback done) override ABSL_LOCKS_EXCLUDED(mu_);

  void RevokeToken(const ClientCredentials& credentials,
                   absl::string_view token, const RequestOptions& options,
                   StatusCallback done) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Rejection {
    absl::Status status;
    absl::Time until;
  };
  template <typename Result>
  struct RetryState;

  // Makes attempt `n` of `state`, and on a transient failure the next one
  // on a timer, until one succeeds, fails for good, or no retry fits.
  template <typename Result>
  void Attempt(std::shared_ptr<RetryState<Result>> state, int n);
  // When `credentials` were rejected not long ago: answers `done` with
  // that (on the timers' thread, not inside the call) and returns true.
  template <typename Done>
  bool AnswerRejected(const ClientCredentials& credentials, Done& done)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The remembered rejection of `credentials`, or OK.
  absl::Status CheckRejected(const ClientCredentials& credentials)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Remembers `status` (of a client-credentials token request) when it
  // says the credentials were rejected.
  void NoteResult(const ClientCredentials& credentials,
                  const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const std::unique_ptr<OAuthClient> inner_;
  const Clock* const clock_;
  Timers* const timers_;
  const Jitter jitter_;

  mutable Mutex mu_;
  // Client id and secret hash -> the rejection and when it is forgotten.
  absl::flat_hash_map<std::string, Rejection> rejected_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_RETRYING_OAUTH_CLIENT_H_
