// TokenBroker: decides, for each request, between the cache and myPOS.
//
// Issue answers from the cache when it holds a token with enough validity
// left; otherwise it joins the one upstream fetch for that profile and
// scope set (starting it if none runs), so that however many callers miss
// at once, myPOS sees one request. Fetches are asynchronous (the transport
// runs them; no thread of ours waits on myPOS) and never start under a
// lock.
//
// A fetch that callers share runs on the server's own deadline
// (upstream_timeout), never on a caller's. Each caller leaves on its own:
// when its deadline (minus deadline_margin) passes it is answered
// DEADLINE_EXCEEDED, and when it cancels (IssueParams::cancellation) it is
// dropped, both at that moment; the fetch goes on for the others and its
// token is cached for later calls. A fetch whose every caller left before
// its request was sent is not sent (a background refresh always is).
// Caller misses that would start a fetch while max_caller_fetches fetches
// for callers are under way get RESOURCE_EXHAUSTED at once; background
// refreshes and revocations are never refused for that, and take the
// transport's reserved lane (http_transport.h).
//
// Refresh ahead: a token's refresh time lies in the last quarter of its
// lifetime (at least default_min_validity + refresh_lead before expiry, at
// most half the lifetime, minus up to 20% jitter so replicas spread out).
// The first hit after it starts one background fetch while callers keep
// getting the current token. A failed background refresh keeps the token
// in service (state FAILED in metadata) and is retried by later hits after
// an exponential backoff.
//
// In a fleet (SharedTokens), a configured profile's fetch goes through the
// fleet's store: a token another replica fetched is taken from it, and
// only one replica of the fleet asks myPOS (refreshes included).
//
// Revoke drops the token from the cache first, then revokes it at myPOS.
// In a fleet (SharedRevocations) it is shared with the other replicas too:
// while myPOS is asked when it was cached here, after myPOS took it when
// it was not; the caller is answered once the sharing has answered.
// Revoking again is harmless: by token it asks myPOS again (RFC 7009 says
// yes to unknown tokens); by fingerprint it retries a revocation myPOS did
// not confirm, and answers OK without a call once it did.

#ifndef SERVER_BROKER_TOKEN_BROKER_H_
#define SERVER_BROKER_TOKEN_BROKER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/cancellation.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/timers.h"
#include "proto/token_service.pb.h"
#include "server/broker/caller_profiles.h"
#include "server/broker/credential_store.h"
#include "server/broker/revocation_feed.h"
#include "server/broker/revocation_list.h"
#include "server/broker/shared_revocations.h"
#include "server/broker/shared_tokens.h"
#include "server/broker/token_cache.h"
#include "server/broker/upstream_exchange.h"
#include "server/ops/metrics.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

struct IssueParams {
  std::string credential;           // empty: the default profile
  std::vector<std::string> scopes;  // already validated
  absl::Duration min_validity = absl::ZeroDuration();  // zero: the default
  std::string rejected_fingerprint;
  // A caller's own credentials instead of a profile (credential empty).
  std::optional<ClientCredentials> caller_credentials;
  // The caller's deadline (its gRPC deadline); see BrokerOptions.
  absl::Time deadline = absl::InfiniteFuture();
};

struct IssuedToken {
  std::shared_ptr<const CachedToken> token;
  bool cached = false;
};

struct RevokeParams {
  std::string credential;  // empty: the default profile
  std::string token;       // exactly one of token and fingerprint is set
  std::string fingerprint;
  std::optional<ClientCredentials> caller_credentials;
  // The caller's deadline (its gRPC deadline); see BrokerOptions.
  absl::Time deadline = absl::InfiniteFuture();
};

struct RevokeResult {
  std::string fingerprint;
  bool was_cached = false;
  // In a fleet: how far the revocation reached the other replicas.
  std::optional<RevocationReach> reach;
};

