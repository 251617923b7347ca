// TokenBroker with caller-supplied credentials: keyed by client id and a
// keyed hash of the secret, never the secret; bounded, least recently used
// first out.

#include <memory>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/broker/token_broker.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"

namespace tokenservice {
namespace {

using ::testing::_;
using ::testing::Field;
using ::testing::Return;

constexpr char kCanarySecret[] = "canary-tenant-secret-0a9c";

class CallerCredentialsTest : public ::testing::Test {
 protected:
  CallerCredentialsTest()
      : credentials_("default", {{"default", {"id", "secret"}}}),
        broker_(*TokenBroker::Create(Options(), &credentials_, &upstream_,
                                     &timers_, &clock_)) {
    ON_CALL(upstream_, FetchToken)
        .WillByDefault([this](const ClientCredentials& c, auto&&...) {
          UpstreamToken token;
          token.access_token = c.client_id + "-token-" + std::to_string(++n_);
          token.token_type = "Bearer";
          token.expires_in = absl::Hours(1);
          return token;
        });
  }

  static BrokerOptions Options() {
    BrokerOptions options;
    options.max_caller_credential_tokens = 2;
    return options;
  }

  std::string Issue(const std::string& id, const std::string& secret) {
    IssueParams params;
    params.caller_credentials = ClientCredentials{id, secret};
    std::string token;
    broker_->Issue(params, [&token](absl::StatusOr<IssuedToken> r) {
      token = r.ok() ? r->token->access_token : r.status().ToString();
    });
    executor_.RunAll();
    clock_.Advance(absl::Seconds(1));  // distinct last-use times
    return token;
  }

  FakeClock clock_;
  ManualExecutor executor_;
  FakeTimers timers_{&clock_};
  MockOAuthClient upstream_{&executor_};
  CredentialStore credentials_;
  std::unique_ptr<TokenBroker> broker_;
  int n_ = 0;
};

TEST_F(CallerCredentialsTest, SameCredentialsShareATokenAndSecretsAreTold) {
  EXPECT_CALL(
      upstream_,
      FetchToken(Field(&ClientCredentials::client_secret, kCanarySecret), _, _))
      .Times(1);
  EXPECT_CALL(
      upstream_,
      FetchToken(Field(&ClientCredentials::client_secret, "other"), _, _))
      .Times(1);
  const std::string first = Issue("tenant", kCanarySecret);
  EXPECT_EQ(Issue("tenant", kCanarySecret), first);
  // Same client id, another secret: another key, so no token is shared
  // with someone who does not hold the secret.
  EXPECT_NE(Issue("tenant", "other"), first);
  auto list = broker_->ListTokens("", 10, "");
  ASSERT_EQ(list.tokens_size(), 2);
  EXPECT_EQ(list.tokens(0).credential(), "caller-supplied:tenant");
  EXPECT_EQ(list.DebugString().find(kCanarySecret), std::string::npos);
}

TEST_F(CallerCredentialsTest, LeastRecentlyUsedGoesFirstBeyondTheBound) {
  EXPECT_CALL(upstream_, FetchToken).Times(4);
  const std::string a = Issue("a", "s");
  const std::string b = Issue("b", "s");
  EXPECT_EQ(Issue("a", "s"), a);  // a is now more recently used than b
  Issue("c", "s");                // evicts b
  EXPECT_EQ(Issue("a", "s"), a);  // still cached
  EXPECT_NE(Issue("b", "s"), b);  // fetched again (4th fetch)
}

TEST_F(CallerCredentialsTest, ConfiguredProfilesAreNotBounded) {
  EXPECT_CALL(upstream_, FetchToken).Times(4);
  std::string token;
  broker_->Issue(IssueParams{}, [&](absl::StatusOr<IssuedToken> r) {
    token = r->token->access_token;
  });
  executor_.RunAll();
  Issue("a", "s");
  Issue("b", "s");
  Issue("c", "s");
  std::string again;
  broker_->Issue(IssueParams{}, [&](absl::StatusOr<IssuedToken> r) {
    again = r->token->access_token;
  });
  EXPECT_EQ(again, token);
}

// Revoke with caller-supplied credentials, by fingerprint (which /metrics
// and ListTokens show to anyone who may read them).
absl::StatusCode RevokeByFingerprint(TokenBroker& broker,
                                     ManualExecutor& executor,
                                     const std::string& id,
                                     const std::string& secret,
                                     const std::string& fingerprint) {
  RevokeParams params;
  params.caller_credentials = ClientCredentials{id, secret};
  params.fingerprint = fingerprint;
  std::optional<absl::StatusCode> code;
  broker.Revoke(params, [&code](absl::StatusOr<RevokeResult> r) {
    code = r.status().code();
  });
  executor.RunAll();
  EXPECT_TRUE(code.has_value());
  return code.value_or(absl::StatusCode::kUnknown);
}

TEST_F(CallerCredentialsTest, AWrongSecretCannotEvictAnotherTenantsToken) {
  EXPECT_CALL(upstream_, FetchToken).Times(1);
  EXPECT_CALL(upstream_, RevokeToken).Times(0);
  const std::string victim = Issue("tenant", kCanarySecret);
  const std::string fingerprint =
      broker_->ListTokens("", 10, "").tokens(0).fingerprint();
  EXPECT_EQ(RevokeByFingerprint(*broker_, executor_, "tenant", "guessed",
                                fingerprint),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Issue("tenant", kCanarySecret), victim);  // still cached
}

TEST_F(CallerCredentialsTest, TheRightSecretRevokesItsOwnToken) {
  EXPECT_CALL(upstream_, FetchToken).Times(2);
  EXPECT_CALL(upstream_, RevokeToken(Field(&ClientCredentials::client_secret,
                                           kCanarySecret),
                                     _, _))
      .WillOnce(Return(absl::OkStatus()));
  const std::string first = Issue("tenant", kCanarySecret);
  const std::string fingerprint =
      broker_->ListTokens("", 10, "").tokens(0).fingerprint();
  EXPECT_EQ(RevokeByFingerprint(*broker_, executor_, "tenant", kCanarySecret,
                                fingerprint),
            absl::StatusCode::kOk);
  EXPECT_NE(Issue("tenant", kCanarySecret), first);  // fetched anew
}

}  // namespace
}  // namespace tokenservice
