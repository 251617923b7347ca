#include "server/rpc/request_validation.h"

#include <string>

#include "base/fingerprint.h"
#include "base/scopes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

using ::mypos::token::v1::GetTokenInfoRequest;
using ::mypos::token::v1::IssueRequest;
using ::mypos::token::v1::ListTokensRequest;
using ::mypos::token::v1::RevokeRequest;
using ::testing::HasSubstr;

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(field));
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
  ExpectInvalid(ValidateIssueRequest(r), "credential");
  r.Clear();
  r.set_credential(std::string(kMaxCredentialLength + 1, 'a'));
  ExpectInvalid(ValidateIssueRequest(r), "credential");
  r.Clear();
  r.add_scopes("ok");
  r.add_scopes("not ok");
  ExpectInvalid(ValidateIssueRequest(r), "scopes[1]");
  r.Clear();
  for (int i = 0; i <= kMaxScopes; ++i) r.add_scopes("s");
  ExpectInvalid(ValidateIssueRequest(r), "scopes");
  r.Clear();
  r.mutable_min_validity()->set_seconds(-1);
  ExpectInvalid(ValidateIssueRequest(r), "min_validity");
  r.Clear();
  r.mutable_min_validity()->set_seconds(25 * 3600);
  ExpectInvalid(ValidateIssueRequest(r), "min_validity");
  r.Clear();
  r.set_rejected_fingerprint("xyz");
  ExpectInvalid(ValidateIssueRequest(r), "rejected_fingerprint");
}

TEST(ValidateIssueRequest, CallerCredentialsAreCheckedAndExclusive) {
  IssueRequest r;
  r.mutable_client_credentials()->set_client_id("tenant");
  r.mutable_client_credentials()->set_client_secret("s");
  EXPECT_TRUE(ValidateIssueRequest(r).ok());
  r.set_credential("default");
  ExpectInvalid(ValidateIssueRequest(r), "credential");
  r.clear_credential();
  r.mutable_client_credentials()->set_client_id("");
  ExpectInvalid(ValidateIssueRequest(r), "client_credentials.client_id");
  r.mutable_client_credentials()->set_client_id("bad\nid");
  ExpectInvalid(ValidateIssueRequest(r), "client_credentials.client_id");
  r.mutable_client_credentials()->set_client_id("tenant");
  r.mutable_client_credentials()->set_client_secret(
      std::string(kMaxClientSecretLength + 1, 's'));
  absl::Status s = ValidateIssueRequest(r);
  ExpectInvalid(s, "client_credentials.client_secret");
  EXPECT_EQ(std::string(s.message()).find("sss"), std::string::npos);
}

TEST(ValidateRevokeRequest, NeedsExactlyAWellFormedTarget) {
  RevokeRequest r;
  ExpectInvalid(ValidateRevokeRequest(r), "token or fingerprint");
  r.set_token("");
  ExpectInvalid(ValidateRevokeRequest(r), "token");
  r.set_token("has space");
  ExpectInvalid(ValidateRevokeRequest(r), "token");
  r.set_token(std::string(kMaxTokenLength + 1, 'a'));
  ExpectInvalid(ValidateRevokeRequest(r), "token");
  r.set_token("abc.DEF-123_~+/=");
  EXPECT_TRUE(ValidateRevokeRequest(r).ok());
  r.set_fingerprint("nothex");
  ExpectInvalid(ValidateRevokeRequest(r), "fingerprint");
  r.set_fingerprint(Fingerprint("t"));
  EXPECT_TRUE(ValidateRevokeRequest(r).ok());
}

TEST(ValidateGetTokenInfoRequest, NeedsAFingerprint) {
  GetTokenInfoRequest r;
  ExpectInvalid(ValidateGetTokenInfoRequest(r), "fingerprint");
  r.set_fingerprint(Fingerprint("t"));
  EXPECT_TRUE(ValidateGetTokenInfoRequest(r).ok());
}

TEST(ValidateListTokensRequest, ChecksPageSizeAndToken) {
  ListTokensRequest r;
  EXPECT_TRUE(ValidateListTokensRequest(r).ok());
  r.set_page_size(-1);
  ExpectInvalid(ValidateListTokensRequest(r), "page_size");
  r.set_page_size(10);
  r.set_page_token("zz");
  ExpectInvalid(ValidateListTokensRequest(r), "page_token");
}