struct BrokerOptions {
  // Validity a token must have left when the caller does not say (capped at
  // a quarter of the lifetime of tokens too short-lived for it).
  absl::Duration default_min_validity = absl::Seconds(60);
  // A shared upstream fetch (all attempts) ends by now + upstream_timeout;
  // when that ran out, the error is kUnavailable. A revocation ends by the
  // earlier of that and the caller's deadline minus deadline_margin. A
  // caller waiting on a fetch is answered DEADLINE_EXCEEDED deadline_margin
  // before its deadline (so it still gets our answer, with its reason).
  absl::Duration upstream_timeout = absl::Seconds(10);
  absl::Duration deadline_margin = absl::Milliseconds(50);
  // Fetches for callers' misses under way at once (--max_queued_upstream);
  // a miss that would start one more gets RESOURCE_EXHAUSTED.
  size_t max_caller_fetches = 1024;
  // Refresh ahead: the share of a token's lifetime left when a background
  // refresh starts, and how long before default_min_validity runs out it
  // starts at the latest.
  double refresh_window = 0.25;
  absl::Duration refresh_lead = absl::Seconds(30);
  // Backoff between failed background refreshes.
  absl::Duration refresh_retry_initial = absl::Seconds(1);
  absl::Duration refresh_retry_max = absl::Seconds(60);
  // Uniform in [0, 1), for the refresh jitter; empty: a real random source.
  std::function<double()> random;
  // Most tokens cached for caller-supplied credentials (LRU beyond).
  size_t max_caller_credential_tokens = 10000;
  // A caller's min_validity makes the server fetch a token early at most
  // once per key per this interval (--min_refresh_interval); within it, a
  // miss only for want of validity is OUT_OF_RANGE.
  absl::Duration min_refresh_interval = absl::Seconds(10);
  // The longest a token from myPOS may live (--max_token_lifetime): how
  // long a token revoked by value, never cached here, stays listed.
  absl::Duration max_token_lifetime = absl::Hours(24);
  // Most tokens cached in all (expired first, then LRU beyond).
  size_t max_cached_tokens = 10000;
};

using IssueCallback = absl::AnyInvocable<void(absl::StatusOr<IssuedToken>) &&>;

// A caller that waits for myPOS: the callback that answers it, and how the
// broker hears that it has gone (null: it never goes). `cancellation` must
// stay valid until `done` has been called or destroyed.
struct WaitingCaller {
  IssueCallback done;
  Cancellation* cancellation = nullptr;
};
using RevokeCallback =
    absl::AnyInvocable<void(absl::StatusOr<RevokeResult>) &&>;

// Thread-safe. Borrows every pointer; each must outlive the broker, and
// the upstream client and the timers must have run every callback they
// hold before it is destroyed.
class TokenBroker {
 public:
  // `metrics` may be null (the broker then keeps its own); `shared` and
  // `shared_tokens` are null outside a fleet. kInternal when no key for
  // caller-supplied secrets can be made (CallerProfiles).
  static absl::StatusOr<std::unique_ptr<TokenBroker>> Create(
      BrokerOptions options, const CredentialStore* credentials,
      OAuthClient* upstream, Timers* timers, const Clock* clock,
      Metrics* metrics = nullptr, SharedRevocations* shared = nullptr,
      SharedTokens* shared_tokens = nullptr);

  // Calls `done` exactly once: on this thread for a cache hit or an
  // immediate error (an unreadable secret included), otherwise on the
  // transport's or the timers' thread when the shared fetch completes or
  // the caller's deadline comes, or on the thread that fires
  // `cancellation`.
  // Errors: kNotFound unknown profile; kOutOfRange myPOS issues tokens
  // shorter-lived than min_validity; kResourceExhausted too many fetches
  // for callers under way; kDeadlineExceeded the caller's deadline came
  // first; upstream errors as OAuthClient::FetchToken returns.
  // When `cancellation` fires, a caller still waiting is answered CANCELLED
  // at once (see WaitingCaller).
  void Issue(const IssueParams& params, IssueCallback done,
             Cancellation* cancellation = nullptr) ABSL_LOCKS_EXCLUDED(mu_);

