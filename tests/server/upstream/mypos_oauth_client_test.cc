#include "server/upstream/mypos_oauth_client.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"
#include "server/ops/metrics.h"
#include "server/upstream/retry_after.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_http_transport.h"
#include "tests/server/upstream/sync_oauth_client.h"

namespace tokenservice {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Pair;
using ::testing::Return;
using ::testing::StrictMock;

constexpr char kTokenUrl[] = "https://auth.example/oauth/token";
constexpr char kRevokeUrl[] = "https://auth.example/oauth/revoke";
constexpr char kToken[] = "test-token-value";
// base64("my%3Aclient:p%2Bs%2Fw%26r%3Dd%25"), computed with base64(1).
constexpr char kAuthorization[] =
    "Basic bXklM0FjbGllbnQ6cCUyQnMlMkZ3JTI2ciUzRGQlMjU=";

HttpResponse Reply(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.headers = {{"content-type", "application/json"}};
  response.body = std::move(body);
  return response;
}

class MyposOAuthClientTest : public ::testing::Test {
 protected:
  static MyposOAuthClient::Options ClientOptions() {
    MyposOAuthClient::Options options;
    options.token_url = kTokenUrl;
    options.revoke_url = kRevokeUrl;
    options.reply.missing_expires_in = absl::Seconds(90);
    return options;
  }

  // Matches the form POST that the client must send.
  static auto IsFormPost(const std::string& url, const std::string& body,
                         absl::Time deadline) {
    return AllOf(Field(&HttpRequest::url, url),
                 Field(&HttpRequest::headers,
                       ElementsAre(Pair("Authorization", kAuthorization),
                                   Pair("Content-Type",
                                        "application/x-www-form-urlencoded"),
                                   Pair("Accept", "application/json"))),
                 Field(&HttpRequest::body, body),
                 Field(&HttpRequest::options,
                       Field(&RequestOptions::deadline, deadline)));
  }

  const ClientCredentials credentials_{"my:client", "p+s/w&r=d%"};
  const absl::Time deadline_ = absl::FromUnixSeconds(1700000000);
  ManualExecutor executor_;
  std::shared_ptr<StrictMock<MockHttpTransport>> transport_ =
      std::make_shared<StrictMock<MockHttpTransport>>(&executor_);
  Metrics metrics_;
  MyposOAuthClient async_client_{ClientOptions(), transport_, &metrics_};
  SyncOAuthClient client_{&async_client_,
                          [this] { return executor_.RunAll() > 0; }};
};

TEST_F(MyposOAuthClientTest, FetchTokenPostsFormAndReturnsToken) {
  EXPECT_CALL(
      *transport_,
      Post(IsFormPost(kTokenUrl, "grant_type=client_credentials&scope=webhooks",
                      deadline_)))
      .WillOnce(Return(Reply(200, R"({"access_token":"test-token-value",
          "token_type":"bearer","expires_in":3600,"scope":"webhooks"})")));
  auto token = client_.FetchToken(credentials_, {"webhooks"}, deadline_);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token, kToken);
  EXPECT_EQ(token->token_type, "Bearer");
  EXPECT_EQ(token->expires_in, absl::Seconds(3600));
  EXPECT_THAT(token->scopes, ElementsAre("webhooks"));
}

TEST_F(MyposOAuthClientTest, FetchTokenWithoutScopesSendsGrantOnly) {
  EXPECT_CALL(
      *transport_,
      Post(IsFormPost(kTokenUrl, "grant_type=client_credentials", deadline_)))
      .WillOnce(Return(Reply(200, R"({"access_token":"test-token-value"})")));
  auto token = client_.FetchToken(credentials_, {}, deadline_);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->expires_in, absl::Seconds(90));  // From Options::reply.
}

TEST_F(MyposOAuthClientTest, FetchTokenInvalidClientIsFailedPrecondition) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(Reply(401, R"({"error":"invalid_client"})")));
  auto token = client_.FetchToken(credentials_, {}, deadline_);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(token.status()), "CREDENTIALS_REJECTED");
}

