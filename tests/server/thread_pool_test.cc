#include "server/thread_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
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
  absl::Notification release;
  absl::Notification started;
  ThreadPool pool(1, 1);
  ASSERT_TRUE(pool.Schedule([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();  // the worker holds the only thread
  EXPECT_TRUE(pool.Schedule([] {}));   // fills the queue
  EXPECT_FALSE(pool.Schedule([] {}));  // beyond it
  release.Notify();
}

}  // namespace
}  // namespace tokenservice
