// A gmock HttpTransport for tests of code that speaks HTTP.
//
// Tests set expectations on the synchronous Post(request); each
// asynchronous Post queues a task on the executor the mock was given that
// asks it and passes its result on, so a test says when "myPOS" answers
// (ManualExecutor::RunAll()).

#ifndef TESTS_SERVER_UPSTREAM_MOCK_HTTP_TRANSPORT_H_
#define TESTS_SERVER_UPSTREAM_MOCK_HTTP_TRANSPORT_H_

#include <utility>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "server/upstream/http_transport.h"
#include "tests/server/ops/manual_executor.h"

namespace tokenservice {

// Thread-safe (as gmock mocks are).
class MockHttpTransport : public HttpTransport {
 public:
  // Borrows `executor`, which must outlive the mock's calls.
  explicit MockHttpTransport(ManualExecutor* executor) : executor_(executor) {}

  MOCK_METHOD(absl::StatusOr<HttpResponse>, Post, (const HttpRequest& request));
  MOCK_METHOD(void, Shutdown, (), (override));

  void Post(HttpRequest request, HttpCallback done) override {
    const bool queued = executor_->Schedule(
        [this, request = std::move(request), done = std::move(done)]() mutable {
          std::move(done)(Post(request));
        });
    EXPECT_TRUE(queued) << "the test's executor is full";
  }

 private:
  ManualExecutor* const executor_;
};

}  // namespace tokenservice

#endif  // TESTS_SERVER_UPSTREAM_MOCK_HTTP_TRANSPORT_H_
