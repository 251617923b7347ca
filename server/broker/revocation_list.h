// RevocationList: the one source of truth for "revoked".
//
// A fingerprint on the list is of a token that must never be handed out
// again. It stays listed until the token would have expired anyway, so the
// list forgets nothing that could still be used and keeps nothing that
// could not. The token cache consults it before it stores a token, and adds
// to it when it drops a revoked one, both under its own lock, so that no
// cache entry ever holds a listed fingerprint. A fleet of replicas shares
// its revocations through an implementation of this interface.

#ifndef SERVER_BROKER_REVOCATION_LIST_H_
#define SERVER_BROKER_REVOCATION_LIST_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"

namespace tokenservice {

// Thread-safe. Implementations never call back into their caller, so they
// may be called under the caller's lock.
class RevocationList {
 public:
  virtual ~RevocationList() = default;

  // Lists `fingerprint` until `expires` (the token's expiry time).
  virtual void Add(absl::string_view fingerprint, absl::Time expires) = 0;

  // True when `fingerprint` is listed and its token has not expired at
  // `now`.
  virtual bool Contains(absl::string_view fingerprint,
                        absl::Time now) const = 0;
};

// This process's list, in memory. Expired fingerprints are dropped as new
// ones are added (at `clock`'s time), so it holds about as many entries as
// there are revoked tokens that are still valid. Thread-safe. Borrows
// `clock`, which must outlive it.
class LocalRevocationList final : public RevocationList {
 public:
  explicit LocalRevocationList(const Clock* clock) : clock_(clock) {}

  void Add(absl::string_view fingerprint, absl::Time expires) override
      ABSL_LOCKS_EXCLUDED(mu_);
  bool Contains(absl::string_view fingerprint, absl::Time now) const override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Fingerprints listed, expired ones not yet dropped included.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Drops the entries that expired before `now`.
  void DropExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  mutable Mutex mu_;
  // Fingerprint -> expiry of its token.
  absl::flat_hash_map<std::string, absl::Time> expires_ ABSL_GUARDED_BY(mu_);
  // The earliest expiry in expires_, so most Adds skip the sweep.
  absl::Time next_expiry_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_REVOCATION_LIST_H_
