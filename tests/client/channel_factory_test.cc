// CreateTokenServiceChannel against a scripted server on loopback: retries
// of UNAVAILABLE and CANCELLED through the service config (the one
// docs/clients.md shows), TLS and mTLS with certificates made at build time
// (the test_certs genrule).

#include "client/channel_factory.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "tests/client/recording_token_service.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::HasSubstr;

std::string TestData(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/",
                      std::getenv("TEST_WORKSPACE"), "/tests/client/testdata/",
                      name);
}

std::string Pem(const std::string& name) {
  absl::StatusOr<std::string> pem = ReadWholeFile("test file", TestData(name));
  EXPECT_TRUE(pem.ok()) << pem.status();
  return pem.ok() ? *pem : "";
}

grpc::StatusCode CallIssue(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::IssueResponse response;
  return v1::TokenService::NewStub(channel)
      ->Issue(&context, v1::IssueRequest(), &response)
      .error_code();
}

grpc::StatusCode CallRevoke(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::RevokeRequest request;
  request.set_fingerprint("00112233aabbccdd");
  v1::RevokeResponse response;
  return v1::TokenService::NewStub(channel)
      ->Revoke(&context, request, &response)
      .error_code();
}

std::shared_ptr<grpc::Channel> MustCreate(const ChannelOptions& options) {
  auto channel = CreateTokenServiceChannel(options);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

class PlaintextChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartTestServer(&service_);
    ASSERT_NE(server_.server, nullptr);
    options_.target = absl::StrCat("127.0.0.1:", server_.port);
  }
  RecordingTokenService service_;
  TestServer server_;
  ChannelOptions options_;
};

TEST_F(PlaintextChannelTest, IssueRetriesUnavailableUpToMaxAttempts) {
  options_.max_attempts = 3;
  auto channel = MustCreate(options_);
  service_.FailNext(2, grpc::Status(grpc::UNAVAILABLE, "try again"));
  EXPECT_EQ(CallIssue(channel), grpc::OK);
  EXPECT_EQ(service_.calls(), 3);
}

// What gRPC's server answers a call that reached it as it began to shut
// down (grpc/grpc#41785): the call never ran, so it is retried.
TEST_F(PlaintextChannelTest, IssueRetriesCancelledByTheServer) {
  auto channel = MustCreate(options_);
  service_.FailNext(1, grpc::Status(grpc::CANCELLED, ""));
  EXPECT_EQ(CallIssue(channel), grpc::OK);
  EXPECT_EQ(service_.calls(), 2);
}

// The server's grpc-retry-pushback-ms (its RetryInfo delay) is waited
// before the retry: here longer than the call's deadline, so no retry.
TEST_F(PlaintextChannelTest, IssueWaitsTheServersPushbackBeforeItRetries) {
  auto channel = MustCreate(options_);
  service_.FailNext(1, grpc::Status(grpc::UNAVAILABLE, "busy"), "60000");
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  v1::IssueResponse response;
  const grpc::Status status = v1::TokenService::NewStub(channel)->Issue(
      &context, v1::IssueRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::DEADLINE_EXCEEDED);
  EXPECT_EQ(service_.calls(), 1);
  // A pushback of zero retries at once.
  service_.FailNext(1, grpc::Status(grpc::UNAVAILABLE, "elsewhere"), "0");
  EXPECT_EQ(CallIssue(channel), grpc::OK);
  EXPECT_EQ(service_.calls(), 3);
}

// retryThrottling: while most calls fail, retries stop, so that an outage
// does not triple the load (docs/errors.md, the retry budget).
TEST_F(PlaintextChannelTest, RetriesStopWhileMostCallsFail) {
  auto channel = MustCreate(options_);
  constexpr int kCalls = 40;
  service_.FailNext(1000, grpc::Status(grpc::UNAVAILABLE, "down"));
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(CallIssue(channel), grpc::UNAVAILABLE);
  }
  // Three attempts each would be 120; the budget (100 tokens, retries while
  // more than 50 are left) allows the first calls theirs, then none.
  EXPECT_GT(service_.calls(), kCalls + 30);
  EXPECT_LE(service_.calls(), kCalls + 36);
}

