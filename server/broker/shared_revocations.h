// SharedRevocations: how the broker shares its revocations with the other
// replicas of a fleet (server/fleet implements it over etcd). Without a
// fleet the broker has none and revokes only here.
//
// The broker calls Share when a token is revoked here (a caller's Revoke)
// and answers the caller once `done` has run, with the reach it reports;
// the implementation hands the other replicas' revocations to
// TokenBroker::ApplySharedRevocation.

#ifndef SERVER_BROKER_SHARED_REVOCATIONS_H_
#define SERVER_BROKER_SHARED_REVOCATIONS_H_

#include <cstddef>

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tokenservice {

// How far a shared revocation got when Share answered.
struct RevocationReach {
  // Received by the shared store; false while it is unreachable (the
  // implementation then shares it once the store is back).
  bool published = false;
  // Replicas that had applied it (this one included), out of those live.
  int confirmed = 0;
  int live = 0;
};

// How the sharing stands, for GetTokenInfo.
struct SharingHealth {
  // False while the shared store is unreachable (degraded).
  bool connected = false;
  int live = 0;            // replicas seen, this one included
  size_t unpublished = 0;  // revocations the store has not received
};

// Thread-safe.
class SharedRevocations {
 public:
  using ShareCallback = absl::AnyInvocable<void(RevocationReach) &&>;

  virtual ~SharedRevocations() = default;

  // Shares the revocation of the token with `fingerprint`, usable until
  // `expires`, and calls `done` exactly once, on a thread of the
  // implementation's, within a bound the implementation documents.
  virtual void Share(absl::string_view fingerprint, absl::Time expires,
                     ShareCallback done) = 0;

  // How the sharing stands now.
  virtual SharingHealth Health() const = 0;
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_SHARED_REVOCATIONS_H_
