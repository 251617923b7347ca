// Timers: where TokenService waits. Nothing of ours ever sleeps on a thread
// to let time pass (a retry's backoff, a Retry-After, a caller's deadline):
// it asks Timers to run the next step then, and the thread goes on.
//
// ThreadTimers runs tasks on one thread of its own against the system
// clock; tests use FakeTimers (tests/base/fake_timers.h), which runs them
// when the test advances its FakeClock.

#ifndef BASE_TIMERS_H_
#define BASE_TIMERS_H_

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "base/mutex.h"

namespace tokenservice {

// Names one task given to Timers, for Cancel().
struct TimerId {
  absl::Time when;
  uint64_t sequence = 0;
  friend bool operator<(const TimerId& a, const TimerId& b) {
    return std::make_pair(a.when, a.sequence) <
           std::make_pair(b.when, b.sequence);
  }
};

// Thread-safe.
class Timers {
 public:
  using Task = absl::AnyInvocable<void() &&>;

  virtual ~Timers() = default;

  // Runs `task` once, at or after `when`, on the timers' thread: never
  // inside this call, so the caller may hold locks the task takes. Tasks
  // due at the same time run in the order they were given.
  virtual TimerId RunAt(absl::Time when, Task task) = 0;

  // Destroys the task `id` unrun if it has not started; no effect after.
  virtual void Cancel(TimerId id) = 0;
};

// The tasks waiting, in the order they are due; for Timers implementations.
// Thread-compatible.
class TimerQueue {
 public:
  TimerId Add(absl::Time when, Timers::Task task);
  void Remove(TimerId id) { tasks_.erase(id); }
  bool empty() const { return tasks_.empty(); }
  size_t size() const { return tasks_.size(); }
  // When the first task is due; InfiniteFuture when none waits.
  absl::Time next() const;
  // Removes and returns the first task if it is due at `now`.
  bool PopDue(absl::Time now, Timers::Task* task);

 private:
  uint64_t sequence_ = 0;
  std::map<TimerId, Timers::Task> tasks_;
};

// Timers on one thread of its own and the system clock. Thread-safe.
class ThreadTimers final : public Timers {
 public:
  ThreadTimers();
  // Shutdown(), then runs what is left and joins the thread.
  ~ThreadTimers() override;
  ThreadTimers(const ThreadTimers&) = delete;
  ThreadTimers& operator=(const ThreadTimers&) = delete;

  TimerId RunAt(absl::Time when, Task task) override ABSL_LOCKS_EXCLUDED(mu_);
  void Cancel(TimerId id) override ABSL_LOCKS_EXCLUDED(mu_);

  // From now on every task, waiting or new, runs as soon as the thread
  // gets to it, whatever its time: for the server's shutdown, when a
  // retry's backoff would only delay an answer that is already known.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // Shutdown(), then waits until no task waits or runs.
  void Drain() ABSL_LOCKS_EXCLUDED(mu_);

  // Whether no task waits or runs.
  bool Idle() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  Mutex mu_;
  TimerQueue queue_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool exiting_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // a task, outside the lock
  // Bumped by every change the loop must see before it sleeps again.
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace tokenservice

#endif  // BASE_TIMERS_H_
