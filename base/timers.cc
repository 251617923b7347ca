#include "base/timers.h"

#include <utility>

#include "absl/time/clock.h"

namespace tokenservice {

TimerId TimerQueue::Add(absl::Time when, Timers::Task task) {
  const TimerId id{when, ++sequence_};
  tasks_.emplace(id, std::move(task));
  return id;
}

absl::Time TimerQueue::next() const {
  return tasks_.empty() ? absl::InfiniteFuture() : tasks_.begin()->first.when;
}

bool TimerQueue::PopDue(absl::Time now, Timers::Task* task) {
  if (tasks_.empty() || tasks_.begin()->first.when > now) return false;
  *task = std::move(tasks_.begin()->second);
  tasks_.erase(tasks_.begin());
  return true;
}

ThreadTimers::ThreadTimers() : thread_([this] { Loop(); }) {}

ThreadTimers::~ThreadTimers() {
  {
    MutexLock lock(&mu_);
    shutting_down_ = true;
    exiting_ = true;
    ++changes_;
  }
  thread_.join();
}

TimerId ThreadTimers::RunAt(absl::Time when, Task task) {
  MutexLock lock(&mu_);
  ++changes_;
  return queue_.Add(when, std::move(task));
}

void ThreadTimers::Cancel(TimerId id) {
  MutexLock lock(&mu_);
  queue_.Remove(id);
}

void ThreadTimers::Shutdown() {
  MutexLock lock(&mu_);
  shutting_down_ = true;
  ++changes_;
}

void ThreadTimers::Drain() {
  Shutdown();
  MutexLock lock(&mu_);
  auto idle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return queue_.empty() && !running_;
  };
  mu_.Await(absl::Condition(&idle));
}

bool ThreadTimers::Idle() {
  MutexLock lock(&mu_);
  return queue_.empty() && !running_;
}

void ThreadTimers::Loop() {
  while (true) {
    Task task;
    {
      MutexLock lock(&mu_);
      running_ = false;
      while (true) {
        const absl::Time now =
            shutting_down_ ? absl::InfiniteFuture() : absl::Now();
        if (queue_.PopDue(now, &task)) {
          running_ = true;
          break;
        }
        if (exiting_ && queue_.empty()) return;
        const uint64_t seen = changes_;
        auto changed = [this, seen]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return changes_ != seen;
        };
        mu_.AwaitWithDeadline(absl::Condition(&changed), queue_.next());
      }
    }
    std::move(task)();
  }
}

}  // namespace tokenservice