  // The same, for a caller that answers differently when the answer is at
  // hand at once (the gRPC handler finishes those inline, on gRPC's
  // DefaultReactor). Before returning, calls exactly one of: `at_once`, with a
  // cache hit or an immediate error; or `later`, for the caller whose
  // callback takes a result that may have to wait for myPOS (called exactly
  // once: on the transport's or the timers' thread, or on this thread before
  // Issue returns when a fetch stored the token meanwhile, too many fetches
  // are under way, or the caller had already gone).
  void Issue(const IssueParams& params,
             absl::FunctionRef<void(absl::StatusOr<IssuedToken>)> at_once,
             absl::FunctionRef<WaitingCaller()> later) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes the token from the cache (so it is never handed out again),
  // then revokes it at myPOS and calls `done` once. By fingerprint, a token
  // this replica does not hold is looked up in the fleet's store. Errors:
  // kNotFound unknown profile or a fingerprint of no token held here (or
  // in the fleet); upstream errors as OAuthClient::RevokeToken.
  void Revoke(RevokeParams params, RevokeCallback done);

  // A revocation another replica of the fleet made: the token leaves every
  // entry here and is never handed out again before `expires`. Never calls
  // out (no myPOS, no sharing).
  void ApplySharedRevocation(absl::string_view fingerprint, absl::Time expires);

  // Metadata of one cached or recently revoked token; kNotFound otherwise.
  absl::StatusOr<mypos::token::v1::TokenInfo> GetTokenInfo(
      absl::string_view fingerprint) const;

  // Metadata of every cached and recently revoked token, for /metrics.
  std::vector<mypos::token::v1::TokenInfo> AllTokens() const;

  // One page of metadata of `credential`'s tokens (every profile's when
  // empty), as PageOfTokens (server/broker/token_pages.h) pages them.
  mypos::token::v1::ListTokensResponse ListTokens(
      absl::string_view credential, int page_size, absl::string_view page_token,
      const std::function<bool(absl::string_view profile)>& visible =
          nullptr) const;

  // Every token revoked here from now on, by fingerprint: by Revoke (once
  // it left the cache, or myPOS took it) and by ApplySharedRevocation.
  RevocationFeed& revocation_feed() { return feed_; }

  // The profile used when a caller names none.
  const std::string& default_profile() const {
    return credentials_->default_profile();
  }

 private:
  TokenBroker(BrokerOptions options, const CredentialStore* credentials,
              OAuthClient* upstream, Timers* timers, const Clock* clock,
              Metrics* metrics, SharedRevocations* shared,
              SharedTokens* shared_tokens, CallerProfiles caller_profiles);

  struct Waiter {
    uint64_t id = 0;
    std::optional<absl::Duration> min_validity;  // unset: token's default
    IssueCallback done;
    absl::Time deadline = absl::InfiniteFuture();  // the caller's
    Cancellation* cancellation = nullptr;          // may be null
    // The timer that answers the caller at its deadline, once set.
    std::optional<TimerId> deadline_timer;
    // Whether the caller already waited for a second fetch because the
    // first one's token was revoked or rejected before it reached it.
    bool rejoined = false;
  };

  // The one fetch under way for a key, and who waits for it.
  struct Flight {
    uint64_t id = 0;
    // A background refresh: sent even when nobody waits.
    bool refresh = false;
    // Counted in caller_fetches_.
    bool counted = false;
    std::vector<Waiter> waiters;
  };

  // OUT_OF_RANGE when a miss for want of `min_validity` alone must not
  // fetch: the tokens' lifetime is shorter, or the token is too new
  // (TokenCache::CheckMinValidity).
  absl::Status RefuseForcedRefresh(const std::string& key, absl::Time now,
                                   absl::Duration min_validity) const;

  // The configured profile `name` (owned by the store), or one made of
  // caller-supplied credentials in `*supplied_profile`.
  absl::StatusOr<const CredentialProfile*> ResolveProfile(
      const std::string& name, const std::optional<ClientCredentials>& supplied,
      CredentialProfile* supplied_profile) const;

