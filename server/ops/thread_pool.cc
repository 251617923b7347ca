#include "server/ops/thread_pool.h"

#include <algorithm>
#include <utility>

namespace tokenservice {

ThreadPool::ThreadPool(int threads, size_t max_queued)
    : max_queued_(max_queued) {
  threads = std::max(threads, 1);
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

ThreadPool::~ThreadPool() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::Stop() {
  std::deque<absl::AnyInvocable<void() &&>> dropped;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  // `dropped` is destroyed here, outside the lock: a task's captures may
  // run code of their own when destroyed.
}

bool ThreadPool::Schedule(absl::AnyInvocable<void() &&> task) {
  MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(task));
  return true;
}

bool ThreadPool::AwaitIdle(absl::Time deadline) {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      absl::Condition(
          +[](ThreadPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->queue_.empty() && pool->running_ == 0;
          },
          this),
      deadline);
}

void ThreadPool::Work() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->stopping_ || !pool->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    std::move(task)();
    task = nullptr;  // its captures go before the task counts as done
    MutexLock lock(&mu_);
    --running_;
  }
}

}  // namespace tokenservice
