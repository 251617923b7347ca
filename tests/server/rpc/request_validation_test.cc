#include "server/rpc/request_validation.h"

#include <string>

#include "base/fingerprint.h"
#include "base/scopes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::mypos::token::v1::ExchangeGrantRequest;
using ::mypos::token::v1::GetTokenInfoRequest;
using ::mypos::token::v1::IssueRequest;
using ::mypos::token::v1::ListTokensRequest;
using ::mypos::token::v1::RevokeRequest;
using ::testing::AllOf;
using ::testing::HasSubstr;

// kInvalidArgument, reason INVALID_REQUEST, naming `field`.
auto NamesField(const std::string& field) {
  return AllOf(
      StatusIs(absl::StatusCode::kInvalidArgument, kReasonInvalidRequest),
      MessageHas(field));
}

TEST(ValidateIssueRequest, AcceptsMinimalAndFullRequests) {
  EXPECT_TRUE(ValidateIssueRequest(IssueRequest()).ok());
  IssueRequest r;
  r.set_credential("payments-eu.1");
  r.add_scopes("webhooks");
  r.mutable_min_validity()->set_seconds(300);
  r.set_rejected_fingerprint(Fingerprint("t"));
  EXPECT_TRUE(ValidateIssueRequest(r).ok());
}

TEST(ValidateIssueRequest, NamesTheBadField) {
  IssueRequest r;
  r.set_credential("bad name");
  EXPECT_THAT(ValidateIssueRequest(r), NamesField("credential"));
  r.Clear();
  r.set_credential(std::string(kMaxCredentialLength + 1, 'a'));
  EXPECT_THAT(ValidateIssueRequest(r), NamesField("credential"));
  r.Clear();
  r.add_scopes("ok");
  r.add_scopes("not ok");
  EXPECT_THAT(ValidateIssueRequest(r), NamesField("scopes[1]"));
  r.Clear();
  for (int i = 0; i <= kMaxScopes; ++i) r.add_scopes("s");
  EXPECT_THAT(ValidateIssueRequest(r), NamesField("scopes"));
  r.Clear();
  r.mutable_min_validity()->set_seconds(-1);
  EXPECT_THAT(ValidateIssueRequest(r), NamesField("min_validity"));
  r.Clear();
  r.mutable_min_validity()->set_seconds(25 * 3600);
  EXPECT_THAT(ValidateIssueRequest(r), NamesField("min_validity"));
  r.Clear();
  r.set_rejected_fingerprint("xyz");
  EXPECT_THAT(ValidateIssueRequest(r), NamesField("rejected_fingerprint"));
}

TEST(ValidateIssueRequest, CallerCredentialsAreCheckedAndExclusive) {
  IssueRequest r;
  r.mutable_client_credentials()->set_client_id("tenant");
  r.mutable_client_credentials()->set_client_secret("s");
  EXPECT_TRUE(ValidateIssueRequest(r).ok());
  r.set_credential("default");
  EXPECT_THAT(ValidateIssueRequest(r), NamesField("credential"));
  r.clear_credential();
  r.mutable_client_credentials()->set_client_id("");
  EXPECT_THAT(ValidateIssueRequest(r),
              NamesField("client_credentials.client_id"));
  r.mutable_client_credentials()->set_client_id("bad\nid");
  EXPECT_THAT(ValidateIssueRequest(r),
              NamesField("client_credentials.client_id"));
  r.mutable_client_credentials()->set_client_id("tenant");
  r.mutable_client_credentials()->set_client_secret(
      std::string(kMaxClientSecretLength + 1, 's'));
  absl::Status s = ValidateIssueRequest(r);
  EXPECT_THAT(s, NamesField("client_credentials.client_secret"));
  EXPECT_EQ(std::string(s.message()).find("sss"), std::string::npos);
}

TEST(ValidateRevokeRequest, NeedsExactlyAWellFormedTarget) {
  RevokeRequest r;
  EXPECT_THAT(ValidateRevokeRequest(r), NamesField("token or fingerprint"));
  r.set_token("");
  EXPECT_THAT(ValidateRevokeRequest(r), NamesField("token"));
  r.set_token("has space");
  EXPECT_THAT(ValidateRevokeRequest(r), NamesField("token"));
  r.set_token(std::string(kMaxTokenLength + 1, 'a'));
  EXPECT_THAT(ValidateRevokeRequest(r), NamesField("token"));
  r.set_token("abc.DEF-123_~+/=");
  EXPECT_TRUE(ValidateRevokeRequest(r).ok());
  r.set_fingerprint("nothex");
  EXPECT_THAT(ValidateRevokeRequest(r), NamesField("fingerprint"));
  r.set_fingerprint(Fingerprint("t"));
  EXPECT_TRUE(ValidateRevokeRequest(r).ok());
}

