// FakeMyposServer's user grants, injected connection drops, connection
// counting and HTTPS, over real HTTP(S) on 127.0.0.1.

#include <httplib.h>

#include <cstdlib>
#include <memory>
#include <regex>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fake_mypos/fake_mypos_server.h"
#include "fake_mypos/grant_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fake_mypos/test_certificates.h"

namespace tokenservice {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kForm[] = "application/x-www-form-urlencoded";
// "client:secret" needs no form encoding.
const std::string kBasic = "Basic " + absl::Base64Escape("client:secret");
const std::string kVerifier(43, 'v');

FakeMyposServer::Options ClientOptions() {
  FakeMyposServer::Options options;
  options.clients = {{"client", "secret"}, {"other", "other-secret"}};
  return options;
}

// The value of "name" in a flat JSON object of strings, or "".
std::string JsonField(const std::string& body, const std::string& name) {
  std::smatch match;
  const std::regex field("\"" + name + "\":\"([^\"]*)\"");
  return std::regex_search(body, match, field) ? match[1].str() : "";
}

class FakeMyposGrantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    client_ = std::make_unique<httplib::Client>(server_.BaseUrl());
    client_->set_keep_alive(true);
  }
  void TearDown() override { client_.reset(); }

  httplib::Result Token(const std::string& body,
                        const std::string& authorization = kBasic) {
    return client_->Post("/oauth/token", {{"Authorization", authorization}},
                         body, kForm);
  }

  FakeMyposServer server_{ClientOptions()};
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(FakeMyposGrantsTest, AuthorizationCodeWithPkceGivesTokenAndRefresh) {
  const std::string code = server_.IssueAuthorizationCode(
      "client", "https://app/cb", fake_mypos::S256Challenge(kVerifier),
      {"webhooks"});
  const std::string body =
      "grant_type=authorization_code&code=" + code +
      "&redirect_uri=https%3A%2F%2Fapp%2Fcb&code_verifier=" + kVerifier;
  httplib::Result res = Token(body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  const std::string token = JsonField(res->body, "access_token");
  EXPECT_TRUE(server_.IsTokenActive(token));
  EXPECT_EQ(JsonField(res->body, "scope"), "webhooks");
  const std::string refresh = JsonField(res->body, "refresh_token");
  EXPECT_EQ(refresh.size(), 40u);

  // Single use.
  res = Token(body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"error":"invalid_grant"})");

  // The refresh token buys a new access token, and is returned again.
  res = Token("grant_type=refresh_token&refresh_token=" + refresh);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_NE(JsonField(res->body, "access_token"), token);
  EXPECT_EQ(JsonField(res->body, "refresh_token"), refresh);
}

TEST_F(FakeMyposGrantsTest, AuthorizationCodeChecksVerifierRedirectAndClient) {
  for (const std::string& bad :
       {std::string("&redirect_uri=https%3A%2F%2Fapp%2Fcb&code_verifier=") +
            std::string(43, 'w'),
        std::string("&code_verifier=") + kVerifier,
        std::string("&redirect_uri=https%3A%2F%2Fapp%2Fcb")}) {
    const std::string code = server_.IssueAuthorizationCode(
        "client", "https://app/cb", fake_mypos::S256Challenge(kVerifier));
    httplib::Result res =
        Token("grant_type=authorization_code&code=" + code + bad);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_EQ(res->body, R"({"error":"invalid_grant"})");
  }
  const std::string code = server_.IssueAuthorizationCode("other", "", "");
  httplib::Result res = Token("grant_type=authorization_code&code=" + code);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, R"({"error":"invalid_grant"})");
}

TEST_F(FakeMyposGrantsTest, UnknownRefreshTokenIsInvalidGrant) {
  httplib::Result res = Token("grant_type=refresh_token&refresh_token=nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"error":"invalid_grant"})");
}

TEST_F(FakeMyposGrantsTest, DropAfterBytesCutsTheBodyShort) {
  FakeMyposServer::Fault fault;
  fault.status = 200;
  fault.body = std::string(1000, 'x');
  fault.drop_after_bytes = 10;
  server_.EnqueueTokenFault(fault);
  httplib::Result res = Token("grant_type=client_credentials");
  EXPECT_FALSE(res);
  EXPECT_EQ(server_.token_requests(), 1);
}

TEST_F(FakeMyposGrantsTest, AcceptedConnectionsCountsEveryConnection) {
  ASSERT_TRUE(Token("grant_type=client_credentials"));
  ASSERT_TRUE(Token("grant_type=client_credentials"));
  EXPECT_EQ(server_.accepted_connections(), 1);
  httplib::Client second(server_.BaseUrl());
  ASSERT_TRUE(second.Get("/api/ping"));
  EXPECT_EQ(server_.accepted_connections(), 2);
  EXPECT_EQ(server_.tls_handshakes(), 0);
}

class FakeMyposTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCertificates> certs =
        MakeTestCertificates(std::getenv("TEST_TMPDIR"));
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    FakeMyposServer::Options options = ClientOptions();
    options.tls_cert_file = certs_.server_cert_file;
    options.tls_key_file = certs_.server_key_file;
    server_ = std::make_unique<FakeMyposServer>(options);
    absl::StatusOr<int> port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }

  httplib::Result Token(const std::string& ca_file) {
    httplib::SSLClient client("127.0.0.1", port_);
    client.set_ca_cert_path(ca_file.c_str());
    client.enable_server_certificate_verification(true);
    return client.Post("/oauth/token", {{"Authorization", kBasic}},
                       "grant_type=client_credentials", kForm);
  }

  TestCertificates certs_;
  std::unique_ptr<FakeMyposServer> server_;
  int port_ = 0;
};

TEST_F(FakeMyposTlsTest, ServesHttpsWithTheTestCertificate) {
  EXPECT_THAT(server_->BaseUrl(), StartsWith("https://127.0.0.1:"));
  httplib::Result res = Token(certs_.ca_file);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->body, HasSubstr("access_token"));
  EXPECT_EQ(server_->tls_handshakes(), 1);
}

TEST_F(FakeMyposTlsTest, ClientTrustingAnotherCaFailsTheHandshake) {
  httplib::Result res = Token(certs_.other_ca_file);
  EXPECT_FALSE(res);
  // httplib's client checks the chain after its handshake, so the server
  // may count one; it never gets a request.
  EXPECT_EQ(server_->token_requests(), 0);
}

TEST(FakeMyposTls, UnusableCertificateFailsStart) {
  FakeMyposServer::Options options = ClientOptions();
  options.tls_cert_file = "/nonexistent/cert.pem";
  options.tls_key_file = "/nonexistent/key.pem";
  FakeMyposServer server(options);
  EXPECT_EQ(server.Start().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tokenservice
