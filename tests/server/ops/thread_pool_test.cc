#include "server/ops/thread_pool.h"

#include <atomic>
#include <future>
#include <memory>

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
  started.get_future().wait();         // the worker holds the only thread
  EXPECT_TRUE(pool.Schedule([] {}));   // fills the queue
  EXPECT_FALSE(pool.Schedule([] {}));  // beyond it
  release.set_value();
}

TEST(ThreadPool, StopDropsQueuedTasksUnrunAndLetsTheRunningOneFinish) {
  std::promise<void> release;
  std::promise<void> started;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  auto dropped = std::make_shared<int>(0);  // alive while a task holds it
  {
    ThreadPool pool(1, 10);
    ASSERT_TRUE(pool.Schedule([&started, &ran, released] {
      started.set_value();
      released.wait();
      ran.fetch_add(1);
    }));
    started.get_future().wait();  // the only worker is busy
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(pool.Schedule([&ran, dropped] { ran.fetch_add(1); }));
    }
    ASSERT_EQ(dropped.use_count(), 4);
    pool.Stop();
    EXPECT_EQ(dropped.use_count(), 1);   // the queued tasks are destroyed
    EXPECT_FALSE(pool.Schedule([] {}));  // and no new ones are taken
    release.set_value();
  }
  EXPECT_EQ(ran.load(), 1);  // only the task that was running
}

TEST(ThreadPool, AwaitIdleWaitsForTheRunningTaskOnly) {
  std::promise<void> release;
  std::promise<void> started;
  std::shared_future<void> released = release.get_future().share();
  ThreadPool pool(1, 10);
  EXPECT_TRUE(pool.AwaitIdle(absl::InfinitePast()));  // nothing to wait for
  ASSERT_TRUE(pool.Schedule([&started, released] {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();
  // Held: not idle, whatever the deadline (a past one returns at once).
  EXPECT_FALSE(pool.AwaitIdle(absl::InfinitePast()));
  EXPECT_FALSE(pool.AwaitIdle(absl::Now() + absl::Milliseconds(1)));
  release.set_value();
  EXPECT_TRUE(pool.AwaitIdle(absl::InfiniteFuture()));
}

}  // namespace
}  // namespace tokenservice
