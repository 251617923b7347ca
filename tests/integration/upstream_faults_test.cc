// One test per myPOS reply shape and network fault, through the real server
// (gRPC, broker, retries, libcurl) against the fake myPOS on loopback. Each
// checks the exact gRPC code and ErrorInfo reason, how many requests reached
// myPOS, and that the call ended within its deadline. The harness checks
// that no canary secret or token reached a log line or a status message.
// Retries here: 3 attempts, 10-50 ms backoff, a 150 ms deadline margin (see
// ServiceHarness).

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/rpc/grpc_status.h"
#include "tests/integration/service_harness.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Fault = FakeMyposServer::Fault;
using Headers = std::vector<std::pair<std::string, std::string>>;

Fault Reply(int status, std::string body, Headers headers = {}) {
  Fault fault;
  fault.status = status;
  fault.body = std::move(body);
  fault.headers = std::move(headers);
  return fault;
}

absl::Time ExpireTime(const IssueCall& call) {
  return absl::FromUnixSeconds(call.response.expire_time().seconds());
}

class UpstreamFaultsTest : public ServiceHarness {
 protected:
  void SetUp() override {
    StartFake();
    StartServer();
  }
};

TEST_F(UpstreamFaultsTest, SuccessIsOneAttempt) {
  IssueCall call = Issue(ScopeRequest("webhooks"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.response.token_type(), "Bearer");
  EXPECT_EQ(fake_->token_requests(), 1);
  EXPECT_LT(call.elapsed, call.deadline);
}

TEST_F(UpstreamFaultsTest, StringExpiresInIsAccepted) {
  fake_->EnqueueTokenFault(Reply(200, R"({"access_token":"canary-tok-str",
      "token_type":"bearer","expires_in":"3600"})"));
  const absl::Time before = absl::Now();
  IssueCall call = Issue(ScopeRequest("webhooks"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.response.token_type(), "Bearer");
  EXPECT_GE(ExpireTime(call), before + absl::Seconds(3599));
  EXPECT_LE(ExpireTime(call), absl::Now() + absl::Seconds(3600));
  EXPECT_EQ(fake_->token_requests(), 1);
  EXPECT_LT(call.elapsed, call.deadline);
}

TEST_F(UpstreamFaultsTest, MissingExpiresInGetsFiveMinutes) {
  fake_->EnqueueTokenFault(Reply(
      200, R"({"access_token":"canary-tok-noexp","token_type":"BEARER"})"));
  const absl::Time before = absl::Now();
  IssueCall call = Issue(ScopeRequest("webhooks"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.response.token_type(), "Bearer");
  EXPECT_GE(ExpireTime(call), before + absl::Minutes(5) - absl::Seconds(1));
  EXPECT_LE(ExpireTime(call), absl::Now() + absl::Minutes(5));
  EXPECT_EQ(fake_->token_requests(), 1);
  EXPECT_LT(call.elapsed, call.deadline);
}

TEST_F(UpstreamFaultsTest, MissingAccessTokenIsUnavailableBadReply) {
  fake_->EnqueueTokenFault(
      Reply(200, R"({"token_type":"Bearer","expires_in":3600})"));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_BAD_REPLY"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_THAT(call.status.error_message(), HasSubstr("HTTP 200"));
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UpstreamFaultsTest, InvalidClient400IsFailedPreconditionRemembered) {
  fake_->EnqueueTokenFault(Reply(400, R"({"error":"invalid_client"})"));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                                        "CREDENTIALS_REJECTED"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(call.info.metadata().at("http_status"), "400");
  // Not retryable: no advice to retry.
  EXPECT_EQ(call.retry_delay, std::nullopt);
  EXPECT_EQ(call.pushback_ms, "");
  EXPECT_EQ(fake_->token_requests(), 1);
  // A storm of callers does not reach myPOS while the rejection is
  // remembered (--rejected_credentials_ttl, 30 s).
  for (int i = 0; i < 5; ++i) {
    IssueCall again = Issue(ScopeRequest(absl::StrCat("s", i)));
    EXPECT_THAT(again.status,
                GrpcStatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                             "CREDENTIALS_REJECTED"));
    EXPECT_LT(again.elapsed, again.deadline);
  }
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UpstreamFaultsTest, Revocation401IsThatCallsAnswerAlone) {
  fake_->EnqueueRevokeFault(Reply(401, ""));
  grpc::ClientContext context;
  mypos::token::v1::RevokeRequest request;
  request.set_token("canary-some-token-9d1f");
  AddCanary(request.token());
  mypos::token::v1::RevokeResponse response;
  EXPECT_THAT(stub_->Revoke(&context, request, &response),
              GrpcStatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                           "CREDENTIALS_REJECTED"));
  // The profile's own token requests still go to myPOS, and succeed.
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UpstreamFaultsTest, Unauthorized401IsFailedPrecondition) {
  StartServer([](ServerConfig& config) {
    config.profiles = {{"default", {kHarnessClientId, "canary-wrong-secret"}}};
  });
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                                        "CREDENTIALS_REJECTED"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_THAT(call.status.error_message(), HasSubstr("HTTP 401"));
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UpstreamFaultsTest, InvalidScope400IsInvalidArgument) {
  fake_->EnqueueTokenFault(Reply(400, R"({"error":"invalid_scope"})"));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                        "INVALID_SCOPE"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UpstreamFaultsTest, ServerError500ThenSuccessIsRetried) {
  fake_->EnqueueTokenFault(Reply(500, R"({"error":"server_error"})"));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(fake_->token_requests(), 2);
  EXPECT_EQ(LogEvents("upstream_retry"), 1);
  EXPECT_LT(call.elapsed, call.deadline);
}

TEST_F(UpstreamFaultsTest, Unavailable503WithRetryAfterIsWaitedThenRetried) {
  fake_->EnqueueTokenFault(Reply(503, "", {{"Retry-After", "1"}}));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(fake_->token_requests(), 2);
  EXPECT_GE(call.elapsed, absl::Seconds(1));
  EXPECT_LT(call.elapsed, call.deadline);
}

TEST_F(UpstreamFaultsTest, RateLimited429WithHttpDateIsWaitedThenRetried) {
  const std::string date =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                       absl::Now() + absl::Seconds(2), absl::UTCTimeZone());
  fake_->EnqueueTokenFault(Reply(429, "", {{"Retry-After", date}}));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(fake_->token_requests(), 2);
  // The date has whole seconds, so the wait is between 1 s and 2 s.
  EXPECT_GE(call.elapsed, absl::Seconds(1));
  EXPECT_LT(call.elapsed, call.deadline);
}

