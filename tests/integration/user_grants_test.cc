// authorization_code and refresh_token grants through Issue, end to end:
// passed to myPOS, never cached, the refresh token returned to the caller
// only, metadata kept; and error details as a client reads them from the
// grpc-status-details-bin trailer.

#include <string>

#include "absl/strings/match.h"
#include "fake_mypos/grant_store.h"
#include "gmock/gmock.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/service_harness.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kRedirectUri[] = "https://app.example/callback";
const std::string kVerifier = "canary-verifier-" + std::string(40, 'v');

class UserGrantsTest : public ServiceHarness {
 protected:
  void SetUp() override {
    ServiceHarness::SetUp();
    StartFake();
    StartServer();
    AddCanary(kVerifier);
  }

  // A code the fake will redeem once, as if the user had consented.
  std::string NewCode() {
    std::string code = fake_->IssueAuthorizationCode(
        kHarnessClientId, kRedirectUri, fake_mypos::S256Challenge(kVerifier),
        {"webhooks"});
    AddCanary(code);
    return code;
  }

  static v1::IssueRequest CodeRequest(const std::string& code) {
    v1::IssueRequest request;
    request.set_grant_type(v1::GRANT_TYPE_AUTHORIZATION_CODE);
    request.set_authorization_code(code);
    request.set_redirect_uri(kRedirectUri);
    request.set_code_verifier(kVerifier);
    return request;
  }
};

TEST_F(UserGrantsTest, AuthorizationCodeIsPassedThroughAndNeverCached) {
  const std::string code = NewCode();
  IssueCall call = Issue(CodeRequest(code));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_FALSE(call.response.cached());
  EXPECT_FALSE(call.response.refresh_token().empty());
  EXPECT_EQ(call.response.credential(), "default");
  EXPECT_THAT(call.response.scopes(), ::testing::ElementsAre("webhooks"));
  EXPECT_TRUE(absl::StartsWith(fake_->last_token_body(),
                               "grant_type=authorization_code&code="));
  EXPECT_EQ(fake_->token_requests(), 1);

  // Metadata is kept; the token is not in the cache.
  grpc::ClientContext info_context;
  v1::GetTokenInfoRequest info_request;
  info_request.set_fingerprint(call.response.fingerprint());
  v1::TokenInfo info;
  ASSERT_TRUE(stub_->GetTokenInfo(&info_context, info_request, &info).ok());
  EXPECT_EQ(info.client_id(), kHarnessClientId);
  EXPECT_EQ(info.state(), v1::TOKEN_STATE_FRESH);
  grpc::ClientContext list_context;
  v1::ListTokensResponse list;
  ASSERT_TRUE(
      stub_->ListTokens(&list_context, v1::ListTokensRequest(), &list).ok());
  EXPECT_THAT(list.tokens(), IsEmpty());

  // A code is single use: myPOS says invalid_grant.
  IssueCall again = Issue(CodeRequest(code));
  EXPECT_THAT(again.status, GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                         "INVALID_GRANT"));
  EXPECT_LT(again.elapsed, again.deadline);
  EXPECT_EQ(fake_->token_requests(), 2);
}

TEST_F(UserGrantsTest, RefreshTokenBuysANewToken) {
  IssueCall first = Issue(CodeRequest(NewCode()));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  v1::IssueRequest refresh;
  refresh.set_grant_type(v1::GRANT_TYPE_REFRESH_TOKEN);
  refresh.set_refresh_token(first.response.refresh_token());
  IssueCall second = Issue(refresh);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_NE(second.response.access_token(), first.response.access_token());
  EXPECT_EQ(second.response.refresh_token(), first.response.refresh_token());
  EXPECT_FALSE(second.response.cached());
  EXPECT_EQ(fake_->token_requests(), 2);
}

TEST_F(UserGrantsTest, WrongCodeVerifierIsInvalidGrant) {
  v1::IssueRequest request = CodeRequest(NewCode());
  request.set_code_verifier(std::string(43, 'w'));
  IssueCall call = Issue(request);
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                        "INVALID_GRANT"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UserGrantsTest, GrantIsNotRetriedOnServerError) {
  fake_->EnqueueTokenFault({503, ""});
  IssueCall call = Issue(CodeRequest(NewCode()));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_UNAVAILABLE"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UserGrantsTest, GrantTheClientMayNotUseLeavesTheProfileWorking) {
  // myPOS: this client may not use the authorization_code grant. That is
  // this call's answer, not a reason to refuse the profile's own tokens.
  fake_->EnqueueTokenFault({400, R"({"error":"unauthorized_client"})"});
  IssueCall call = Issue(CodeRequest(NewCode()));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                                        "UNAUTHORIZED_CLIENT"));
  IssueCall token = Issue(v1::IssueRequest());
  EXPECT_TRUE(token.status.ok()) << token.status.error_message();
  EXPECT_EQ(fake_->token_requests(), 2);
}

TEST_F(UserGrantsTest, MissingCodeIsInvalidRequestNamingTheField) {
  v1::IssueRequest request = CodeRequest("");
  IssueCall call = Issue(request);
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                        "INVALID_REQUEST"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(call.info.metadata().at("field"), "authorization_code");
  EXPECT_EQ(fake_->token_requests(), 0);
}

TEST_F(UserGrantsTest, ErrorInfoIsReadFromTheStatusDetailsTrailer) {
  grpc::ClientContext context;
  v1::IssueRequest request;
  request.set_credential("nobody");
  v1::IssueResponse response;
  grpc::Status status = stub_->Issue(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find("grpc-status-details-bin");
  ASSERT_NE(it, trailers.end());
  const std::string details_bin(it->second.data(), it->second.size());
  EXPECT_EQ(details_bin, status.error_details());
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(details_bin));
  EXPECT_EQ(details.code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(details.message(), HasSubstr("nobody"));
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "PROFILE_NOT_FOUND");
  EXPECT_EQ(info.domain(), "tokenservice");
}

}  // namespace
}  // namespace tokenservice
