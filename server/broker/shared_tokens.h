// SharedTokens: how the broker shares the tokens it fetches with the other
// replicas of a fleet, so that the fleet asks myPOS once per key (server/
// fleet implements it over etcd). Without a fleet the broker has none and
// every replica fetches for itself.
//
// The broker hands each fetch of a configured profile's token (a caller's
// miss or a background refresh) to Fetch, with the request to myPOS it
// would have made. The implementation answers with a token another
// replica stored when `acceptable` takes it; otherwise one replica of the
// fleet makes the request and stores what it got, and the others take
// that. Where the fleet cannot be asked (its store is unreachable, this
// replica is leaving), it makes the request here: a fleet that lost its
// store degrades to replicas that each fetch for themselves, never to one
// that cannot fetch.

#ifndef SERVER_BROKER_SHARED_TOKENS_H_
#define SERVER_BROKER_SHARED_TOKENS_H_

#include <functional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/broker/credential_store.h"
#include "server/broker/upstream_exchange.h"

namespace tokenservice {

// Thread-safe.
class SharedTokens {
 public:
  using TokenDone = absl::AnyInvocable<void(absl::StatusOr<ExchangedToken>) &&>;
  // Makes the request to myPOS and calls its argument with the outcome.
  using UpstreamFetch = absl::AnyInvocable<void(TokenDone) &&>;
  // Whether a token another replica stored will do for this fetch (not
  // revoked, not the one being replaced, valid for long enough).
  using Acceptable = std::function<bool(const CachedToken&)>;
  using FindDone = absl::AnyInvocable<void(absl::StatusOr<CachedToken>) &&>;

  virtual ~SharedTokens() = default;

  // A token for the cache key `key` of the configured `profile` (copied):
  // a stored one `acceptable` takes, or the outcome of `fetch`, called at
  // most once, here or not at all. Calls `done` exactly once, on a thread
  // of the implementation's or of `fetch`'s.
  virtual void Fetch(const CredentialProfile& profile, const std::string& key,
                     Acceptable acceptable, UpstreamFetch fetch,
                     TokenDone done) = 0;

  // The token with `fingerprint` that some replica stored, whatever its
  // profile; kNotFound when there is none (or the store cannot be asked).
  // Calls `done` exactly once, on any thread.
  virtual void Find(absl::string_view fingerprint, FindDone done) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_SHARED_TOKENS_H_