TEST_F(UpstreamFaultsTest, RateLimited429RetryAfterPastDeadlineIsNotRetried) {
  // The fetch runs on the server's deadline (--upstream_timeout, 10 s), not
  // the caller's: a Retry-After of 3 s (the harness's cap) fits, one of 3 s
  // with less than that left would not. So the server's deadline is made
  // short here.
  StartServer([](ServerConfig& config) {
    config.broker.upstream_timeout = absl::Seconds(2);
  });
  fake_->EnqueueTokenFault(Reply(429, "", {{"Retry-After", "3"}}));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_RATE_LIMITED"));
  EXPECT_EQ(fake_->token_requests(), 1);
  EXPECT_LT(call.elapsed, absl::Milliseconds(500));
  // The caller is told to wait what myPOS asked for, in RetryInfo and in
  // the trailer gRPC's retries honour.
  EXPECT_EQ(call.retry_delay, absl::Seconds(3));
  EXPECT_EQ(call.pushback_ms, "3000");
}

// A delay the caller's deadline would not wait for: RetryInfo still says
// it, but the trailer says "do not retry" (-1), so gRPC answers the caller
// now, with the reason, instead of DEADLINE_EXCEEDED at its deadline.
TEST_F(UpstreamFaultsTest, RetryAfterBeyondTheCallersDeadlineIsNoRetry) {
  StartServer([](ServerConfig& config) {
    config.broker.upstream_timeout = absl::Seconds(2);
  });
  fake_->EnqueueTokenFault(Reply(429, "", {{"Retry-After", "3"}}));
  IssueCall call = Issue(ScopeRequest("webhooks"), absl::Seconds(2));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_RATE_LIMITED"));
  EXPECT_EQ(call.retry_delay, absl::Seconds(3));
  EXPECT_EQ(call.pushback_ms, "-1");
}