  // Hands `waiter` a token stored meanwhile, or adds it to `key`'s fetch,
  // starting one if none runs, to leave at its caller's deadline (a timer)
  // or cancellation; answers RESOURCE_EXHAUSTED when that would be one
  // fetch for callers too many, and at once a caller already gone.
  void JoinFetch(const std::string& key, const CredentialProfile& profile,
                 const std::vector<std::string>& scopes, Waiter waiter)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Takes waiter `id` out of `key`'s fetch, if it still waits, and answers
  // it with `status`.
  void Leave(const std::string& key, uint64_t id, absl::Status status)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Starts a background refresh of `key` unless a fetch for it runs.
  void StartRefresh(const std::string& key, const CredentialProfile& profile,
                    const std::vector<std::string>& scopes)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends flight `flight_id`'s request to myPOS, or in a fleet hands it to
  // SharedTokens (configured profiles' tokens only: a caller-supplied
  // secret's are this replica's own).
  void StartFetch(const std::string& key, const CredentialProfile& profile,
                  const std::vector<std::string>& scopes, uint64_t flight_id,
                  Lane lane) ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a token another replica of the fleet stored will do for flight
  // `flight_id` of `key`: not revoked, newer than the one held under `key`
  // (which it replaces), and valid for as long as every waiter needs.
  bool Acceptable(const std::string& key, uint64_t flight_id,
                  const CachedToken& token) const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether flight `flight_id` of `key` still has a reason to be sent.
  bool Wanted(const std::string& key, uint64_t flight_id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnFetched(const std::string& key, const CredentialProfile& profile,
                 const std::vector<std::string>& scopes, uint64_t flight_id,
                 Lane lane, absl::StatusOr<ExchangedToken> exchanged)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The validity a caller who asks for none needs of a token that lives
  // `lifetime`: the server's default, at most a quarter of the lifetime.
  absl::Duration DefaultMinValidity(absl::Duration lifetime) const;
  // The cached form of a token from myPOS: refresh time, default minimum
  // validity and serialized reply.
  std::shared_ptr<const CachedToken> Prepare(ExchangedToken exchanged) const;
  // When a token obtained at `issued` and valid until `expires` should be
  // refreshed, with jitter.
  absl::Time RefreshTime(absl::Time issued, absl::Time expires) const;
  // Revokes `token` at myPOS; once myPOS took it, evicts every copy cached
  // for that client id and, when `share`, shares it with the fleet before
  // answering.
  void RevokeUpstream(CredentialProfile profile, std::string token,
                      RevokeResult result, absl::Time caller_deadline,
                      bool share, RevokeCallback done);
  // Shares the revocation in `result` (a token usable until `expires`)
  // with the fleet, notes its reach in `result` and passes it on to
  // `then`; at once without a fleet.
  void Share(absl::Time expires, RevokeResult result,
             absl::AnyInvocable<void(RevokeResult) &&> then);
  // Hands each waiter of `key`'s fetch the token through the cache's gate
  // (TokenCache::Lookup); a waiter whose token was revoked or rejected
  // meanwhile waits for a fresh one, once.
  void Deliver(
      const std::string& key, const CredentialProfile& profile,
      const std::vector<std::string>& scopes, std::vector<Waiter> waiters,
      const absl::StatusOr<std::shared_ptr<const CachedToken>>& result);

  const BrokerOptions options_;
  const CredentialStore* const credentials_;
  Timers* const timers_;
  const Clock* const clock_;
  std::unique_ptr<Metrics> own_metrics_;
  Metrics* const metrics_;
  const CallerProfiles caller_profiles_;
  const UpstreamExchange exchange_;
  SharedRevocations* const shared_;    // null outside a fleet
  SharedTokens* const shared_tokens_;  // null outside a fleet
  LocalRevocationList revocations_;
  TokenCache cache_;
  RevocationFeed feed_;

  mutable Mutex mu_;
  // Cache key -> the fetch that is running for it.
  absl::flat_hash_map<std::string, Flight> flights_ ABSL_GUARDED_BY(mu_);
  // Flights with `counted` set.
  size_t caller_fetches_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;  // of flights
  // Of waiters: given before a waiter is in flights_, so without mu_.
  std::atomic<uint64_t> next_waiter_id_{0};
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_TOKEN_BROKER_H_