TEST_F(MyposOAuthClientTest, FetchTokenInvalidScopeIsInvalidArgument) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(Reply(400, R"({"error":"invalid_scope"})")));
  auto token = client_.FetchToken(credentials_, {"nope"}, deadline_);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(token.status()), "INVALID_SCOPE");
}

TEST_F(MyposOAuthClientTest, FetchTokenServerErrorIsUnavailableWithoutRetry) {
  EXPECT_CALL(*transport_, Post).WillOnce(Return(Reply(503, "")));
  auto token = client_.FetchToken(credentials_, {}, deadline_);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(token.status()), "UPSTREAM_UNAVAILABLE");
}

TEST_F(MyposOAuthClientTest, FetchTokenTransportUnavailableGetsReason) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(absl::UnavailableError("connection refused")));
  auto token = client_.FetchToken(credentials_, {}, deadline_);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(token.status().message(), "connection refused");
  EXPECT_EQ(ErrorReason(token.status()), "UPSTREAM_UNAVAILABLE");
}

TEST_F(MyposOAuthClientTest, FetchTokenTransportDeadlineExceededKeepsCode) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(absl::DeadlineExceededError("too late")));
  auto token = client_.FetchToken(credentials_, {}, deadline_);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorReason(token.status()), "DEADLINE_EXCEEDED");
}

TEST_F(MyposOAuthClientTest, FetchTokenTransportReasonKept) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(WithReason(absl::UnavailableError("slow"),
                                  kReasonUpstreamRateLimited)));
  auto token = client_.FetchToken(credentials_, {}, deadline_);
  EXPECT_EQ(ErrorReason(token.status()), "UPSTREAM_RATE_LIMITED");
}

TEST_F(MyposOAuthClientTest, FetchTokenRetryAfterBecomesPayload) {
  HttpResponse reply = Reply(503, "");
  reply.retry_after = absl::Seconds(7);  // as the transport read it
  EXPECT_CALL(*transport_, Post).WillOnce(Return(reply));
  auto token = client_.FetchToken(credentials_, {}, deadline_);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(RetryAfter(token.status()), absl::Seconds(7));
  EXPECT_EQ(ErrorMetadata(token.status()).at("http_status"), "503");
}

TEST_F(MyposOAuthClientTest, FetchTokenWithoutRetryAfterHasNoPayload) {
  EXPECT_CALL(*transport_, Post).WillOnce(Return(Reply(429, "")));
  auto token = client_.FetchToken(credentials_, {}, deadline_);
  EXPECT_EQ(ErrorReason(token.status()), "UPSTREAM_RATE_LIMITED");
  EXPECT_EQ(RetryAfter(token.status()), std::nullopt);
}

TEST_F(MyposOAuthClientTest, OptionsReachTheTransport) {
  EXPECT_CALL(*transport_,
              Post(Field(&HttpRequest::options,
                         Field(&RequestOptions::lane, Lane::kReserved))))
      .WillOnce(Return(Reply(200, "")));
  RequestOptions options;
  options.lane = Lane::kReserved;
  std::optional<absl::Status> revoked;
  async_client_.RevokeToken(credentials_, kToken, options,
                            [&](absl::Status s) { revoked = s; });
  EXPECT_FALSE(revoked.has_value()) << "answered inside the call";
  executor_.RunAll();
  EXPECT_TRUE(revoked.has_value() && revoked->ok());
}

TEST_F(MyposOAuthClientTest, ExchangeGrantAuthorizationCodePostsCodeForm) {
  EXPECT_CALL(
      *transport_,
      Post(::testing::AllOf(IsFormPost(kTokenUrl,
                                       "grant_type=authorization_code&code=c1"
                                       "&redirect_uri=https%3A%2F%2Fa%2Fcb"
                                       "&code_verifier=v1",
                                       deadline_),
                            // Never on a reused connection: sent at most once.
                            ::testing::Field(&HttpRequest::idempotent, false))))
      .WillOnce(Return(Reply(200, R"({"access_token":"test-token-value",
          "expires_in":"60","refresh_token":"r1"})")));
  UserGrant grant;
  grant.code = "c1";
  grant.redirect_uri = "https://a/cb";
  grant.code_verifier = "v1";
  auto token = client_.ExchangeGrant(credentials_, grant, deadline_);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->refresh_token, "r1");
  EXPECT_EQ(token->expires_in, absl::Seconds(60));
}

