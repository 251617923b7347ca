// FakeTimers: Timers that run their tasks only when a test advances the
// FakeClock through them, on the test's thread, so that a test of a backoff
// or a deadline never sleeps.

#ifndef TESTS_BASE_FAKE_TIMERS_H_
#define TESTS_BASE_FAKE_TIMERS_H_

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "base/timers.h"
#include "tests/base/fake_clock.h"

namespace tokenservice {

// Thread-safe. Borrows the clock.
class FakeTimers final : public Timers {
 public:
  explicit FakeTimers(FakeClock* clock) : clock_(clock) {}

  TimerId RunAt(absl::Time when, Task task) override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return queue_.Add(when, std::move(task));
  }

  void Cancel(TimerId id) override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    queue_.Remove(id);
  }

  // Moves the clock forward by `d`, stopping at each task's time on the
  // way to run it (tasks that tasks add included); returns how many ran.
  int Advance(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_) {
    const absl::Time end = clock_->Now() + d;
    int ran = 0;
    while (true) {
      Task task;
      {
        MutexLock lock(&mu_);
        const absl::Time next = queue_.next();
        if (next > end) break;
        if (next > clock_->Now()) clock_->Advance(next - clock_->Now());
        queue_.PopDue(next, &task);
      }
      std::move(task)();
      ++ran;
    }
    if (end > clock_->Now()) clock_->Advance(end - clock_->Now());
    return ran;
  }

  // Runs the tasks due now, without moving the clock.
  int RunDue() { return Advance(absl::ZeroDuration()); }

  // How many tasks wait.
  size_t pending() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return queue_.size();
  }

  // When the first waiting task is due (InfiniteFuture: none waits).
  absl::Time next() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return queue_.next();
  }

 private:
  FakeClock* const clock_;
  mutable Mutex mu_;
  TimerQueue queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // TESTS_BASE_FAKE_TIMERS_H_