TEST(ValidateIssueRequest, InvalidFieldCarriesReasonAndFieldMetadata) {
  IssueRequest r;
  r.add_scopes("bad scope");
  absl::Status s = ValidateIssueRequest(r);
  EXPECT_EQ(ErrorReason(s), "INVALID_REQUEST");
  EXPECT_EQ(ErrorMetadata(s).at("field"), "scopes[0]");
}

IssueRequest CodeRequest() {
  IssueRequest r;
  r.set_grant_type(::mypos::token::v1::GRANT_TYPE_AUTHORIZATION_CODE);
  r.set_authorization_code("code-1");
  return r;
}

IssueRequest RefreshRequest() {
  IssueRequest r;
  r.set_grant_type(::mypos::token::v1::GRANT_TYPE_REFRESH_TOKEN);
  r.set_refresh_token("refresh-1");
  return r;
}

TEST(ValidateIssueRequest, AcceptsGrantRequests) {
  IssueRequest code = CodeRequest();
  EXPECT_TRUE(ValidateIssueRequest(code).ok());
  code.set_redirect_uri("https://app.example/callback?x=1");
  code.set_code_verifier(std::string(43, 'a') + "-._~");
  EXPECT_TRUE(ValidateIssueRequest(code).ok());
  IssueRequest refresh = RefreshRequest();
  refresh.add_scopes("webhooks");
  EXPECT_TRUE(ValidateIssueRequest(refresh).ok());
}

TEST(ValidateIssueRequest, GrantFieldsAreRequiredAndChecked) {
  IssueRequest r = CodeRequest();
  r.clear_authorization_code();
  ExpectInvalid(ValidateIssueRequest(r), "authorization_code");
  r = CodeRequest();
  r.set_authorization_code("has space");
  ExpectInvalid(ValidateIssueRequest(r), "authorization_code");
  r = CodeRequest();
  r.set_authorization_code(std::string(kMaxAuthorizationCodeLength + 1, 'c'));
  ExpectInvalid(ValidateIssueRequest(r), "authorization_code");
  r = CodeRequest();
  r.set_redirect_uri("/relative/path");
  ExpectInvalid(ValidateIssueRequest(r), "redirect_uri");
  r = CodeRequest();
  r.set_code_verifier("too-short");
  ExpectInvalid(ValidateIssueRequest(r), "code_verifier");
  r = CodeRequest();
  r.set_code_verifier(std::string(43, 'a') + "+");
  ExpectInvalid(ValidateIssueRequest(r), "code_verifier");
  r = CodeRequest();
  r.add_scopes("webhooks");
  ExpectInvalid(ValidateIssueRequest(r), "scopes");
  r = RefreshRequest();
  r.clear_refresh_token();
  ExpectInvalid(ValidateIssueRequest(r), "refresh_token");
  r = RefreshRequest();
  r.set_refresh_token("a\nb");
  ExpectInvalid(ValidateIssueRequest(r), "refresh_token");
}

TEST(ValidateIssueRequest, GrantFieldsOfAnotherGrantTypeAreRejected) {
  IssueRequest r;
  r.set_refresh_token("refresh-1");  // client credentials by default
  ExpectInvalid(ValidateIssueRequest(r), "refresh_token");
  r = CodeRequest();
  r.set_refresh_token("refresh-1");
  ExpectInvalid(ValidateIssueRequest(r), "refresh_token");
  r = CodeRequest();
  r.set_rejected_fingerprint(Fingerprint("t"));
  ExpectInvalid(ValidateIssueRequest(r), "rejected_fingerprint");
  r = RefreshRequest();
  r.set_code_verifier(std::string(43, 'a'));
  ExpectInvalid(ValidateIssueRequest(r), "code_verifier");
  r.Clear();
  r.set_grant_type(static_cast<::mypos::token::v1::GrantType>(7));
  ExpectInvalid(ValidateIssueRequest(r), "grant_type");
}

}  // namespace
}  // namespace tokenservice
