// FaultInjector: the fake myPOS's canned faults and latency. A test queues
// faults per endpoint; each replaces the normal handling of one request.
// Waits happen inside the server and end early on Stop() (a request held
// forever ends there too), so tests never sleep themselves. Thread-safe.

#ifndef FAKE_MYPOS_FAULT_INJECTOR_H_
#define FAKE_MYPOS_FAULT_INJECTOR_H_

#include <httplib.h>

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/mutex.h"

namespace tokenservice {
namespace fake_mypos {

// A canned reply that replaces the normal handling of one request.
struct Fault {
  int status = 500;
  std::string body;  // sent as application/json unless headers say else
  std::vector<std::pair<std::string, std::string>> headers;
  absl::Duration delay;  // waited before replying
  // When set, the reply announces the whole body but the connection is
  // closed after this many bytes of it.
  std::optional<size_t> drop_after_bytes;
};

enum class Endpoint { kToken, kRevoke };

// Thread-safe.
class FaultInjector {
 public:
  // The next request to `endpoint` (first in, first out) gets `fault`.
  void Enqueue(Endpoint endpoint, Fault fault) ABSL_LOCKS_EXCLUDED(mu_);

  // Every later Reply() first waits `latency`.
  void SetLatency(absl::Duration latency) ABSL_LOCKS_EXCLUDED(mu_);

  // Takes the next fault queued for `endpoint`, if any.
  std::optional<Fault> Next(Endpoint endpoint) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits the latency, then, when `fault` is set, its delay, and writes it.
  // Returns whether it wrote a fault.
  bool Reply(const std::optional<Fault>& fault, httplib::Response& res) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Cuts every wait, current and later, short.
  void Stop() { stopping_.Notify(); }

  // Returns once Stop() has been called: how a request that is never
  // answered waits.
  void AwaitStop() const { stopping_.WaitForNotification(); }

 private:
  void Delay(absl::Duration delay) const;

  absl::Notification stopping_;
  mutable Mutex mu_;
  absl::Duration latency_ ABSL_GUARDED_BY(mu_);
  std::deque<Fault> token_faults_ ABSL_GUARDED_BY(mu_);
  std::deque<Fault> revoke_faults_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_mypos
}  // namespace tokenservice

#endif  // FAKE_MYPOS_FAULT_INJECTOR_H_
