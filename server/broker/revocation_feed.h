// RevocationFeed: tells its subscribers (the WatchRevocations streams,
// server/rpc) of every token revoked here, by fingerprint: by a Revoke on
// this replica, or one another replica of the fleet shared.

#ifndef SERVER_BROKER_REVOCATION_FEED_H_
#define SERVER_BROKER_REVOCATION_FEED_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "base/mutex.h"

namespace tokenservice {

// Thread-safe.
class RevocationFeed {
 public:
  // Called under the feed's lock: must be quick, must not block, and must
  // not call back into the feed.
  using Subscriber = std::function<void(absl::string_view fingerprint)>;

  // Calls `subscriber` for every fingerprint published from now on, until
  // Unsubscribe(id). Returns the id.
  uint64_t Subscribe(Subscriber subscriber) ABSL_LOCKS_EXCLUDED(mu_);
  // Once it returns, the subscriber is never called again.
  void Unsubscribe(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  void Publish(absl::string_view fingerprint) ABSL_LOCKS_EXCLUDED(mu_);

  size_t subscribers() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_REVOCATION_FEED_H_
