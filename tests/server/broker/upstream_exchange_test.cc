// UpstreamExchange: every kind of request to myPOS takes the same deadline
// rule, the same metric (by kind) and the same log fields.

#include "server/broker/upstream_exchange.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"
#include "tests/base/fake_clock.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"
#include "tests/testing/log_capture.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::_;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Return;

constexpr char kCanarySecret[] = "canary-secret-5b1e";
constexpr char kCanaryToken[] = "canary-token-9f0c";

class UpstreamExchangeTest : public ::testing::Test {
 protected:
  UpstreamExchangeTest()
      : exchange_({absl::Seconds(10), absl::Milliseconds(50)}, &upstream_,
                  &clock_, &metrics_) {
    profile_.name = "default";
    profile_.credentials = {"client-1", kCanarySecret};
  }
  ~UpstreamExchangeTest() override {
    for (const std::string& line : log_.Lines()) {
      EXPECT_THAT(line, AllOf(Not(HasSubstr(kCanarySecret)),
                              Not(HasSubstr(kCanaryToken))));
    }
  }

  // The one log line, if exactly one was written.
  std::string OnlyLine() const {
    const std::vector<std::string> lines = log_.Lines();
    EXPECT_EQ(lines.size(), 1u);
    return lines.empty() ? "" : lines.back();
  }

  // The exposition line of tokenservice_upstream_requests_total for
  // `kind` and `code` of the profile, e.g.
  // ...{code="OK",kind="grant",profile="default"} 1.
  std::string Counted(const std::string& kind, const std::string& code) {
    return absl::StrCat("tokenservice_upstream_requests_total{code=\"", code,
                        "\",kind=\"", kind, "\",profile=\"default\"} 1\n");
  }

  // The sum of every tokenservice_upstream_requests_total series.
  double UpstreamRequests() {
    double total = 0;
    for (absl::string_view line :
         absl::StrSplit(metrics_.Render({}, clock_.Now()), '\n')) {
      if (!absl::ConsumePrefix(&line, "tokenservice_upstream_requests_total{"))
        continue;
      double value = 0;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value));
      total += value;
    }
    return total;
  }

  // The exchange, run to its end (the mock answers on the executor).
  absl::StatusOr<ExchangedToken> Fetch(const std::vector<std::string>& scopes,
                                       std::function<bool()> wanted = nullptr) {
    return Await<ExchangedToken>([&](auto done) {
      exchange_.FetchToken(profile_, scopes, Lane::kCaller, std::move(wanted),
                           std::move(done));
    });
  }
  absl::StatusOr<ExchangedToken> Grant(const UserGrant& grant,
                                       absl::Time deadline) {
    return Await<ExchangedToken>([&](auto done) {
      exchange_.ExchangeGrant(profile_, grant, deadline, std::move(done));
    });
  }
  absl::StatusOr<std::string> Revoke(absl::string_view token,
                                     absl::string_view fingerprint,
                                     absl::Time deadline) {
    return Await<std::string>([&](auto done) {
      exchange_.RevokeToken(profile_, token, fingerprint, deadline,
                            std::move(done));
    });
  }
  template <typename T, typename Start>
  absl::StatusOr<T> Await(Start start) {
    std::optional<absl::StatusOr<T>> result;
    start([&result](absl::StatusOr<T> r) { result = std::move(r); });
    executor_.RunAll();
    if (!result.has_value()) return absl::InternalError("never answered");
    return *std::move(result);
  }

  LogCapture log_;  // first in, last out
  FakeClock clock_;
  ManualExecutor executor_;
  MockOAuthClient upstream_{&executor_};
  Metrics metrics_;
  UpstreamExchange exchange_;
  CredentialProfile profile_;
};

