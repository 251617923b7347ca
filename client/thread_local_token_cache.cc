#include "client/thread_local_token_cache.h"

#include "absl/container/flat_hash_map.h"

namespace tokenservice {
namespace {

using TokenPtr = ThreadLocalTokenCache::TokenPtr;

struct Slot {
  TokenPtr token;  // this thread's own control block
  uint64_t generation;
};

struct OwnerSlots {
  std::weak_ptr<const char> alive;               // the owning cache's `alive_`
  absl::flat_hash_map<std::string, Slot> slots;  // by cache key
};

// One per thread, keyed by cache id: built on the thread's first use,
// destroyed (releasing its handles) when the thread exits.
absl::flat_hash_map<uint64_t, OwnerSlots>& ThisThreadsTable() {
  thread_local absl::flat_hash_map<uint64_t, OwnerSlots> table;
  return table;
}

uint64_t NewId() {
  // Ids are never reused, unlike addresses (64 bits do not wrap).
  static std::atomic<uint64_t> next_id{1};
  return next_id.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

ThreadLocalTokenCache::ThreadLocalTokenCache()
    : id_(NewId()), alive_(std::make_shared<const char>()) {}

const TokenPtr* ThreadLocalTokenCache::Find(const std::string& key) const {
  const auto& table = ThisThreadsTable();
  const auto owner = table.find(id_);
  if (owner == table.end()) return nullptr;
  const auto slot = owner->second.slots.find(key);
  if (slot == owner->second.slots.end() ||
      slot->second.generation != generation_.load(std::memory_order_acquire)) {
    return nullptr;
  }
  return &slot->second.token;
}

TokenPtr ThreadLocalTokenCache::Store(const std::string& key,
                                      uint64_t generation,
                                      const TokenPtr& token) const {
  auto& table = ThisThreadsTable();
  // Rare (once per token change per thread), so sweeping here is cheap and
  // bounds what a long-lived thread keeps for caches that are gone.
  for (auto it = table.begin(); it != table.end();) {
    if (it->first != id_ && it->second.alive.expired()) {
      table.erase(it++);
    } else {
      ++it;
    }
  }
  OwnerSlots& mine = table[id_];
  if (mine.alive.expired()) mine.alive = alive_;
  auto& slots = mine.slots;
  for (auto it = slots.begin(); it != slots.end();) {
    if (it->second.generation != generation) {
      slots.erase(it++);  // stale: Find would never return it
    } else {
      ++it;
    }
  }
  // A handle with a control block of its own, whose deleter holds the
  // shared handle: copies of it count here, not on the shared block.
  Slot& slot = slots[key];
  slot.token = TokenPtr(token.get(), [keep = token](const Token*) {});
  slot.generation = generation;
  return slot.token;
}

}  // namespace tokenservice