TEST_F(UpstreamFaultsTest, ImpatientCallerLeavesWhileTheRetryGoesOn) {
  fake_->EnqueueTokenFault(Reply(429, "", {{"Retry-After", "2"}}));
  IssueCall call = Issue(ScopeRequest("webhooks"), absl::Seconds(1));
  // Answered at its own deadline (less the margin), with the reason ...
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::DEADLINE_EXCEEDED,
                                        "DEADLINE_EXCEEDED"));
  EXPECT_LT(call.elapsed, call.deadline);
  // ... while the fetch retries after the Retry-After and caches the token
  // for the next caller.
  IssueCall next = Issue(ScopeRequest("webhooks"), absl::Seconds(10));
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(fake_->token_requests(), 2);
}

TEST_F(UpstreamFaultsTest, ConnectionRefusedIsUnavailableAfterRetries) {
  const std::string url = fake_->BaseUrl();
  fake_->Stop();  // nothing listens on that port any more
  StartServer(nullptr, url);
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_UNAVAILABLE"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(LogEvents("upstream_retry"), 2);  // 3 attempts
  EXPECT_EQ(LogEvents("upstream_token_failed"), 1);
  // No Retry-After: the server's own delay.
  EXPECT_EQ(call.retry_delay, kDefaultRetryDelay);
  EXPECT_EQ(call.pushback_ms, "1000");
}

TEST_F(UpstreamFaultsTest, ReplySlowerThanDeadlineIsDeadlineExceeded) {
  Fault slow = Reply(200, R"({"access_token":"canary-tok-late"})");
  slow.delay = absl::Seconds(3);
  fake_->EnqueueTokenFault(slow);
  IssueCall call = Issue(ScopeRequest("webhooks"), absl::Seconds(1));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::DEADLINE_EXCEEDED,
                                        "DEADLINE_EXCEEDED"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(fake_->token_requests(), 1);
  EXPECT_GE(call.elapsed, absl::Milliseconds(800));  // 1 s - 150 ms margin
}

TEST_F(UpstreamFaultsTest, ConnectionDroppedMidBodyIsUnavailableAfterRetries) {
  for (int i = 0; i < 3; ++i) {
    Fault drop = Reply(200, R"({"access_token":"canary-tok-drop","x":")" +
                                std::string(1000, 'x') + "\"}");
    drop.drop_after_bytes = 20;
    fake_->EnqueueTokenFault(drop);
  }
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_UNAVAILABLE"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(fake_->token_requests(), 3);
}

TEST_F(UpstreamFaultsTest, OneMebibyteBodyIsRejectedUnread) {
  fake_->EnqueueTokenFault(
      Reply(200, R"({"access_token":"canary-tok-huge","pad":")" +
                     std::string(1 << 20, 'x') + "\"}"));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_BAD_REPLY"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_THAT(call.status.error_message(), HasSubstr("exceeds 65536 bytes"));
  EXPECT_EQ(fake_->token_requests(), 1);
}

// A redirect to the token endpoint itself: had it been followed, the
// second request would have been a normal one and the call would succeed.
TEST_F(UpstreamFaultsTest, RedirectIsBadReplyAndNotFollowed) {
  fake_->EnqueueTokenFault(
      Reply(307, "", {{"Location", fake_->BaseUrl() + "/oauth/token"}}));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_BAD_REPLY"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_THAT(call.status.error_message(),
              HasSubstr("unexpected HTTP status 307"));
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UpstreamFaultsTest, HtmlErrorPageIsUnavailableNamingStatusNotBody) {
  for (int i = 0; i < 3; ++i) {
    fake_->EnqueueTokenFault(
        Reply(502, "<html><body>Bad Gateway canary-html-page</body></html>",
              {{"Content-Type", "text/html"}}));
  }
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_UNAVAILABLE"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_THAT(call.status.error_message(), HasSubstr("HTTP 502"));
  EXPECT_THAT(call.status.error_message(), Not(HasSubstr("Gateway")));
  EXPECT_EQ(fake_->token_requests(), 3);
}

TEST_F(UpstreamFaultsTest, HtmlPageWithStatus200IsBadReplyNotRetried) {
  fake_->EnqueueTokenFault(Reply(200, "<html>canary-html-login</html>",
                                 {{"Content-Type", "text/html"}}));
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_BAD_REPLY"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_THAT(call.status.error_message(), HasSubstr("HTTP 200"));
  EXPECT_EQ(fake_->token_requests(), 1);
}

}  // namespace
}  // namespace tokenservice
