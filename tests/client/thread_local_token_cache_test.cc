// ThreadLocalTokenCache: what a thread finds after Store, Invalidate, in
// another thread, and in another cache.

#include "client/thread_local_token_cache.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace tokenservice {
namespace {

using TokenPtr = ThreadLocalTokenCache::TokenPtr;

TokenPtr MakeToken(const std::string& access_token) {
  auto token = std::make_shared<Token>();
  token->access_token = access_token;
  return token;
}

TEST(ThreadLocalTokenCache, FindBeforeStoreReturnsNull) {
  ThreadLocalTokenCache cache;
  EXPECT_EQ(cache.Find("k"), nullptr);
}

TEST(ThreadLocalTokenCache, StoreReturnsOwnHandleOnTheSameToken) {
  ThreadLocalTokenCache cache;
  const TokenPtr shared = MakeToken("tok-1");
  const TokenPtr mine = cache.Store("k", cache.generation(), shared);
  EXPECT_EQ(mine.get(), shared.get());
  EXPECT_EQ(shared.use_count(), 2);  // the handle's deleter holds one
  // Copies of the handle count on its own control block.
  const TokenPtr copy = mine;
  EXPECT_EQ(shared.use_count(), 2);
  ASSERT_NE(cache.Find("k"), nullptr);
  EXPECT_EQ(cache.Find("k")->get(), shared.get());
  EXPECT_EQ(cache.Find("other"), nullptr);
}

TEST(ThreadLocalTokenCache, FindAfterInvalidateReturnsNull) {
  ThreadLocalTokenCache cache;
  cache.Store("k", cache.generation(), MakeToken("tok-1"));
  cache.Invalidate();
  EXPECT_EQ(cache.Find("k"), nullptr);
}

TEST(ThreadLocalTokenCache, StoreWithGenerationReadBeforeInvalidateIsStale) {
  ThreadLocalTokenCache cache;
  const uint64_t generation = cache.generation();
  cache.Invalidate();  // the token changed after it was read
  cache.Store("k", generation, MakeToken("tok-1"));
  EXPECT_EQ(cache.Find("k"), nullptr);
}

TEST(ThreadLocalTokenCache, StoreDropsThisThreadsStaleHandles) {
  ThreadLocalTokenCache cache;
  const TokenPtr old_token = MakeToken("tok-1");
  cache.Store("a", cache.generation(), old_token);
  cache.Invalidate();
  cache.Store("b", cache.generation(), MakeToken("tok-2"));
  EXPECT_EQ(old_token.use_count(), 1);  // "a"'s handle is gone
}

TEST(ThreadLocalTokenCache, StoreOnOneThreadIsNotFoundOnAnother) {
  ThreadLocalTokenCache cache;
  cache.Store("k", cache.generation(), MakeToken("tok-1"));
  bool found_there = true;
  std::thread([&] { found_there = cache.Find("k") != nullptr; }).join();
  EXPECT_FALSE(found_there);
  EXPECT_NE(cache.Find("k"), nullptr);
}

TEST(ThreadLocalTokenCache, InvalidateOnAnotherThreadMakesHandleStale) {
  ThreadLocalTokenCache cache;
  cache.Store("k", cache.generation(), MakeToken("tok-1"));
  std::thread([&] { cache.Invalidate(); }).join();
  EXPECT_EQ(cache.Find("k"), nullptr);
}

TEST(ThreadLocalTokenCache, TwoCachesDoNotShareHandles) {
  ThreadLocalTokenCache a, b;
  a.Store("k", a.generation(), MakeToken("tok-a"));
  EXPECT_EQ(b.Find("k"), nullptr);
  b.Store("k", b.generation(), MakeToken("tok-b"));
  EXPECT_EQ((*a.Find("k"))->access_token, "tok-a");
  EXPECT_EQ((*b.Find("k"))->access_token, "tok-b");
}

TEST(ThreadLocalTokenCache, NewCacheAtADestroyedOnesAddressFindsNothing) {
  std::optional<ThreadLocalTokenCache> cache;
  cache.emplace();
  const ThreadLocalTokenCache* first = &*cache;
  cache->Store("k", cache->generation(), MakeToken("tok-1"));
  cache.reset();
  cache.emplace();  // same storage, same generation (0)
  ASSERT_EQ(&*cache, first);
  EXPECT_EQ(cache->Find("k"), nullptr);
}

TEST(ThreadLocalTokenCache, StoreReleasesHandlesOfDestroyedCaches) {
  const TokenPtr token = MakeToken("tok-1");
  {
    ThreadLocalTokenCache gone;
    gone.Store("k", gone.generation(), token);
    EXPECT_EQ(token.use_count(), 2);
  }
  ThreadLocalTokenCache next;
  next.Store("k", next.generation(), MakeToken("tok-2"));
  EXPECT_EQ(token.use_count(), 1);
}

TEST(ThreadLocalTokenCache, ThreadExitReleasesItsHandles) {
  ThreadLocalTokenCache cache;
  const TokenPtr token = MakeToken("tok-1");
  std::thread([&] { cache.Store("k", cache.generation(), token); }).join();
  EXPECT_EQ(token.use_count(), 1);
}

}  // namespace
}  // namespace tokenservice