// Callers copy the JSON from docs/clients.md: it must be the one
// TokenClient installs.
TEST(RetryServiceConfigJson, IsTheOneDocsClientsMdShows) {
  absl::StatusOr<std::string> doc = ReadWholeFile(
      "docs", absl::StrCat(std::getenv("TEST_SRCDIR"), "/",
                           std::getenv("TEST_WORKSPACE"), "/docs/clients.md"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  const size_t start = doc->find("{\"methodConfig\"");
  ASSERT_NE(start, std::string::npos);
  const size_t end = doc->find("```", start);
  ASSERT_NE(end, std::string::npos);
  std::string shown = doc->substr(start, end - start);
  shown.erase(std::remove_if(shown.begin(), shown.end(),
                             [](unsigned char c) { return std::isspace(c); }),
              shown.end());
  EXPECT_EQ(shown, RetryServiceConfigJson(3));
}

TEST_F(PlaintextChannelTest, IssueGivesUpAfterMaxAttempts) {
  options_.max_attempts = 2;
  auto channel = MustCreate(options_);
  service_.FailNext(5, grpc::Status(grpc::UNAVAILABLE, "down"));
  EXPECT_EQ(CallIssue(channel), grpc::UNAVAILABLE);
  EXPECT_EQ(service_.calls(), 2);
}

TEST_F(PlaintextChannelTest, OtherCodesAreNotRetried) {
  auto channel = MustCreate(options_);
  service_.FailNext(1, grpc::Status(grpc::FAILED_PRECONDITION, "config"));
  EXPECT_EQ(CallIssue(channel), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(service_.calls(), 1);
}

TEST_F(PlaintextChannelTest, RevokeIsNeverRetried) {
  auto channel = MustCreate(options_);
  service_.FailNext(1, grpc::Status(grpc::UNAVAILABLE, "myPOS said no"));
  EXPECT_EQ(CallRevoke(channel), grpc::UNAVAILABLE);
  EXPECT_EQ(service_.calls(), 1);
}

TEST_F(PlaintextChannelTest, MaxAttemptsOneDisablesRetries) {
  options_.max_attempts = 1;
  auto channel = MustCreate(options_);
  service_.FailNext(1, grpc::Status(grpc::UNAVAILABLE, "down"));
  EXPECT_EQ(CallIssue(channel), grpc::UNAVAILABLE);
  EXPECT_EQ(service_.calls(), 1);
}

TEST(ChannelFactory, BadOptionsAreInvalidArgument) {
  ChannelOptions options;
  EXPECT_EQ(CreateTokenServiceChannel(options).status().code(),
            absl::StatusCode::kInvalidArgument);  // no target
  options.target = "127.0.0.1:1";
  options.max_attempts = 0;
  EXPECT_EQ(CreateTokenServiceChannel(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.max_attempts = 3;
  options.ca_file = TestData("ca.pem");  // without tls
  EXPECT_EQ(CreateTokenServiceChannel(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.tls = true;
  options.cert_file = TestData("client.pem");  // without its key
  EXPECT_EQ(CreateTokenServiceChannel(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChannelFactory, UnreadableFileIsFailedPreconditionNamingIt) {
  ChannelOptions options;
  options.target = "127.0.0.1:1";
  options.tls = true;
  options.ca_file = "/nonexistent/ca.pem";
  absl::Status status = CreateTokenServiceChannel(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/ca.pem"));
}

class TlsChannelTest : public ::testing::Test {
 protected:
  // Serves TLS with server.pem; `require_client_cert` demands a client
  // certificate signed by ca.pem.
  void Start(bool require_client_cert) {
    grpc::SslServerCredentialsOptions ssl(
        require_client_cert
            ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_root_certs = Pem("ca.pem");
    ssl.pem_key_cert_pairs.push_back({Pem("server.key"), Pem("server.pem")});
    server_ = StartTestServer(&service_, grpc::SslServerCredentials(ssl));
    ASSERT_NE(server_.server, nullptr);
    options_.target = absl::StrCat("127.0.0.1:", server_.port);
    options_.tls = true;
    options_.ca_file = TestData("ca.pem");
    options_.max_attempts = 1;
  }
  RecordingTokenService service_;
  TestServer server_;
  ChannelOptions options_;
};

TEST_F(TlsChannelTest, TlsWithTheServersCaSucceeds) {
  Start(/*require_client_cert=*/false);
  EXPECT_EQ(CallIssue(MustCreate(options_)), grpc::OK);
}

TEST_F(TlsChannelTest, TlsWithAnotherCaIsUnavailable) {
  Start(/*require_client_cert=*/false);
  options_.ca_file = TestData("other_ca.pem");
  EXPECT_EQ(CallIssue(MustCreate(options_)), grpc::UNAVAILABLE);
  EXPECT_EQ(service_.calls(), 0);
}

TEST_F(TlsChannelTest, PlaintextToTlsServerIsUnavailable) {
  Start(/*require_client_cert=*/false);
  options_.tls = false;
  options_.ca_file = "";
  EXPECT_EQ(CallIssue(MustCreate(options_)), grpc::UNAVAILABLE);
}

TEST_F(TlsChannelTest, MutualTlsPresentsClientCertificate) {
  Start(/*require_client_cert=*/true);
  options_.cert_file = TestData("client.pem");
  options_.key_file = TestData("client.key");
  EXPECT_EQ(CallIssue(MustCreate(options_)), grpc::OK);
  EXPECT_EQ(service_.last_peer_common_name(), "test-client");
}

TEST_F(TlsChannelTest, MutualTlsWithoutClientCertificateIsUnavailable) {
  Start(/*require_client_cert=*/true);
  EXPECT_EQ(CallIssue(MustCreate(options_)), grpc::UNAVAILABLE);
  EXPECT_EQ(service_.calls(), 0);
}

}  // namespace
}  // namespace tokenservice
