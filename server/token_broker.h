// TokenBroker: decides, for each request, between the cache and myPOS.
//
// Issue answers from the cache when it holds a token with enough validity
// left; otherwise it joins the one upstream fetch for that profile and
// scope set (starting it if none runs), so that however many callers miss
// at once, myPOS sees one request. Fetches run on an Executor, never on the
// caller's thread, and never under a lock. Revoke drops the token from the
// cache first, then revokes it at myPOS.

#ifndef SERVER_TOKEN_BROKER_H_
#define SERVER_TOKEN_BROKER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/token_service.pb.h"
#include "server/clock.h"
#include "server/credential_store.h"
#include "server/executor.h"
#include "server/token_cache.h"
#include "server/upstream_deadline.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

struct IssueParams {
  std::string credential;  // empty: the default profile
  std::vector<std::string> scopes;  // already validated
  absl::Duration min_validity = absl::ZeroDuration();  // zero: the default
  std::string rejected_fingerprint;
  // The caller's deadline (its gRPC deadline); see BrokerOptions.
  absl::Time deadline = absl::InfiniteFuture();
};

struct IssuedToken {
  std::shared_ptr<const CachedToken> token;
  bool cached = false;
};

struct RevokeParams {
  std::string credential;  // empty: the default profile
  std::string token;  // exactly one of token and fingerprint is set
  std::string fingerprint;
  // The caller's deadline (its gRPC deadline); see BrokerOptions.
  absl::Time deadline = absl::InfiniteFuture();
};

struct RevokeResult {
  std::string fingerprint;
  bool was_cached = false;
};

struct BrokerOptions {
  // Validity a token must have left when the caller does not say.
  absl::Duration default_min_validity = absl::Seconds(60);
  // An upstream fetch (all attempts) ends by the earlier of now +
  // upstream_timeout and the starting caller's deadline minus
  // deadline_margin (so the caller still gets our answer). A shared fetch is
  // never cancelled by a caller going away. When upstream_timeout ran out,
  // the error is kUnavailable: that deadline is ours, not the caller's.
  absl::Duration upstream_timeout = absl::Seconds(10);
  absl::Duration deadline_margin = absl::Milliseconds(50);
};

using IssueCallback =
    absl::AnyInvocable<void(absl::StatusOr<IssuedToken>) &&>;
using RevokeCallback =
    absl::AnyInvocable<void(absl::StatusOr<RevokeResult>) &&>;

// Thread-safe. Borrows every pointer; each must outlive the broker, and the
// executor must finish its tasks before the broker is destroyed.
class TokenBroker {
 public:
  TokenBroker(BrokerOptions options, const CredentialStore* credentials,
              OAuthClient* upstream, Executor* executor, const Clock* clock);

  // Calls `done` exactly once: on this thread for a cache hit or an
  // immediate error, otherwise on an executor thread when the shared fetch
  // completes. Errors: kNotFound unknown profile; kOutOfRange myPOS issues
  // tokens shorter-lived than min_validity; kResourceExhausted too many
  // fetches queued; upstream errors as OAuthClient::FetchToken returns.
  void Issue(IssueParams params, IssueCallback done) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes the token from the cache (so it is never handed out again),
  // then revokes it at myPOS on an executor thread and calls `done` once.
  // Errors: kNotFound unknown profile or uncached fingerprint;
  // kResourceExhausted; upstream errors as OAuthClient::RevokeToken.
  void Revoke(RevokeParams params, RevokeCallback done);

  // Metadata of one cached or recently revoked token; kNotFound otherwise.
  absl::StatusOr<mypos::token::v1::TokenInfo> GetTokenInfo(
      absl::string_view fingerprint) const;

  // One page of metadata, ordered by fingerprint, after `page_token` (the
  // last fingerprint of the previous page).
  mypos::token::v1::ListTokensResponse ListTokens(
      absl::string_view credential, int page_size,
      absl::string_view page_token) const;

 private:
  UpstreamDeadline DeadlineFor(absl::Time caller_deadline) const;
  absl::Status UpstreamError(absl::Status status,
                             const UpstreamDeadline& deadline) const;

  struct Waiter {
    absl::Duration min_validity;
    IssueCallback done;
  };

  // Joins or starts the fetch for `key`. Returns false, leaving `waiter`
  // untouched, when a fetch could not be scheduled.
  bool JoinFetch(const std::string& key, const CredentialProfile& profile,
                 const std::vector<std::string>& scopes,
                 absl::Time caller_deadline, Waiter& waiter)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RunFetch(const std::string& key, const CredentialProfile& profile,
                const std::vector<std::string>& scopes,
                absl::Time caller_deadline) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::shared_ptr<const CachedToken>> Fetch(
      const CredentialProfile& profile, const std::vector<std::string>& scopes,
      absl::Time caller_deadline);
  void Deliver(std::vector<Waiter> waiters,
               const absl::StatusOr<std::shared_ptr<const CachedToken>>& result);

  const BrokerOptions options_;
  const CredentialStore* const credentials_;
  OAuthClient* const upstream_;
  Executor* const executor_;
  const Clock* const clock_;
  TokenCache cache_;

  mutable absl::Mutex mu_;
  // Cache key -> callers waiting on the fetch that is running for it.
  absl::flat_hash_map<std::string, std::vector<Waiter>> flights_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // SERVER_TOKEN_BROKER_H_
