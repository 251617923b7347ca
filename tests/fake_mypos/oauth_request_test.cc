#include "fake_mypos/oauth_request.h"

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace fake_mypos {
namespace {

using ::testing::ElementsAre;

TEST(FormUrlDecode, PlusIsSpaceAndEscapesAreBytes) {
  EXPECT_EQ(FormUrlDecode("a+b%3A%3a%2B%25%C3%BC"), "a b::+%\xC3\xBC");
}

TEST(FormUrlDecode, TruncatedOrNonHexEscapeFails) {
  EXPECT_EQ(FormUrlDecode("%"), std::nullopt);
  EXPECT_EQ(FormUrlDecode("ab%4"), std::nullopt);
  EXPECT_EQ(FormUrlDecode("%zz"), std::nullopt);
}

TEST(ParseFormBody, DecodesNamesAndValues) {
  absl::StatusOr<std::map<std::string, std::string>> form =
      ParseFormBody("grant_type=client_credentials&scope=a+b%21&&x");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(*form,
            (std::map<std::string, std::string>{
                {"grant_type", "client_credentials"}, {"scope", "a b!"}}));
}

TEST(ParseFormBody, EmptyValueCountsAsOmitted) {
  absl::StatusOr<std::map<std::string, std::string>> form =
      ParseFormBody("scope=&token=t");
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(*form, (std::map<std::string, std::string>{{"token", "t"}}));
}

TEST(ParseFormBody, RepeatedNameIsInvalidArgument) {
  EXPECT_EQ(ParseFormBody("token=a&token=b").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseFormBody, BadEscapeIsInvalidArgument) {
  EXPECT_EQ(ParseFormBody("token=%G1").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IsFormUrlEncoded, IgnoresCaseAndParameters) {
  EXPECT_TRUE(IsFormUrlEncoded("application/x-www-form-urlencoded"));
  EXPECT_TRUE(
      IsFormUrlEncoded("Application/X-WWW-Form-URLEncoded; charset=UTF-8"));
  EXPECT_FALSE(IsFormUrlEncoded("application/json"));
  EXPECT_FALSE(IsFormUrlEncoded(""));
}

TEST(ParseBasicAuthorization, SplitsAtFirstColonAndDecodesBothHalves) {
  const std::string header =
      "basic " + absl::Base64Escape("my%3Aid+x:s%3Ae%2Bc%26r%25t+%C3%BC");
  absl::StatusOr<BasicCredentials> credentials =
      ParseBasicAuthorization(header);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->client_id, "my:id x");
  EXPECT_EQ(credentials->client_secret, "s:e+c&r%t \xC3\xBC");
}

TEST(ParseBasicAuthorization, RawColonInSecretStaysInSecret) {
  absl::StatusOr<BasicCredentials> credentials =
      ParseBasicAuthorization("Basic " + absl::Base64Escape("id:a:b"));
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->client_id, "id");
  EXPECT_EQ(credentials->client_secret, "a:b");
}

TEST(ParseBasicAuthorization, MalformedHeadersAreUnauthenticated) {
  for (const std::string& header :
       {std::string(""), std::string("Basic"), std::string("Bearer abc"),
        std::string("Basic !!!"), "Basic " + absl::Base64Escape("no-colon"),
        "Basic " + absl::Base64Escape("id:%zz")}) {
    EXPECT_EQ(ParseBasicAuthorization(header).status().code(),
              absl::StatusCode::kUnauthenticated)
        << header;
  }
}

TEST(ParseBearerAuthorization, ReturnsTokenOfBearerSchemeOnly) {
  EXPECT_EQ(ParseBearerAuthorization("Bearer abc"), "abc");
  EXPECT_EQ(ParseBearerAuthorization("bearer  abc "), "abc");
  EXPECT_EQ(ParseBearerAuthorization("Basic abc"), std::nullopt);
  EXPECT_EQ(ParseBearerAuthorization("Bearer"), std::nullopt);
}

TEST(ParseScope, SplitsOnSpacesAndDropsDuplicates) {
  absl::StatusOr<std::vector<std::string>> scopes =
      ParseScope("webhooks !#[]~ webhooks");
  ASSERT_TRUE(scopes.ok()) << scopes.status();
  EXPECT_THAT(*scopes, ElementsAre("webhooks", "!#[]~"));
}

TEST(ParseScope, EmptyIsNoScope) {
  absl::StatusOr<std::vector<std::string>> scopes = ParseScope("");
  ASSERT_TRUE(scopes.ok()) << scopes.status();
  EXPECT_TRUE(scopes->empty());
}

TEST(ParseScope, BadCharacterOrEmptyTokenIsInvalidArgument) {
  for (const char* scope :
       {"a\"b", "a\\b", "caf\xC3\xA9", "a\tb", "a  b", " a", "a "}) {
    EXPECT_EQ(ParseScope(scope).status().code(),
              absl::StatusCode::kInvalidArgument)
        << scope;
  }
}

}  // namespace
}  // namespace fake_mypos
}  // namespace tokenservice
