#include "server/thread_pool.h"

#include <atomic>

#include <future>
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

TEST(ThreadPool, RunsEveryScheduledTaskBeforeDestruction) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(2, 100);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(pool.Schedule([&ran] { ran.fetch_add(1); }));
    }
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(ThreadPool, RefusesTasksBeyondQueueLimit) {
  std::promise<void> release;
  std::promise<void> started;
  std::shared_future<void> released = release.get_future().share();
  ThreadPool pool(1, 1);
  ASSERT_TRUE(pool.Schedule([&started, released] {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();  // the worker holds the only thread
  EXPECT_TRUE(pool.Schedule([] {}));   // fills the queue
  EXPECT_FALSE(pool.Schedule([] {}));  // beyond it
  release.set_value();
}

}  // namespace
}  // namespace tokenservice
