// ExchangeGrant end to end: authorization_code and refresh_token grants
// passed to myPOS at most once, never cached, the refresh token returned to
// the caller only, metadata kept; an exchange whose outcome is unknown is
// UNKNOWN, never UNAVAILABLE; and error details as a client reads them from
// the grpc-status-details-bin trailer.

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

  static v1::ExchangeGrantRequest CodeRequest(const std::string& code) {
    v1::ExchangeGrantRequest request;
    v1::AuthorizationCodeGrant* grant = request.mutable_authorization_code();
    grant->set_code(code);
    grant->set_redirect_uri(kRedirectUri);
    grant->set_code_verifier(kVerifier);
    return request;
  }
};

TEST_F(UserGrantsTest, AuthorizationCodeIsPassedThroughAndNeverCached) {
  const std::string code = NewCode();
  ExchangeCall call = Exchange(CodeRequest(code));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
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
  ExchangeCall again = Exchange(CodeRequest(code));
  EXPECT_THAT(again.status, GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                         "INVALID_GRANT"));
  EXPECT_LT(again.elapsed, again.deadline);
  EXPECT_EQ(fake_->token_requests(), 2);
}

TEST_F(UserGrantsTest, RefreshTokenBuysANewToken) {
  ExchangeCall first = Exchange(CodeRequest(NewCode()));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  v1::ExchangeGrantRequest refresh;
  refresh.mutable_refresh_token()->set_refresh_token(
      first.response.refresh_token());
  ExchangeCall second = Exchange(refresh);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_NE(second.response.access_token(), first.response.access_token());
  EXPECT_EQ(second.response.refresh_token(), first.response.refresh_token());
  EXPECT_EQ(fake_->token_requests(), 2);
}

TEST_F(UserGrantsTest, WrongCodeVerifierIsInvalidGrant) {
  v1::ExchangeGrantRequest request = CodeRequest(NewCode());
  request.mutable_authorization_code()->set_code_verifier(std::string(43, 'w'));
  ExchangeCall call = Exchange(request);
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                        "INVALID_GRANT"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UserGrantsTest, ServerErrorIsOutcomeUnknownAndNotRetried) {
  // myPOS may have used the code before it failed: not UNAVAILABLE, which
  // a retry policy would act on.
  fake_->EnqueueTokenFault({504, ""});
  ExchangeCall call = Exchange(CodeRequest(NewCode()));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNKNOWN,
                                        "UPSTREAM_OUTCOME_UNKNOWN"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UserGrantsTest, DroppedConnectionIsOutcomeUnknownAndNotRetried) {
  fake_mypos::Fault dropped{200, R"({"access_token":"canary-never-seen"})"};
  dropped.drop_after_bytes = 5;
  fake_->EnqueueTokenFault(dropped);
  ExchangeCall call = Exchange(CodeRequest(NewCode()));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNKNOWN,
                                        "UPSTREAM_OUTCOME_UNKNOWN"));
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UserGrantsTest, RateLimitedGrantIsUnavailableForItWasNotUsed) {
  fake_->EnqueueTokenFault({429, ""});
  ExchangeCall call = Exchange(CodeRequest(NewCode()));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_RATE_LIMITED"));
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(UserGrantsTest, UnreachableMyposIsUnavailableForTheGrantWasNotSent) {
  // Port 1 on loopback: nothing listens, so the request never leaves.
  StartServer(nullptr, "http://127.0.0.1:1");
  ExchangeCall call = Exchange(CodeRequest(NewCode()));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_UNAVAILABLE"));
  EXPECT_EQ(call.info.metadata().at("request_sent"), "false");
}

TEST_F(UserGrantsTest, GrantTheClientMayNotUseLeavesTheProfileWorking) {
  // myPOS: this client may not use the authorization_code grant. That is
  // this call's answer, not a reason to refuse the profile's own tokens.
  fake_->EnqueueTokenFault({400, R"({"error":"unauthorized_client"})"});
  ExchangeCall call = Exchange(CodeRequest(NewCode()));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                                        "UNAUTHORIZED_CLIENT"));
  IssueCall token = Issue(v1::IssueRequest());
  EXPECT_TRUE(token.status.ok()) << token.status.error_message();
  EXPECT_EQ(fake_->token_requests(), 2);
}

TEST_F(UserGrantsTest, MissingCodeIsInvalidRequestNamingTheField) {
  ExchangeCall call = Exchange(CodeRequest(""));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                        "INVALID_REQUEST"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_EQ(call.info.metadata().at("field"), "authorization_code.code");
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