TEST_F(UpstreamExchangeTest, FetchTokenBuildsTheTokenRecordsAndLogsIt) {
  UpstreamToken reply = BearerToken(kCanaryToken, absl::Minutes(30));
  reply.scopes = {"webhooks", "a"};
  EXPECT_CALL(upstream_, FetchToken(_, std::vector<std::string>{"x"}, _))
      .WillOnce([this, reply](const ClientCredentials& credentials,
                              const std::vector<std::string>&, absl::Time) {
        EXPECT_EQ(credentials.client_secret, kCanarySecret);
        clock_.Advance(absl::Milliseconds(120));
        return reply;
      });
  const absl::Time start = clock_.Now();
  absl::StatusOr<ExchangedToken> result = Fetch({"x"});
  ASSERT_TRUE(result.ok()) << result.status();
  const CachedToken& token = result->token;
  EXPECT_EQ(token.credential, "default");
  EXPECT_EQ(token.client_id, "client-1");
  EXPECT_EQ(token.fingerprint, Fingerprint(kCanaryToken));
  EXPECT_EQ(token.scopes, (std::vector<std::string>{"a", "webhooks"}));
  EXPECT_EQ(token.issue_time, start + absl::Milliseconds(120));
  EXPECT_EQ(token.expire_time, token.issue_time + absl::Minutes(30));
  EXPECT_EQ(token.upstream_latency, absl::Milliseconds(120));
  EXPECT_THAT(metrics_.Render({}, clock_.Now()),
              HasSubstr(Counted("token", "OK")));
  const std::string line = OnlyLine();
  EXPECT_THAT(line, HasSubstr("\"event\":\"upstream_token_issued\""));
  EXPECT_THAT(line, HasSubstr("\"profile\":\"default\""));
  EXPECT_THAT(line, HasSubstr("\"duration_ms\":120,"));
  EXPECT_THAT(line, HasSubstr("\"code\":\"OK\""));
  EXPECT_THAT(line, HasSubstr(Fingerprint(kCanaryToken)));
}

TEST_F(UpstreamExchangeTest, ReplyWithoutScopesKeepsTheRequestedOnes) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken(kCanaryToken)));
  absl::StatusOr<ExchangedToken> result = Fetch({"a", "b"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->token.scopes, (std::vector<std::string>{"a", "b"}));
}

TEST_F(UpstreamExchangeTest, OwnTimeoutIsUnavailableForEveryKind) {
  const absl::Status timeout = absl::DeadlineExceededError("timed out");
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(timeout));
  EXPECT_CALL(upstream_, ExchangeGrant).WillOnce(Return(timeout));
  EXPECT_CALL(upstream_, RevokeToken).WillOnce(Return(timeout));
  const absl::Time none = absl::InfiniteFuture();
  const absl::Status fetched = Fetch({}).status();
  const absl::Status granted = Grant(UserGrant{}, none).status();
  const absl::Status revoked = Revoke(kCanaryToken, "fp", none).status();
  for (const absl::Status& status : {fetched, granted, revoked}) {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                 kReasonUpstreamUnavailable));
  }
  const std::string text = metrics_.Render({}, clock_.Now());
  EXPECT_THAT(text, HasSubstr(Counted("token", "UNAVAILABLE")));
  EXPECT_THAT(text, HasSubstr(Counted("grant", "UNAVAILABLE")));
  EXPECT_THAT(text, HasSubstr(Counted("revoke", "UNAVAILABLE")));
  const std::vector<std::string> lines = log_.Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("\"event\":\"upstream_token_failed\""));
  EXPECT_THAT(lines[1], HasSubstr("\"event\":\"upstream_grant_failed\""));
  EXPECT_THAT(lines[2], HasSubstr("\"event\":\"upstream_revoke_failed\""));
  for (const std::string& line : lines) {
    EXPECT_THAT(line, HasSubstr("\"code\":\"UNAVAILABLE\""));
    EXPECT_THAT(line, HasSubstr("\"error\":\"myPOS did not answer"));
  }
}

