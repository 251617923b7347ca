#include "fake_mypos/fault_injector.h"

#include <utility>

#include "fake_mypos/oauth_reply.h"

namespace tokenservice {
namespace fake_mypos {

void FaultInjector::Enqueue(Endpoint endpoint, Fault fault) {
  MutexLock lock(&mu_);
  (endpoint == Endpoint::kToken ? token_faults_ : revoke_faults_)
      .push_back(std::move(fault));
}

void FaultInjector::SetLatency(absl::Duration latency) {
  MutexLock lock(&mu_);
  latency_ = latency;
}

std::optional<Fault> FaultInjector::Next(Endpoint endpoint) {
  MutexLock lock(&mu_);
  std::deque<Fault>& faults =
      endpoint == Endpoint::kToken ? token_faults_ : revoke_faults_;
  if (faults.empty()) return std::nullopt;
  Fault fault = std::move(faults.front());
  faults.pop_front();
  return fault;
}

bool FaultInjector::Reply(const std::optional<Fault>& fault,
                          httplib::Response& res) const {
  absl::Duration latency;
  {
    MutexLock lock(&mu_);
    latency = latency_;
  }
  Delay(latency);
  if (!fault) return false;
  Delay(fault->delay);
  WriteFault(res, fault->status, fault->body, fault->headers,
             fault->drop_after_bytes);
  return true;
}

void FaultInjector::Delay(absl::Duration delay) const {
  if (delay > absl::ZeroDuration()) {
    stopping_.WaitForNotificationWithTimeout(delay);
  }
}

}  // namespace fake_mypos
}  // namespace tokenservice
