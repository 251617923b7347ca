// Requests to myPOS on one event loop: a scope set whose requests hang at
// myPOS delays no other caller's miss, and a cold start opens no more
// connections to myPOS than --max_upstream_connections.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/integration/service_harness.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

// One asynchronous Issue call and its outcome.
struct AsyncIssue {
  grpc::ClientContext context;
  v1::IssueRequest request;
  v1::IssueResponse response;
  grpc::Status status;
};

class UpstreamIsolationTest : public ServiceHarness {
 protected:
  // Starts `calls` (each for its own scope set plus `extra`), counting
  // `finished` down as each ends.
  std::vector<std::unique_ptr<AsyncIssue>> StartCalls(
      int calls, const std::string& prefix, const std::string& extra,
      absl::BlockingCounter* finished) {
    std::vector<std::unique_ptr<AsyncIssue>> started;
    for (int i = 0; i < calls; ++i) {
      auto call = std::make_unique<AsyncIssue>();
      call->context.set_deadline(
          absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
      if (!extra.empty()) call->request.add_scopes(extra);
      call->request.add_scopes(absl::StrCat(prefix, i));
      AsyncIssue* raw = call.get();
      stub_->async()->Issue(&raw->context, &raw->request, &raw->response,
                            [raw, finished](grpc::Status status) {
                              raw->status = std::move(status);
                              finished->DecrementCount();
                            });
      started.push_back(std::move(call));
    }
    return started;
  }
};

TEST_F(UpstreamIsolationTest, HungScopeSetDelaysNoOtherMiss) {
  StartFake(
      [](FakeMyposServer::Options& options) { options.hang_scope = "hang"; });
  StartServer();
  absl::BlockingCounter hung_finished(8);
  auto hung = StartCalls(8, "h", "hang", &hung_finished);
  ASSERT_TRUE(fake_->AwaitHungRequests(8, absl::Now() + absl::Seconds(30)));

  // With 8 requests hanging at myPOS, another scope set's miss is
  // answered, and the hung ones are still waiting.
  IssueCall other = Issue(ScopeRequest("webhooks"));
  ASSERT_TRUE(other.status.ok()) << other.status.error_message();
  EXPECT_FALSE(other.response.cached());
  EXPECT_EQ(fake_->hung_requests(), 8);

  for (auto& call : hung) call->context.TryCancel();
  hung_finished.Wait();
  for (auto& call : hung) {
    EXPECT_EQ(call->status.error_code(), grpc::CANCELLED);
  }
}

TEST_F(UpstreamIsolationTest, ColdStartOpensAtMostTheConnectionCap) {
  StartFake([](FakeMyposServer::Options& options) {
    options.latency = absl::Milliseconds(20);
  });
  StartServer(
      [](ServerConfig& config) { config.max_upstream_connections = 3; });
  absl::BlockingCounter finished(30);
  auto calls = StartCalls(30, "s", "", &finished);
  finished.Wait();
  for (auto& call : calls) {
    EXPECT_TRUE(call->status.ok()) << call->status.error_message();
  }
  EXPECT_EQ(fake_->token_requests(), 30);
  // 30 fetches at once, on at most 3 connections, reused.
  EXPECT_LE(fake_->accepted_connections(), 3);
}

}  // namespace
}  // namespace tokenservice
