// ThreadLocalTokenCache: each thread's own handles on one TokenClient's
// tokens, so that a cache hit takes no lock and writes no memory that
// another thread uses.
//
// Why: with a shared map behind a reader lock, every hit writes the lock
// word and the token's shared_ptr reference count, and two cores calling
// GetToken bounce those cache lines between them (several times the cost of
// the lookup itself). Here each thread holds its own TokenPtr with its own
// control block (which in turn keeps the shared one alive), so copying it
// touches only the calling thread's counter; the only shared word a hit
// reads is the generation, which changes only when a token does.
//
//   // Under the owner's lock, having read `token`, its current token for
//   // `key`:
//   const uint64_t generation = cache.generation();
//   // After unlocking, on the thread that will ask again:
//   cache.Store(key, generation, token);
//   // Any later call on that thread, without a lock:
//   if (const TokenPtr* mine = cache.Find(key)) return *mine;
//   // Under the owner's lock, whenever it replaces or drops any token:
//   cache.Invalidate();

#ifndef CLIENT_THREAD_LOCAL_TOKEN_CACHE_H_
#define CLIENT_THREAD_LOCAL_TOKEN_CACHE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "client/token.h"

namespace tokenservice {

// Thread-safe: each thread reads and writes only its own table;
// Invalidate() and generation() are atomic.
//
// Every instance has an id that no other instance in the process has had
// or will have, so a new cache (even at a destroyed one's address) never
// finds the old one's entries. Memory: each thread that calls Store keeps
// at most one handle per key of this cache (and so keeps that Token alive)
// until it exits or its next Store on this cache after an Invalidate(); a
// destroyed cache's handles go at the thread's next Store on any cache, or
// when it exits. A handle is never returned once stale. Not for use from
// the destructor of another thread_local object: the table may be gone.
class ThreadLocalTokenCache {
 public:
  using TokenPtr = std::shared_ptr<const Token>;

  ThreadLocalTokenCache();
  ThreadLocalTokenCache(const ThreadLocalTokenCache&) = delete;
  ThreadLocalTokenCache& operator=(const ThreadLocalTokenCache&) = delete;

  // The calling thread's handle for `key`, or null when it has none stored
  // at the current generation. The pointer is valid until this thread's
  // next Store on any cache. Checks nothing else (expiry is the caller's).
  const TokenPtr* Find(const std::string& key) const;

  // Makes every handle stored so far stale, in every thread. Call it
  // whenever the owner's token for any key changes or is dropped, before
  // the new state can be read, and serialised with the reads of
  // generation() that pair a generation with a token (the owner's lock).
  void Invalidate() { generation_.fetch_add(1, std::memory_order_release); }

  // The current generation. Read it together with the token it vouches
  // for, under the lock that Invalidate() is called under.
  uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

  // Gives the calling thread its own handle on `token` for `key`, valid
  // while the generation is still `generation`, and returns a copy. Drops
  // this thread's stale handles of this cache and of destroyed caches.
  TokenPtr Store(const std::string& key, uint64_t generation,
                 const TokenPtr& token) const;

 private:
  const uint64_t id_;
  // Other threads' tables hold a weak_ptr to it: expired means this cache
  // is gone and its entries there can be dropped.
  const std::shared_ptr<const char> alive_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace tokenservice

#endif  // CLIENT_THREAD_LOCAL_TOKEN_CACHE_H_
