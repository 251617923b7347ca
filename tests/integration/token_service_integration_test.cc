// The real server, on loopback, against the fake myPOS: the path a caller's
// request takes through gRPC, the broker, libcurl and HTTP.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "fake_mypos/fake_mypos_server.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/token_server.h"
#include "tests/testing/log_capture.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// Characters RFC 6749 section 2.3.1 makes us form-encode before base64.
constexpr char kClientId[] = "it:client+1";
constexpr char kCanarySecret[] = "canary-S3cr:t+/&=% \xc3\xa9";

class TokenServiceIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeMyposServer::Options fake_options;
    fake_options.clients = {{kClientId, kCanarySecret}};
    fake_ = std::make_unique<FakeMyposServer>(fake_options);
    ASSERT_TRUE(fake_->Start().ok());
    StartServer(fake_->BaseUrl(), kCanarySecret);
  }

  void TearDown() override {
    server_.reset();
    fake_.reset();
    log_.Stop();
    // No secret and no token ever reaches a log line.
    const std::string log = log_.Text();
    EXPECT_THAT(log, Not(HasSubstr("canary-S3cr")));
    for (const std::string& token : tokens_seen_) {
      EXPECT_THAT(log, Not(HasSubstr(token)));
    }
  }

  void StartServer(const std::string& base_url, const std::string& secret) {
    server_.reset();
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.token_url = base_url + "/oauth/token";
    config.revoke_url = base_url + "/oauth/revoke";
    config.profiles = {{"default", {kClientId, secret}},
                       {"second", {kClientId, secret}}};
    config.broker.upstream_timeout = absl::Seconds(5);
    auto server = TokenServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::TokenService::NewStub(channel_);
  }

  grpc::Status Issue(const v1::IssueRequest& request,
                     v1::IssueResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status status = stub_->Issue(&context, request, response);
    if (status.ok()) tokens_seen_.push_back(response->access_token());
    EXPECT_THAT(status.error_message(), Not(HasSubstr("canary-S3cr")));
    return status;
  }

  grpc::Status Revoke(const v1::RevokeRequest& request,
                      v1::RevokeResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return stub_->Revoke(&context, request, response);
  }

  static v1::IssueRequest WebhooksRequest() {
    v1::IssueRequest request;
    request.add_scopes("webhooks");
    return request;
  }

  std::unique_ptr<FakeMyposServer> fake_;
  std::unique_ptr<TokenServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::vector<std::string> tokens_seen_;
  LogCapture log_;
};

TEST_F(TokenServiceIntegrationTest, IssueCachesRevokeEvictsThenIssueRefetches) {
  v1::IssueResponse first, second, third;
  ASSERT_TRUE(Issue(WebhooksRequest(), &first).ok());
  EXPECT_FALSE(first.cached());
  EXPECT_EQ(first.token_type(), "Bearer");
  EXPECT_EQ(first.credential(), "default");
  EXPECT_THAT(first.scopes(), Contains("webhooks"));
  EXPECT_EQ(first.fingerprint(), Fingerprint(first.access_token()));
  EXPECT_GT(first.expire_time().seconds(), absl::ToUnixSeconds(absl::Now()));
  // RFC 6749 2.3.1: form-encode id and secret, join with ':', base64.
  EXPECT_EQ(
      fake_->last_token_authorization(),
      "Basic " + absl::Base64Escape(
                     "it%3Aclient%2B1:canary-S3cr%3At%2B%2F%26%3D%25+%C3%A9"));
  EXPECT_EQ(fake_->last_token_body(),
            "grant_type=client_credentials&scope=webhooks");

  ASSERT_TRUE(Issue(WebhooksRequest(), &second).ok());
  EXPECT_TRUE(second.cached());
  EXPECT_EQ(fake_->token_requests(), 1);
  // A hit sends bytes serialized when the token was stored: the same reply
  // as the miss in every field but `cached`.
  v1::IssueResponse second_as_miss = second;
  second_as_miss.set_cached(false);
  EXPECT_EQ(second_as_miss.SerializeAsString(), first.SerializeAsString());

  v1::RevokeRequest revoke;
  revoke.set_token(first.access_token());
  v1::RevokeResponse revoked;
  ASSERT_TRUE(Revoke(revoke, &revoked).ok());
  EXPECT_TRUE(revoked.was_cached());
  EXPECT_EQ(revoked.fingerprint(), first.fingerprint());
  EXPECT_EQ(fake_->revoked_tokens(),
            std::vector<std::string>{first.access_token()});
  EXPECT_EQ(fake_->last_revoke_client_id(), kClientId);
  EXPECT_FALSE(fake_->IsTokenActive(first.access_token()));

  ASSERT_TRUE(Issue(WebhooksRequest(), &third).ok());
  EXPECT_FALSE(third.cached());
  EXPECT_NE(third.access_token(), first.access_token());
  EXPECT_EQ(fake_->token_requests(), 2);
}

