// Cancellation: how work done for a caller hears that the caller has gone
// (it cancelled, or its deadline passed), so that it lets go of the caller
// at once instead of when the work ends.

#ifndef BASE_CANCELLATION_H_
#define BASE_CANCELLATION_H_

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "base/mutex.h"

namespace tokenservice {

// Thread-safe.
class Cancellation {
 public:
  using Listener = absl::AnyInvocable<void() &&>;

  // `listener` runs once the caller has gone, inside Cancel(). One
  // listener at a time: a new one replaces (destroys) the one before.
  // Returns false, and keeps nothing, when the caller has already gone.
  bool Listen(Listener listener) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (cancelled_) return false;
    listener_ = std::move(listener);
    return true;
  }

  // The caller has gone. Runs the listener, if any, once.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_) {
    Listener listener;
    {
      MutexLock lock(&mu_);
      if (cancelled_) return;
      cancelled_ = true;
      listener = std::move(listener_);
    }
    if (listener) std::move(listener)();
  }

 private:
  Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  Listener listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // BASE_CANCELLATION_H_
