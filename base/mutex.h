// tokenservice::Mutex: absl::Mutex, except under ThreadSanitizer.
//
// Production builds use absl::Mutex (and absl::MutexLock,
// absl::ReaderMutexLock) unchanged: these names are aliases. Debian ships
// Abseil as uninstrumented shared libraries, so under ThreadSanitizer
// absl::Mutex's lock and unlock are invisible and every guarded field
// would be reported as racing. In `--config=tsan` builds the same names
// are a small reader/writer mutex on std::shared_mutex, which TSAN
// understands, with the subset of absl::Mutex's API this project uses
// (Lock, Unlock, ReaderLock, ReaderUnlock, Await, AwaitWithDeadline). TSAN then
// checks our lock discipline; absl::Mutex itself is Abseil's to test.

#ifndef BASE_MUTEX_H_
#define BASE_MUTEX_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#if defined(__SANITIZE_THREAD__)
#define TOKENSERVICE_TSAN_MUTEX 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TOKENSERVICE_TSAN_MUTEX 1
#endif
#endif

#ifdef TOKENSERVICE_TSAN_MUTEX
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#endif

namespace tokenservice {

#ifndef TOKENSERVICE_TSAN_MUTEX

using Mutex = absl::Mutex;
using MutexLock = absl::MutexLock;
using ReaderMutexLock = absl::ReaderMutexLock;

#else

// Thread-safe.
class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    // Wakes Await() callers to re-check; before unlocking, so that a waiter
    // that then finds its condition met and destroys this mutex (a stack
    // object a callback signals) cannot do so while we still touch it.
    changed_.notify_all();
    mu_.unlock();
  }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }

  // Like absl::Mutex::Await: with the lock held exclusively, waits until
  // `condition` holds, releasing the lock meanwhile.
  void Await(const absl::Condition& condition) {
    std::unique_lock<std::shared_mutex> lock(mu_, std::adopt_lock);
    // Waiting releases the lock, as Unlock() does: wake the other waiters
    // too, since this thread may have changed what they wait for.
    changed_.notify_all();
    changed_.wait(lock, [&condition] { return condition.Eval(); });
    lock.release();
  }
  // Like absl::Mutex::AwaitWithDeadline: Await, giving up at `deadline`;
  // true if `condition` holds.
  bool AwaitWithDeadline(const absl::Condition& condition,
                         absl::Time deadline) {
    if (deadline == absl::InfiniteFuture()) {
      Await(condition);
      return true;
    }
    std::unique_lock<std::shared_mutex> lock(mu_, std::adopt_lock);
    changed_.notify_all();
    const bool met =
        changed_.wait_until(lock, absl::ToChronoTime(deadline),
                            [&condition] { return condition.Eval(); });
    lock.release();
    return met;
  }

 private:
  std::shared_mutex mu_;
  std::condition_variable_any changed_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(Mutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->ReaderLock();
  }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  Mutex* const mu_;
};

#endif  // TOKENSERVICE_TSAN_MUTEX

}  // namespace tokenservice

#endif  // BASE_MUTEX_H_
