#include "server/broker/issue_reply.h"

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

using mypos::token::v1::IssueResponse;
using ::testing::ElementsAre;

CachedToken Token() {
  CachedToken token;
  token.credential = "default";
  token.client_id = "client-1";
  token.access_token = "canary-token-value";
  token.token_type = "Bearer";
  token.fingerprint = "0123456789abcdef";
  token.scopes = {"a", "b"};
  token.issue_time = absl::FromUnixSeconds(1700000000);
  token.expire_time = absl::FromUnixSeconds(1700003600) + absl::Milliseconds(5);
  return token;
}

TEST(IssueReplyTest, FillsEveryFieldOfTheToken) {
  IssueResponse response;
  FillIssueResponse(Token(), /*cached=*/false, &response);
  EXPECT_EQ(response.access_token(), "canary-token-value");
  EXPECT_EQ(response.token_type(), "Bearer");
  EXPECT_EQ(response.fingerprint(), "0123456789abcdef");
  EXPECT_EQ(response.credential(), "default");
  EXPECT_THAT(response.scopes(), ElementsAre("a", "b"));
  EXPECT_EQ(response.issue_time().seconds(), 1700000000);
  EXPECT_EQ(response.expire_time().seconds(), 1700003600);
  EXPECT_EQ(response.expire_time().nanos(), 5000000);
  EXPECT_FALSE(response.cached());
}

TEST(IssueReplyTest, ExchangeGrantResponseCarriesTheRefreshToken) {
  mypos::token::v1::ExchangeGrantResponse response;
  FillExchangeGrantResponse(Token(), "canary-refresh", &response);
  EXPECT_EQ(response.access_token(), "canary-token-value");
  EXPECT_EQ(response.fingerprint(), "0123456789abcdef");
  EXPECT_THAT(response.scopes(), ElementsAre("a", "b"));
  EXPECT_EQ(response.expire_time().seconds(), 1700003600);
  EXPECT_EQ(response.refresh_token(), "canary-refresh");
}

TEST(IssueReplyTest, HitReplyIsTheCachedResponseSerialized) {
  IssueResponse expected;
  FillIssueResponse(Token(), /*cached=*/true, &expected);
  IssueResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(SerializeHitReply(Token())));
  EXPECT_TRUE(parsed.cached());
  EXPECT_EQ(parsed.SerializeAsString(), expected.SerializeAsString());
}

}  // namespace
}  // namespace tokenservice
