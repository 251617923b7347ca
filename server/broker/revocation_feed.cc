#include "server/broker/revocation_feed.h"

#include <utility>

namespace tokenservice {

uint64_t RevocationFeed::Subscribe(Subscriber subscriber) {
  MutexLock lock(&mu_);
  const uint64_t id = ++next_id_;
  subscribers_.emplace(id, std::move(subscriber));
  return id;
}

void RevocationFeed::Unsubscribe(uint64_t id) {
  MutexLock lock(&mu_);
  subscribers_.erase(id);
}

void RevocationFeed::Publish(absl::string_view fingerprint) {
  MutexLock lock(&mu_);
  for (auto& [id, subscriber] : subscribers_) subscriber(fingerprint);
}

size_t RevocationFeed::subscribers() const {
  MutexLock lock(&mu_);
  return subscribers_.size();
}

}  // namespace tokenservice
