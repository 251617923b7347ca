// TokenBroker: Revoke, GetTokenInfo and ListTokens.

#include <memory>
#include <optional>
#include <string>

#include "base/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/broker/token_broker.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"

namespace tokenservice {
namespace {

using ::mypos::token::v1::TOKEN_STATE_FRESH;
using ::mypos::token::v1::TOKEN_STATE_REVOKED;
using ::testing::_;
using ::testing::Field;
using ::testing::Return;

class TokenBrokerRevokeTest : public ::testing::Test {
 protected:
  TokenBrokerRevokeTest()
      : credentials_("default", {{"default", {"client-1", "secret-1"}},
                                 {"other", {"client-2", "secret-2"}},
                                 {"twin", {"client-1", "secret-1"}}}),
        broker_(*TokenBroker::Create(BrokerOptions{}, &credentials_, &upstream_,
                                     &timers_, &clock_)) {}

  // Issues a token for `profile` through the broker and returns it.
  std::string IssueToken(const std::string& value,
                         const std::string& profile = "") {
    UpstreamToken token;
    token.access_token = value;
    token.token_type = "Bearer";
    token.expires_in = absl::Hours(1);
    EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(token));
    IssueParams params;
    params.credential = profile;
    params.scopes = {"scope-" + Fingerprint(value)};  // one key per token
    std::string issued;
    broker_->Issue(params, [&issued](absl::StatusOr<IssuedToken> r) {
      ASSERT_TRUE(r.ok());
      issued = r->token->access_token;
    });
    executor_.RunAll();
    return issued;
  }

  absl::StatusOr<RevokeResult> Revoke(RevokeParams params) {
    std::optional<absl::StatusOr<RevokeResult>> result;
    broker_->Revoke(std::move(params),
                    [&result](absl::StatusOr<RevokeResult> r) { result = r; });
    executor_.RunAll();
    EXPECT_TRUE(result.has_value());
    return *result;
  }

  FakeClock clock_;
  ManualExecutor executor_;
  FakeTimers timers_{&clock_};
  MockOAuthClient upstream_{&executor_};
  CredentialStore credentials_;
  std::unique_ptr<TokenBroker> broker_;
};

TEST_F(TokenBrokerRevokeTest, RevokeByTokenEvictsThenRevokesUpstream) {
  const std::string token = IssueToken("tok-1");
  EXPECT_CALL(upstream_,
              RevokeToken(Field(&ClientCredentials::client_id, "client-1"),
                          absl::string_view("tok-1"), _))
      .WillOnce([this](auto&&...) {
        // By the time myPOS is called the token is out of the cache.
        auto info = broker_->GetTokenInfo(Fingerprint("tok-1"));
        EXPECT_EQ(info->state(), TOKEN_STATE_REVOKED);
        return absl::OkStatus();
      });
  RevokeParams params;
  params.token = token;
  absl::StatusOr<RevokeResult> result = Revoke(params);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->fingerprint, Fingerprint("tok-1"));
  EXPECT_TRUE(result->was_cached);
}

TEST_F(TokenBrokerRevokeTest, RevokeByFingerprintUsesTheCachedToken) {
  IssueToken("tok-1");
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view("tok-1"), _))
      .WillOnce(Return(absl::OkStatus()));
  RevokeParams params;
  params.fingerprint = Fingerprint("tok-1");
  EXPECT_TRUE(Revoke(params).ok());
  EXPECT_EQ(broker_->ListTokens("", 10, "").tokens(0).state(),
            TOKEN_STATE_REVOKED);
}

TEST_F(TokenBrokerRevokeTest, RevokeOfUnknownFingerprintIsNotFound) {
  EXPECT_CALL(upstream_, RevokeToken).Times(0);
  RevokeParams params;
  params.fingerprint = Fingerprint("never-issued");
  EXPECT_EQ(Revoke(params).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TokenBrokerRevokeTest, RevokeOfUncachedTokenStillRevokesUpstream) {
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view("elsewhere"), _))
      .WillOnce(Return(absl::OkStatus()));
  RevokeParams params;
  params.token = "elsewhere";
  absl::StatusOr<RevokeResult> result = Revoke(params);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->was_cached);
}

