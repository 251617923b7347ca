#include "server/broker/revocation_list.h"

#include <algorithm>

namespace tokenservice {

void LocalRevocationList::Add(absl::string_view fingerprint,
                              absl::Time expires) {
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  if (next_expiry_ <= now) DropExpiredLocked(now);
  absl::Time& listed = expires_[fingerprint];
  listed = std::max(listed, expires);
  next_expiry_ = std::min(next_expiry_, expires);
}

bool LocalRevocationList::Contains(absl::string_view fingerprint,
                                   absl::Time now) const {
  ReaderMutexLock lock(&mu_);
  auto it = expires_.find(fingerprint);
  return it != expires_.end() && now < it->second;
}

size_t LocalRevocationList::size() const {
  ReaderMutexLock lock(&mu_);
  return expires_.size();
}

void LocalRevocationList::DropExpiredLocked(absl::Time now) {
  next_expiry_ = absl::InfiniteFuture();
  for (auto it = expires_.begin(); it != expires_.end();) {
    if (it->second <= now) {
      expires_.erase(it++);
    } else {
      next_expiry_ = std::min(next_expiry_, it->second);
      ++it;
    }
  }
}

}  // namespace tokenservice