TEST(ValidateGetTokenInfoRequest, NeedsAFingerprint) {
  GetTokenInfoRequest r;
  EXPECT_THAT(ValidateGetTokenInfoRequest(r), NamesField("fingerprint"));
  r.set_fingerprint(Fingerprint("t"));
  EXPECT_TRUE(ValidateGetTokenInfoRequest(r).ok());
}

TEST(ValidateListTokensRequest, ChecksPageSizeAndToken) {
  ListTokensRequest r;
  EXPECT_TRUE(ValidateListTokensRequest(r).ok());
  r.set_page_size(-1);
  EXPECT_THAT(ValidateListTokensRequest(r), NamesField("page_size"));
  r.set_page_size(10);
  r.set_page_token("zz");
  EXPECT_THAT(ValidateListTokensRequest(r), NamesField("page_token"));
}

TEST(ValidateIssueRequest, InvalidFieldCarriesReasonAndFieldMetadata) {
  IssueRequest r;
  r.add_scopes("bad scope");
  absl::Status s = ValidateIssueRequest(r);
  EXPECT_EQ(ErrorReason(s), "INVALID_REQUEST");
  EXPECT_EQ(ErrorMetadata(s).at("field"), "scopes[0]");
}

ExchangeGrantRequest CodeRequest() {
  ExchangeGrantRequest r;
  r.mutable_authorization_code()->set_code("code-1");
  return r;
}

ExchangeGrantRequest RefreshRequest() {
  ExchangeGrantRequest r;
  r.mutable_refresh_token()->set_refresh_token("refresh-1");
  return r;
}

TEST(ValidateExchangeGrantRequest, AcceptsGrantRequests) {
  ExchangeGrantRequest code = CodeRequest();
  EXPECT_TRUE(ValidateExchangeGrantRequest(code).ok());
  code.mutable_authorization_code()->set_redirect_uri(
      "https://app.example/callback?x=1");
  code.mutable_authorization_code()->set_code_verifier(std::string(43, 'a') +
                                                       "-._~");
  EXPECT_TRUE(ValidateExchangeGrantRequest(code).ok());
  ExchangeGrantRequest refresh = RefreshRequest();
  refresh.mutable_refresh_token()->add_scopes("webhooks");
  refresh.set_credential("payments-eu.1");
  EXPECT_TRUE(ValidateExchangeGrantRequest(refresh).ok());
}

TEST(ValidateExchangeGrantRequest, GrantFieldsAreRequiredAndChecked) {
  ExchangeGrantRequest r = CodeRequest();
  r.mutable_authorization_code()->clear_code();
  EXPECT_THAT(ValidateExchangeGrantRequest(r),
              NamesField("authorization_code.code"));
  r = CodeRequest();
  r.mutable_authorization_code()->set_code("has space");
  EXPECT_THAT(ValidateExchangeGrantRequest(r),
              NamesField("authorization_code.code"));
  r = CodeRequest();
  r.mutable_authorization_code()->set_code(
      std::string(kMaxAuthorizationCodeLength + 1, 'c'));
  EXPECT_THAT(ValidateExchangeGrantRequest(r),
              NamesField("authorization_code.code"));
  r = CodeRequest();
  r.mutable_authorization_code()->set_redirect_uri("/relative/path");
  EXPECT_THAT(ValidateExchangeGrantRequest(r), NamesField("redirect_uri"));
  r = CodeRequest();
  r.mutable_authorization_code()->set_code_verifier("too-short");
  EXPECT_THAT(ValidateExchangeGrantRequest(r), NamesField("code_verifier"));
  r = CodeRequest();
  r.mutable_authorization_code()->set_code_verifier(std::string(43, 'a') + "+");
  EXPECT_THAT(ValidateExchangeGrantRequest(r), NamesField("code_verifier"));
  r = RefreshRequest();
  r.mutable_refresh_token()->clear_refresh_token();
  EXPECT_THAT(ValidateExchangeGrantRequest(r),
              NamesField("refresh_token.refresh_token"));
  r = RefreshRequest();
  r.mutable_refresh_token()->set_refresh_token("a\nb");
  EXPECT_THAT(ValidateExchangeGrantRequest(r),
              NamesField("refresh_token.refresh_token"));
  r = RefreshRequest();
  r.mutable_refresh_token()->add_scopes("bad scope");
  EXPECT_THAT(ValidateExchangeGrantRequest(r),
              NamesField("refresh_token.scopes[0]"));
  r = RefreshRequest();
  r.set_credential("no spaces allowed");
  EXPECT_THAT(ValidateExchangeGrantRequest(r), NamesField("credential"));
}

TEST(ValidateExchangeGrantRequest, AGrantIsRequired) {
  EXPECT_THAT(ValidateExchangeGrantRequest(ExchangeGrantRequest()),
              NamesField("grant"));
}

}  // namespace
}  // namespace tokenservice
