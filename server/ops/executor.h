// Executor: where the broker runs upstream work, off the gRPC threads.

#ifndef SERVER_OPS_EXECUTOR_H_
#define SERVER_OPS_EXECUTOR_H_

#include "absl/functional/any_invocable.h"

namespace tokenservice {

// Thread-safe.
class Executor {
 public:
  virtual ~Executor() = default;

  // Queues `task` to run once, on some thread, never inside this call
  // (callers may hold locks the task takes). Returns false, without running
  // it, when the executor is full or shutting down.
  virtual bool Schedule(absl::AnyInvocable<void() &&> task) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_OPS_EXECUTOR_H_
