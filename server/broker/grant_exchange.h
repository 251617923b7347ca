// GrantExchange: passes a user's grant (authorization code or refresh
// token) through to myPOS for Issue, bypassing the cache.
//
// A token bought with a user's grant belongs to that user, so it is handed
// to the one caller that asked and never cached or shared, and its refresh
// token goes back to that caller only. Neither the grant nor the tokens are
// ever logged. What is kept is metadata: the most recent exchanges (token
// fingerprint, profile, client id, scopes, times, upstream latency), so that
// GetTokenInfo can describe such a token by fingerprint like a cached one.
// Exchanges are asynchronous: no thread waits on myPOS for them. One whose
// caller left still runs to its end (the grant may be spent either way).

#ifndef SERVER_BROKER_GRANT_EXCHANGE_H_
#define SERVER_BROKER_GRANT_EXCHANGE_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "proto/token_service.pb.h"
#include "server/broker/credential_store.h"
#include "server/broker/token_cache.h"
#include "server/broker/upstream_exchange.h"
#include "server/ops/metrics.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

struct GrantParams {
  std::string credential;                        // empty: the default profile
  UserGrant grant;                               // already validated
  absl::Time deadline = absl::InfiniteFuture();  // the caller's
};

struct GrantedToken {
  // Not cached: `token` lives only as long as the caller holds it.
  std::shared_ptr<const CachedToken> token;
  std::string refresh_token;  // empty when myPOS returned none
};

using GrantCallback = absl::AnyInvocable<void(absl::StatusOr<GrantedToken>) &&>;

// Thread-safe. Borrows every pointer; each must outlive this object, and
// the upstream client must have run every callback it holds before it is
// destroyed.
class GrantExchange {
 public:
  struct Options {
    // As BrokerOptions: the upstream deadline is the earlier of now +
    // upstream_timeout and the caller's deadline minus deadline_margin.
    absl::Duration upstream_timeout = absl::Seconds(10);
    absl::Duration deadline_margin = absl::Milliseconds(50);
    // Exchanges whose metadata is kept.
    size_t retained = 1000;
    // Exchanges under way at once (--max_queued_upstream); beyond,
    // RESOURCE_EXHAUSTED.
    size_t max_in_flight = 1024;
  };

  // Requests to myPOS are recorded in `metrics` (kind "grant").
  GrantExchange(Options options, const CredentialStore* credentials,
                OAuthClient* upstream, const Clock* clock, Metrics* metrics);

  // Exchanges `params.grant` at myPOS with the profile's credentials and
  // calls `done` exactly once (on this thread for an immediate error, else
  // on the transport's or the timers' thread). Errors: kNotFound unknown
  // profile;
  // kResourceExhausted max_in_flight exchanges under way; upstream errors
  // as UpstreamExchange::ExchangeGrant returns.
  void Exchange(GrantParams params, GrantCallback done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Metadata of a recent exchange's token, state FRESH or EXPIRED at now.
  std::optional<mypos::token::v1::TokenInfo> Info(
      absl::string_view fingerprint) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Counts one more exchange under way; false when max_in_flight are.
  bool Admit() ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const CredentialStore* const credentials_;
  const Clock* const clock_;
  const UpstreamExchange exchange_;

  mutable Mutex mu_;
  // Oldest first; at most options_.retained.
  std::deque<mypos::token::v1::TokenInfo> recent_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_GRANT_EXCHANGE_H_
