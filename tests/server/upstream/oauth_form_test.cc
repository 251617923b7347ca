#include "server/upstream/oauth_form.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {
namespace {

TEST(FormUrlEncode, UnreservedCharactersUnchanged) {
  EXPECT_EQ(FormUrlEncode("AZaz09*-._"), "AZaz09*-._");
}

TEST(FormUrlEncode, SpaceBecomesPlus) {
  EXPECT_EQ(FormUrlEncode("a b  c"), "a+b++c");
}

TEST(FormUrlEncode, ReservedCharactersPercentEncodedUpperCase) {
  EXPECT_EQ(FormUrlEncode(":+/&=%~?#"), "%3A%2B%2F%26%3D%25%7E%3F%23");
}

TEST(FormUrlEncode, Utf8BytesEncodedOneByOne) {
  EXPECT_EQ(FormUrlEncode("é日本"), "%C3%A9%E6%97%A5%E6%9C%AC");
}

TEST(FormUrlEncode, ControlAndNulBytesEncoded) {
  EXPECT_EQ(FormUrlEncode(std::string("a\0b\n", 4)), "a%00b%0A");
}

TEST(FormUrlEncode, EmptyStaysEmpty) { EXPECT_EQ(FormUrlEncode(""), ""); }

// Expected values are base64 of the hand-encoded "id:secret", computed with
// `printf %s 'ID:SECRET' | base64`.
TEST(BasicAuthorization, PlainCredentials) {
  EXPECT_EQ(BasicAuthorization({"client", "secret"}),
            "Basic Y2xpZW50OnNlY3JldA==");
}

TEST(BasicAuthorization, ReservedCharactersEncodedBeforeBase64) {
  // "my%3Aclient:p%2Bs%2Fw%26r%3Dd%25"
  EXPECT_EQ(BasicAuthorization({"my:client", "p+s/w&r=d%"}),
            "Basic bXklM0FjbGllbnQ6cCUyQnMlMkZ3JTI2ciUzRGQlMjU=");
}

TEST(BasicAuthorization, SpaceAndNonAsciiEncodedBeforeBase64) {
  // "caf%C3%A9+%E6%97%A5%E6%9C%AC:a+b"
  EXPECT_EQ(BasicAuthorization({"café 日本", "a b"}),
            "Basic Y2FmJUMzJUE5KyVFNiU5NyVBNSVFNiU5QyVBQzphK2I=");
}

TEST(BasicAuthorization, EmptyCredentials) {
  EXPECT_EQ(BasicAuthorization({"", ""}), "Basic Og==");
}

TEST(TokenRequestBody, NoScopesSendsGrantOnly) {
  EXPECT_EQ(TokenRequestBody({}), "grant_type=client_credentials");
}

TEST(TokenRequestBody, OneScope) {
  EXPECT_EQ(TokenRequestBody({"webhooks"}),
            "grant_type=client_credentials&scope=webhooks");
}

TEST(TokenRequestBody, ScopesSpaceJoinedAndEncoded) {
  EXPECT_EQ(TokenRequestBody({"webhooks", "a:b", "c/d"}),
            "grant_type=client_credentials&scope=webhooks+a%3Ab+c%2Fd");
}

TEST(GrantRequestBody, AuthorizationCodeWithRedirectAndVerifier) {
  UserGrant grant;
  grant.code = "c/1+";
  grant.redirect_uri = "https://app.example/cb?x=1";
  grant.code_verifier = "v-._~";
  EXPECT_EQ(GrantRequestBody(grant),
            "grant_type=authorization_code&code=c%2F1%2B"
            "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1"
            "&code_verifier=v-._%7E");
}

TEST(GrantRequestBody, AuthorizationCodeAloneOmitsEmptyFields) {
  UserGrant grant;
  grant.code = "abc";
  EXPECT_EQ(GrantRequestBody(grant), "grant_type=authorization_code&code=abc");
}

TEST(GrantRequestBody, RefreshTokenWithAndWithoutScopes) {
  UserGrant grant;
  grant.type = UserGrant::Type::kRefreshToken;
  grant.refresh_token = "r=1";
  EXPECT_EQ(GrantRequestBody(grant),
            "grant_type=refresh_token&refresh_token=r%3D1");
  grant.scopes = {"a", "b"};
  EXPECT_EQ(GrantRequestBody(grant),
            "grant_type=refresh_token&refresh_token=r%3D1&scope=a+b");
}

TEST(RevokeRequestBody, TokenEncoded) {
  EXPECT_EQ(RevokeRequestBody("abc.DEF-_~+/="), "token=abc.DEF-_%7E%2B%2F%3D");
}

}  // namespace
}  // namespace tokenservice
