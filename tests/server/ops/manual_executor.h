// ManualExecutor: a queue of tasks that run only when the test says, on the
// test's thread, so tests control exactly when "myPOS" answers.

#ifndef TESTS_SERVER_OPS_MANUAL_EXECUTOR_H_
#define TESTS_SERVER_OPS_MANUAL_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace tokenservice {

// Thread-safe.
class ManualExecutor {
 public:
  // Refuses tasks beyond `capacity` queued ones.
  explicit ManualExecutor(size_t capacity = 1000) : capacity_(capacity) {}

  // Queues `task`; false (not queued) beyond the capacity.
  bool Schedule(absl::AnyInvocable<void() &&> task) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (tasks_.size() >= capacity_) return false;
    tasks_.push_back(std::move(task));
    return true;
  }

  size_t pending() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return tasks_.size();
  }

  // Runs queued tasks, including ones they queue, until none is left.
  // Returns how many ran.
  int RunAll() ABSL_LOCKS_EXCLUDED(mu_) {
    int ran = 0;
    while (true) {
      absl::AnyInvocable<void() &&> task;
      {
        MutexLock lock(&mu_);
        if (tasks_.empty()) return ran;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      std::move(task)();
      ++ran;
    }
  }

 private:
  const size_t capacity_;
  mutable Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // TESTS_SERVER_OPS_MANUAL_EXECUTOR_H_
