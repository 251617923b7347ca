#include "server/broker/grant_exchange.h"

#include <optional>
#include <string>
#include <utility>

#include "base/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"

namespace tokenservice {
namespace {

using ::testing::_;
using ::testing::AllOf;
using ::testing::Field;
using ::testing::Return;

class GrantExchangeTest : public ::testing::Test {
 protected:
  GrantExchangeTest()
      : credentials_("default", {{"default", {"client-1", "secret-1"}}}),
        grants_(GrantExchange::Options(), &credentials_, &upstream_, &clock_,
                &metrics_) {}

  // Runs one exchange and returns its result.
  absl::StatusOr<GrantedToken> Exchange(GrantParams params) {
    std::optional<absl::StatusOr<GrantedToken>> result;
    grants_.Exchange(std::move(params), [&](absl::StatusOr<GrantedToken> r) {
      result = std::move(r);
    });
    executor_.RunAll();
    EXPECT_TRUE(result.has_value());
    return result.value_or(absl::InternalError("no result"));
  }

  static GrantParams CodeParams() {
    GrantParams params;
    params.grant.code = "code-1";
    params.grant.code_verifier = "verifier";
    return params;
  }

  FakeClock clock_;
  ManualExecutor executor_;
  FakeTimers timers_{&clock_};
  MockOAuthClient upstream_{&executor_};
  Metrics metrics_;
  CredentialStore credentials_;
  GrantExchange grants_;
};

TEST_F(GrantExchangeTest, ExchangeReturnsTokenAndRefreshTokenAndKeepsMetadata) {
  UpstreamToken reply;
  reply.access_token = "user-token";
  reply.token_type = "Bearer";
  reply.expires_in = absl::Minutes(10);
  reply.refresh_token = "user-refresh";
  reply.scopes = {"webhooks"};
  EXPECT_CALL(upstream_,
              ExchangeGrant(Field(&ClientCredentials::client_id, "client-1"),
                            AllOf(Field(&UserGrant::code, "code-1"),
                                  Field(&UserGrant::code_verifier, "verifier")),
                            _))
      .WillOnce(Return(reply));
  absl::StatusOr<GrantedToken> granted = Exchange(CodeParams());
  ASSERT_TRUE(granted.ok()) << granted.status();
  EXPECT_EQ(granted->token->access_token, "user-token");
  EXPECT_EQ(granted->refresh_token, "user-refresh");
  EXPECT_EQ(granted->token->credential, "default");
  EXPECT_EQ(granted->token->expire_time, clock_.Now() + absl::Minutes(10));

  std::optional<mypos::token::v1::TokenInfo> info =
      grants_.Info(Fingerprint("user-token"));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->client_id(), "client-1");
  EXPECT_EQ(info->state(), mypos::token::v1::TOKEN_STATE_FRESH);
  EXPECT_THAT(info->DebugString(),
              ::testing::Not(::testing::HasSubstr("user-")));
  clock_.Advance(absl::Minutes(11));
  EXPECT_EQ(grants_.Info(Fingerprint("user-token"))->state(),
            mypos::token::v1::TOKEN_STATE_EXPIRED);
}

TEST_F(GrantExchangeTest, UnknownProfileIsNotFoundInline) {
  GrantParams params = CodeParams();
  params.credential = "nobody";
  std::optional<absl::StatusOr<GrantedToken>> result;
  grants_.Exchange(std::move(params), [&](absl::StatusOr<GrantedToken> r) {
    result = std::move(r);
  });
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReason(result->status()), kReasonProfileNotFound);
}

TEST_F(GrantExchangeTest, UpstreamErrorIsPassedOnAndNothingKept) {
  EXPECT_CALL(upstream_, ExchangeGrant)
      .WillOnce(Return(
          WithReason(absl::InvalidArgumentError("no"), kReasonInvalidGrant)));
  absl::StatusOr<GrantedToken> granted = Exchange(CodeParams());
  EXPECT_EQ(granted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(granted.status()), kReasonInvalidGrant);
}

TEST_F(GrantExchangeTest, CallerDeadlineMinusMarginBoundsTheExchange) {
  GrantParams params = CodeParams();
  params.deadline = clock_.Now() + absl::Seconds(2);
  EXPECT_CALL(upstream_,
              ExchangeGrant(_, _, clock_.Now() + absl::Milliseconds(1950)))
      .WillOnce(Return(absl::DeadlineExceededError("late")));
  EXPECT_EQ(Exchange(std::move(params)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(GrantExchangeTest, OwnTimeoutRunningOutIsUnavailable) {
  EXPECT_CALL(upstream_, ExchangeGrant(_, _, clock_.Now() + absl::Seconds(10)))
      .WillOnce(Return(absl::DeadlineExceededError("late")));
  absl::StatusOr<GrantedToken> granted = Exchange(CodeParams());
  EXPECT_EQ(granted.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(granted.status()), kReasonUpstreamUnavailable);
}

}  // namespace
}  // namespace tokenservice