TEST_F(UpstreamExchangeTest, CallerDeadlineMinusMarginBoundsTheRequest) {
  const absl::Time caller = clock_.Now() + absl::Seconds(2);
  EXPECT_CALL(upstream_, RevokeToken(_, _, caller - absl::Milliseconds(50)))
      .WillOnce(Return(absl::DeadlineExceededError("caller's deadline")));
  EXPECT_THAT(Revoke(kCanaryToken, "fp", caller),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(UpstreamExchangeTest, FetchRunsOnTheServersDeadlineInItsLane) {
  const absl::Time expected = clock_.Now() + absl::Seconds(10);
  EXPECT_CALL(upstream_, FetchToken(_, _, expected))
      .WillOnce(Return(BearerToken(kCanaryToken)));
  EXPECT_CALL(upstream_, RevokeToken).WillOnce(Return(absl::OkStatus()));
  EXPECT_TRUE(Fetch({"a"}).ok());
  EXPECT_TRUE(Revoke(kCanaryToken, "fp", absl::InfiniteFuture()).ok());
  EXPECT_THAT(upstream_.lanes(), ElementsAre(Lane::kCaller, Lane::kReserved));
}

TEST_F(UpstreamExchangeTest, FetchNobodyWantsIsNeitherCountedNorLogged) {
  EXPECT_CALL(upstream_, FetchToken(_, _, _)).Times(0);
  EXPECT_THAT(Fetch({"a"}, [] { return false; }),
              StatusIs(absl::StatusCode::kCancelled));
  EXPECT_TRUE(log_.Lines().empty());
  EXPECT_EQ(UpstreamRequests(), 0);
}

TEST_F(UpstreamExchangeTest, GrantIsRecordedAndLoggedLikeTheOthers) {
  UpstreamToken reply = BearerToken(kCanaryToken);
  reply.refresh_token = "canary-refresh";
  EXPECT_CALL(upstream_, ExchangeGrant).WillOnce(Return(reply));
  UserGrant grant;
  grant.type = UserGrant::Type::kRefreshToken;
  grant.refresh_token = "canary-refresh";
  grant.scopes = {"s"};
  absl::StatusOr<ExchangedToken> result = Grant(grant, absl::InfiniteFuture());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->refresh_token, "canary-refresh");
  EXPECT_EQ(result->token.scopes, std::vector<std::string>{"s"});
  EXPECT_THAT(metrics_.Render({}, clock_.Now()),
              HasSubstr(Counted("grant", "OK")));
  const std::string line = OnlyLine();
  EXPECT_THAT(line, HasSubstr("\"event\":\"upstream_grant_exchanged\""));
  EXPECT_THAT(line, HasSubstr("\"grant_type\":\"refresh_token\""));
  EXPECT_THAT(line, HasSubstr("\"refresh_token\":true"));
  EXPECT_THAT(line, Not(HasSubstr("canary-refresh")));
}

TEST_F(UpstreamExchangeTest, RevokeReturnsTheClientIdItRevokedWith) {
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view(kCanaryToken), _))
      .WillOnce(Return(absl::OkStatus()));
  absl::StatusOr<std::string> client_id =
      Revoke(kCanaryToken, Fingerprint(kCanaryToken), absl::InfiniteFuture());
  ASSERT_TRUE(client_id.ok());
  EXPECT_EQ(*client_id, "client-1");
  const std::string line = OnlyLine();
  EXPECT_THAT(line, HasSubstr("\"event\":\"upstream_token_revoked\""));
  EXPECT_THAT(line, HasSubstr(Fingerprint(kCanaryToken)));
  EXPECT_THAT(line, Not(HasSubstr("\"error\"")));
}

TEST_F(UpstreamExchangeTest, UnreadableSecretMakesNoRequestForAnyKind) {
  profile_.client_secret_file = "/nonexistent/tokenservice/secret";
  EXPECT_CALL(upstream_, FetchToken).Times(0);
  EXPECT_CALL(upstream_, ExchangeGrant).Times(0);
  EXPECT_CALL(upstream_, RevokeToken).Times(0);
  const absl::Time none = absl::InfiniteFuture();
  const auto unreadable = StatusIs(absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Fetch({}), unreadable);
  EXPECT_THAT(Grant(UserGrant{}, none), unreadable);
  EXPECT_THAT(Revoke(kCanaryToken, "fp", none), unreadable);
  const std::vector<std::string> lines = log_.Lines();
  ASSERT_EQ(lines.size(), 3u);
  for (const std::string& line : lines) {
    EXPECT_THAT(line, HasSubstr("\"event\":\"credentials_unreadable\""));
  }
  EXPECT_EQ(UpstreamRequests(), 0);
}

}  // namespace
}  // namespace tokenservice