TEST_F(TokenBrokerRevokeTest, UpstreamFailureIsReportedButTokenStaysEvicted) {
  IssueToken("tok-1");
  EXPECT_CALL(upstream_, RevokeToken)
      .WillOnce(Return(absl::UnavailableError("myPOS down")));
  RevokeParams params;
  params.token = "tok-1";
  EXPECT_EQ(Revoke(params).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
            TOKEN_STATE_REVOKED);
}

TEST_F(TokenBrokerRevokeTest, FingerprintOfAnotherProfileIsNotFound) {
  IssueToken("tok-1", "other");
  EXPECT_CALL(upstream_, RevokeToken).Times(0);
  RevokeParams params;
  params.fingerprint = Fingerprint("tok-1");  // default profile asks
  EXPECT_EQ(Revoke(params).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TokenBrokerRevokeTest, ProfileOfTheSameClientIdEvictsOnceMyposAccepts) {
  // Two profiles of one myPOS client id: the token of one, revoked by value
  // through the other, is revoked at myPOS, so it must leave the cache.
  const std::string token = IssueToken("tok-1", "twin");
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view("tok-1"), _))
      .WillOnce([this](auto&&...) {
        // Not the requester's entry: still cached while myPOS decides.
        EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
                  TOKEN_STATE_FRESH);
        return absl::OkStatus();
      });
  RevokeParams params;
  params.token = token;  // the default profile asks
  absl::StatusOr<RevokeResult> result = Revoke(params);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->was_cached);
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
            TOKEN_STATE_REVOKED);
}

TEST_F(TokenBrokerRevokeTest, RejectedRevocationLeavesAnotherProfilesToken) {
  const std::string token = IssueToken("tok-1", "other");  // client-2
  EXPECT_CALL(upstream_, RevokeToken)
      .WillOnce(Return(absl::FailedPreconditionError("invalid_client")));
  RevokeParams params;
  params.token = token;  // the default profile (client-1) asks
  EXPECT_FALSE(Revoke(params).ok());
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
            TOKEN_STATE_FRESH);
}

TEST_F(TokenBrokerRevokeTest, AcceptedRevocationByAnotherClientIdLeavesToken) {
  // myPOS answers 200 for tokens that are not the client's (RFC 7009 §2.2),
  // so an OK from client-1 says nothing about client-2's token.
  const std::string token = IssueToken("tok-1", "other");
  EXPECT_CALL(upstream_, RevokeToken).WillOnce(Return(absl::OkStatus()));
  RevokeParams params;
  params.token = token;
  absl::StatusOr<RevokeResult> result = Revoke(params);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->was_cached);
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
            TOKEN_STATE_FRESH);
}

TEST_F(TokenBrokerRevokeTest, TokenInfoHasMetadataAndNoTokenValue) {
  IssueToken("canary-token-value");
  auto info = broker_->GetTokenInfo(Fingerprint("canary-token-value"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->credential(), "default");
  EXPECT_EQ(info->client_id(), "client-1");
  EXPECT_EQ(info->state(), TOKEN_STATE_FRESH);
  EXPECT_EQ(info->expire_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(1)));
  EXPECT_EQ(info->DebugString().find("canary-token-value"), std::string::npos);
  EXPECT_EQ(broker_->GetTokenInfo("0000000000000000").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TokenBrokerRevokeTest, ListTokensPagesInFingerprintOrder) {
  for (const char* t : {"t1", "t2", "t3", "t4", "t5"}) IssueToken(t);
  IssueToken("t6", "other");
  auto page1 = broker_->ListTokens("default", 2, "");
  ASSERT_EQ(page1.tokens_size(), 2);
  EXPECT_LT(page1.tokens(0).fingerprint(), page1.tokens(1).fingerprint());
  auto page2 = broker_->ListTokens("default", 2, page1.next_page_token());
  auto page3 = broker_->ListTokens("default", 2, page2.next_page_token());
  ASSERT_EQ(page2.tokens_size(), 2);
  ASSERT_EQ(page3.tokens_size(), 1);
  EXPECT_LT(page1.tokens(1).fingerprint(), page2.tokens(0).fingerprint());
  EXPECT_TRUE(page3.next_page_token().empty());
  EXPECT_EQ(broker_->ListTokens("", 100, "").tokens_size(), 6);
}

}  // namespace
}  // namespace tokenservice
