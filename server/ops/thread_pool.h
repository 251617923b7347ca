// ThreadPool: a fixed set of worker threads behind a bounded queue.
//
// Upstream requests block on the network, so they run here rather than on
// gRPC's threads. The queue bound keeps memory bounded under a flood of
// cache misses: Schedule() refuses work instead of growing without limit.

#ifndef SERVER_OPS_THREAD_POOL_H_
#define SERVER_OPS_THREAD_POOL_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "server/ops/executor.h"

namespace tokenservice {

// Thread-safe.
class ThreadPool final : public Executor {
 public:
  // Starts `threads` workers (at least 1) that take tasks from a queue
  // holding at most `max_queued` tasks that no worker has started.
  ThreadPool(int threads, size_t max_queued);

  // Runs every task still queued (none after Stop()), then joins the
  // workers.
  ~ThreadPool() override;

  // Refuses new tasks and drops the queued ones that no worker has
  // started (destroying them unrun); tasks already running finish. For
  // shutdown, when nobody waits for the results any more.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  bool Schedule(absl::AnyInvocable<void() &&> task) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until no task is queued or running, or until `deadline`. True
  // when idle.
  bool AwaitIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Work() ABSL_LOCKS_EXCLUDED(mu_);

  const size_t max_queued_;
  mutable Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> workers_;
};

}  // namespace tokenservice

#endif  // SERVER_OPS_THREAD_POOL_H_
