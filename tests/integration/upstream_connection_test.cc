// Connections to myPOS: keep-alive reuse over HTTP and HTTPS (one TCP
// connection, one TLS handshake for many fetches), and TLS verification
// against a test-made CA.

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fake_mypos/test_certificates.h"
#include "tests/integration/service_harness.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int kRequests = 20;

class UpstreamConnectionTest : public ServiceHarness {
 protected:
  // Issues kRequests times, each for a new scope so that each misses the
  // cache and fetches from myPOS, one after the other.
  void IssueSequentialCacheMisses() {
    for (int i = 0; i < kRequests; ++i) {
      IssueCall call = Issue(ScopeRequest(absl::StrCat("scope-", i)));
      ASSERT_TRUE(call.status.ok()) << call.status.error_message();
      ASSERT_FALSE(call.response.cached());
    }
    EXPECT_EQ(fake_->token_requests(), kRequests);
  }

  TestCertificates Certificates() {
    absl::StatusOr<TestCertificates> certs =
        MakeTestCertificates(std::getenv("TEST_TMPDIR"));
    EXPECT_TRUE(certs.ok()) << certs.status();
    return certs.value_or(TestCertificates());
  }
};

TEST_F(UpstreamConnectionTest, SequentialFetchesOverHttpUseOneConnection) {
  StartFake();
  StartServer();
  IssueSequentialCacheMisses();
  EXPECT_EQ(fake_->accepted_connections(), 1);
}

TEST_F(UpstreamConnectionTest, SequentialFetchesOverHttpsUseOneHandshake) {
  const TestCertificates certs = Certificates();
  StartFake(certs.server_cert_file, certs.server_key_file);
  ASSERT_THAT(fake_->BaseUrl(), StartsWith("https://"));
  StartServer(
      [&](ServerConfig& config) { config.ca_bundle_file = certs.ca_file; });
  IssueSequentialCacheMisses();
  EXPECT_EQ(fake_->accepted_connections(), 1);
  EXPECT_EQ(fake_->tls_handshakes(), 1);
}

TEST_F(UpstreamConnectionTest, UntrustedCaFailsClearlyWithoutRetry) {
  const TestCertificates certs = Certificates();
  StartFake(certs.server_cert_file, certs.server_key_file);
  StartServer([&](ServerConfig& config) {
    config.ca_bundle_file = certs.other_ca_file;
  });
  IssueCall call = Issue(ScopeRequest("webhooks"));
  EXPECT_THAT(call.status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
                                        "UPSTREAM_TLS_FAILED"));
  EXPECT_LT(call.elapsed, call.deadline);
  EXPECT_THAT(call.status.error_message(),
              HasSubstr("TLS verification of myPOS failed"));
  EXPECT_THAT(call.status.error_message(), HasSubstr("--ca_bundle_file"));
  EXPECT_EQ(fake_->accepted_connections(), 1);  // one attempt
  EXPECT_EQ(fake_->tls_handshakes(), 0);
  EXPECT_EQ(fake_->token_requests(), 0);
}

TEST_F(UpstreamConnectionTest, ConfiguredCaVerifiesTheServer) {
  const TestCertificates certs = Certificates();
  StartFake(certs.server_cert_file, certs.server_key_file);
  StartServer(
      [&](ServerConfig& config) { config.ca_bundle_file = certs.ca_file; });
  IssueCall call = Issue(ScopeRequest("webhooks"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(fake_->token_requests(), 1);
}

}  // namespace
}  // namespace tokenservice
