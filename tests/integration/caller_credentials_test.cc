// Caller-supplied credentials through the real server: off unless the
// config enables them, allowed only to callers the policy lets, and the
// secret never reaches a log line or a reply.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "fake_mypos/fake_mypos_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/rpc/caller_policy.h"
#include "server/token_server.h"
#include "tests/testing/log_capture.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCanarySecret[] = "canary-tenant-secret-77e1";

class CallerCredentialsIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeMyposServer::Options options;
    options.clients = {{"server-id", "server-secret"},
                       {"tenant", kCanarySecret}};
    fake_ = std::make_unique<FakeMyposServer>(options);
    ASSERT_TRUE(fake_->Start().ok());
    config_.listen_address = "127.0.0.1:0";
    config_.token_url = fake_->BaseUrl() + "/oauth/token";
    config_.revoke_url = fake_->BaseUrl() + "/oauth/revoke";
    config_.profiles = {{"default", {"server-id", "server-secret"}}};
  }

  void TearDown() override {
    server_.reset();
    log_.Stop();
    EXPECT_THAT(log_.Text(), Not(HasSubstr(kCanarySecret)));
  }

  grpc::Status Issue(v1::IssueResponse* response, const std::string& key = "") {
    if (server_ == nullptr) {
      auto server = TokenServer::Start(config_);
      EXPECT_TRUE(server.ok());
      server_ = *std::move(server);
      stub_ = v1::TokenService::NewStub(
          grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                              grpc::InsecureChannelCredentials()));
    }
    grpc::ClientContext context;
    if (!key.empty()) context.AddMetadata(kCallerKeyMetadata, key);
    v1::IssueRequest request;
    request.mutable_client_credentials()->set_client_id("tenant");
    request.mutable_client_credentials()->set_client_secret(kCanarySecret);
    grpc::Status status = stub_->Issue(&context, request, response);
    EXPECT_THAT(status.error_message(), Not(HasSubstr(kCanarySecret)));
    return status;
  }

  std::unique_ptr<FakeMyposServer> fake_;
  ServerConfig config_;
  std::unique_ptr<TokenServer> server_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  LogCapture log_;
};

TEST_F(CallerCredentialsIntegrationTest, RefusedUnlessEnabled) {
  v1::IssueResponse response;
  EXPECT_EQ(Issue(&response).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(fake_->token_requests(), 0);
}

TEST_F(CallerCredentialsIntegrationTest, EnabledIssuesWithTheCallersClient) {
  config_.caller_credentials = true;
  v1::IssueResponse first, second;
  ASSERT_TRUE(Issue(&first).ok());
  EXPECT_EQ(first.credential(), "caller-supplied:tenant");
  ASSERT_TRUE(Issue(&second).ok());
  EXPECT_TRUE(second.cached());
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(CallerCredentialsIntegrationTest, PolicyMustLetTheCallerSupplyThem) {
  config_.caller_credentials = true;
  config_.callers = {{"tenant-gateway",
                      {},
                      CallerPolicy::KeyDigest("k1"),
                      {},
                      false,
                      false,
                      /*may_supply_credentials=*/true},
                     {"other", {}, CallerPolicy::KeyDigest("k2"), {"*"}}};
  v1::IssueResponse response;
  EXPECT_TRUE(Issue(&response, "k1").ok());
  EXPECT_EQ(Issue(&response, "k2").error_code(), grpc::PERMISSION_DENIED);
}

}  // namespace
}  // namespace tokenservice