TEST_F(MyposOAuthClientTest, ExchangeGrantInvalidGrantIsInvalidArgument) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(Reply(400, R"({"error":"invalid_grant"})")));
  UserGrant grant;
  grant.type = UserGrant::Type::kRefreshToken;
  grant.refresh_token = "r1";
  auto token = client_.ExchangeGrant(credentials_, grant, deadline_);
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(token.status()), "INVALID_GRANT");
}

TEST_F(MyposOAuthClientTest, RevokeTokenPostsTokenForm) {
  EXPECT_CALL(*transport_,
              Post(IsFormPost(kRevokeUrl, "token=a%2Bb%2Fc%3D", deadline_)))
      .WillOnce(Return(Reply(200, "")));
  EXPECT_TRUE(client_.RevokeToken(credentials_, "a+b/c=", deadline_).ok());
}

TEST_F(MyposOAuthClientTest, RevokeTokenRejectedIsInternal) {
  // Our request's fault, not the caller's.
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(Reply(400, R"({"error":"unsupported_token_type"})")));
  absl::Status status = client_.RevokeToken(credentials_, kToken, deadline_);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ErrorReason(status), "BAD_REQUEST");
}

TEST_F(MyposOAuthClientTest, RevokeTokenTransportErrorGetsReason) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(absl::UnavailableError("reset")));
  absl::Status status = client_.RevokeToken(credentials_, kToken, deadline_);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(status), "UPSTREAM_UNAVAILABLE");
}

// The value of tokenservice_upstream_http_attempts_total with `labels`
// (reason, status_class, upstream_endpoint, in that order), 0 when not
// there.
double Attempts(const Metrics& metrics, const std::string& labels) {
  const std::string prefix =
      "tokenservice_upstream_http_attempts_total{" + labels + "} ";
  const std::string text = metrics.Render({}, absl::Now());
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + prefix.size()));
}

TEST_F(MyposOAuthClientTest, EachAttemptIsCountedByEndpointClassAndReason) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(Reply(429, "")))
      .WillOnce(Return(absl::DeadlineExceededError("too late")))
      .WillOnce(Return(Reply(200, R"({"access_token":"t","expires_in":60})")))
      .WillOnce(Return(Reply(503, "")));
  EXPECT_FALSE(client_.FetchToken(credentials_, {}, deadline_).ok());
  EXPECT_FALSE(client_.FetchToken(credentials_, {}, deadline_).ok());
  EXPECT_TRUE(client_.FetchToken(credentials_, {}, deadline_).ok());
  EXPECT_FALSE(client_.RevokeToken(credentials_, kToken, deadline_).ok());
  EXPECT_EQ(Attempts(metrics_,
                     "reason=\"UPSTREAM_RATE_LIMITED\",status_class=\"4xx\","
                     "upstream_endpoint=\"token\""),
            1);
  EXPECT_EQ(Attempts(metrics_,
                     "reason=\"DEADLINE_EXCEEDED\",status_class=\"none\","
                     "upstream_endpoint=\"token\""),
            1);
  EXPECT_EQ(Attempts(metrics_,
                     "reason=\"OK\",status_class=\"2xx\","
                     "upstream_endpoint=\"token\""),
            1);
  EXPECT_EQ(Attempts(metrics_,
                     "reason=\"UPSTREAM_UNAVAILABLE\",status_class=\"5xx\","
                     "upstream_endpoint=\"revoke\""),
            1);
}

TEST_F(MyposOAuthClientTest, ARequestDroppedUnsentIsNoAttempt) {
  EXPECT_CALL(*transport_, Post)
      .WillOnce(Return(absl::CancelledError("no caller wants it")));
  EXPECT_FALSE(client_.FetchToken(credentials_, {}, deadline_).ok());
  const std::string text = metrics_.Render({}, absl::Now());
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "tokenservice_upstream_http_attempts_total{")) {
      continue;
    }
    EXPECT_TRUE(absl::EndsWith(line, " 0")) << line;
  }
}

}  // namespace
}  // namespace tokenservice