TEST_F(TokenServiceIntegrationTest, RevokeByFingerprintAndMetadata) {
  v1::IssueResponse issued;
  ASSERT_TRUE(Issue(WebhooksRequest(), &issued).ok());
  grpc::ClientContext info_context;
  v1::GetTokenInfoRequest info_request;
  info_request.set_fingerprint(issued.fingerprint());
  v1::TokenInfo info;
  ASSERT_TRUE(stub_->GetTokenInfo(&info_context, info_request, &info).ok());
  EXPECT_EQ(info.client_id(), kClientId);
  EXPECT_EQ(info.state(), v1::TOKEN_STATE_FRESH);
  EXPECT_THAT(info.DebugString(), Not(HasSubstr(issued.access_token())));

  v1::RevokeRequest revoke;
  revoke.set_fingerprint(issued.fingerprint());
  v1::RevokeResponse revoked;
  ASSERT_TRUE(Revoke(revoke, &revoked).ok());
  EXPECT_EQ(fake_->revoked_tokens(),
            std::vector<std::string>{issued.access_token()});

  grpc::ClientContext list_context;
  v1::ListTokensResponse list;
  ASSERT_TRUE(
      stub_->ListTokens(&list_context, v1::ListTokensRequest(), &list).ok());
  ASSERT_EQ(list.tokens_size(), 1);
  EXPECT_EQ(list.tokens(0).state(), v1::TOKEN_STATE_REVOKED);
}

TEST_F(TokenServiceIntegrationTest, UnknownProfileIsNotFound) {
  v1::IssueRequest request;
  request.set_credential("nobody");
  v1::IssueResponse response;
  EXPECT_EQ(Issue(request, &response).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(fake_->token_requests(), 0);
}

TEST_F(TokenServiceIntegrationTest, MalformedScopeIsInvalidArgument) {
  v1::IssueRequest request;
  request.add_scopes("web hooks");
  v1::IssueResponse response;
  grpc::Status status = Issue(request, &response);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("scopes[0]"));
  EXPECT_EQ(fake_->token_requests(), 0);
}

TEST_F(TokenServiceIntegrationTest, UnparsableIssueRequestIsInvalidArgument) {
  // Issue reads its request bytes itself (a raw method): bytes that are
  // not an IssueRequest (a field 1 whose length runs past the end) get
  // INVALID_ARGUMENT, and nothing reaches myPOS.
  grpc::GenericStub generic(channel_);
  const char garbage[] = {0x0a, 0x7f, 'x'};
  grpc::Slice slice(garbage, sizeof(garbage));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  // A std::promise, which ThreadSanitizer sees (base/mutex.h).
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/mypos.token.v1.TokenService/Issue",
                    grpc::StubOptions(), &request, &response,
                    [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const grpc::Status status = done.get_future().get();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("IssueRequest"));
  EXPECT_EQ(fake_->token_requests(), 0);
}

TEST_F(TokenServiceIntegrationTest, RejectedCredentialsAreFailedPrecondition) {
  StartServer(fake_->BaseUrl(), "canary-S3cr-wrong");
  v1::IssueResponse response;
  grpc::Status status = Issue(WebhooksRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("invalid_client"));
}

TEST_F(TokenServiceIntegrationTest, ServerErrorOnEveryAttemptIsUnavailable) {
  for (int i = 0; i < 4; ++i) {  // --upstream_max_attempts
    fake_->EnqueueTokenFault({503, "{\"error\":\"temporarily_unavailable\"}"});
  }
  v1::IssueResponse response;
  EXPECT_EQ(Issue(WebhooksRequest(), &response).error_code(),
            grpc::UNAVAILABLE);
}

TEST_F(TokenServiceIntegrationTest, UnreachableMyposIsUnavailable) {
  const std::string url = fake_->BaseUrl();
  fake_->Stop();  // nothing listens on that port any more
  StartServer(url, kCanarySecret);
  v1::IssueResponse response;
  EXPECT_EQ(Issue(WebhooksRequest(), &response).error_code(),
            grpc::UNAVAILABLE);
}

// Checks the health of the server ("") and of TokenService over `channel`.
void ExpectHealth(const std::shared_ptr<grpc::Channel>& channel,
                  grpc::health::v1::HealthCheckResponse::ServingStatus want) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string service : {"", "mypos.token.v1.TokenService"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), want) << service;
  }
}

TEST_F(TokenServiceIntegrationTest, HealthIsServingForServerAndService) {
  ExpectHealth(channel_, grpc::health::v1::HealthCheckResponse::SERVING);
}

// The drain between SIGTERM and Shutdown: load balancers see NOT_SERVING
// while new connections are still accepted and served.
TEST_F(TokenServiceIntegrationTest, DrainingReportsNotServingAndStillServes) {
  server_->BeginDrain();
  auto fresh = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  ExpectHealth(fresh, grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  grpc::ClientContext context;
  v1::IssueResponse response;
  const grpc::Status status = v1::TokenService::NewStub(fresh)->Issue(
      &context, WebhooksRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.access_token().empty());
}

TEST_F(TokenServiceIntegrationTest, ReflectionListsAndDescribesServices) {
  namespace refl = ::grpc::reflection::v1alpha;
  auto stub = refl::ServerReflection::NewStub(channel_);
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  refl::ServerReflectionRequest request;
  request.set_list_services("");
  refl::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) {
    names.push_back(s.name());
  }
  EXPECT_THAT(names, Contains("mypos.token.v1.TokenService"));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
  for (const char* symbol :
       {"mypos.token.v1.TokenService", "grpc.health.v1.Health"}) {
    request.set_file_containing_symbol(symbol);
    ASSERT_TRUE(stream->Write(request));
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_GT(response.file_descriptor_response().file_descriptor_proto_size(),
              0)
        << symbol << ": " << response.error_response().error_message();
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace tokenservice
