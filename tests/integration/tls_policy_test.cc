// TLS, mTLS and the caller policy, on loopback with certificates made by
// the test: who may ask for which token, and what the others get.

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include <cstdlib>
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
#include "tests/testing/test_certs.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCallerA[] = "spiffe://test/caller-a";
constexpr char kCanaryKeyB[] = "canary-caller-key-b-5d0e";

std::string TmpFile(const std::string& name, const std::string& content) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  WriteFileAtomically(path, content);
  return path;
}

class TlsPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeMyposServer::Options options;
    options.clients = {{"id-a", "secret-a"}, {"id-b", "secret-b"}};
    fake_ = std::make_unique<FakeMyposServer>(options);
    ASSERT_TRUE(fake_->Start().ok());
    const PemKeyPair server =
        ca_.Issue("localhost", {"DNS:localhost", "IP:127.0.0.1"});
    config_.listen_address = "127.0.0.1:0";
    config_.token_url = fake_->BaseUrl() + "/oauth/token";
    config_.revoke_url = fake_->BaseUrl() + "/oauth/revoke";
    config_.default_profile = "a";
    config_.profiles = {{"a", {"id-a", "secret-a"}},
                        {"b", {"id-b", "secret-b"}}};
    config_.tls_cert_file = TmpFile("server.pem", server.certificate);
    config_.tls_key_file = TmpFile("server.key", server.private_key);
    config_.tls_client_ca_file = TmpFile("ca.pem", ca_.certificate());
    CallerRule a{"caller-a", {kCallerA}, "", {"a"}, true, true};
    CallerRule b{"caller-b", {}, CallerPolicy::KeyDigest(kCanaryKeyB), {"b"}};
    config_.callers = {a, b};
  }

  void Start() {
    auto server = TokenServer::Start(config_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // A stub over TLS trusting `root`, presenting `client` if given.
  std::unique_ptr<v1::TokenService::Stub> Stub(const std::string& root,
                                               const PemKeyPair* client) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = root;
    if (client != nullptr) {
      tls.pem_cert_chain = client->certificate;
      tls.pem_private_key = client->private_key;
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt("tokenservice.test.unique", ++channels_);  // fresh connection
    return v1::TokenService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  grpc::SslCredentials(tls), args));
  }

  static grpc::Status Issue(v1::TokenService::Stub& stub,
                            const std::string& profile,
                            v1::IssueResponse* response,
                            const std::string& key = "") {
    grpc::ClientContext context;
    if (!key.empty()) context.AddMetadata(kCallerKeyMetadata, key);
    v1::IssueRequest request;
    request.set_credential(profile);
    return stub.Issue(&context, request, response);
  }

  TestCertificateAuthority ca_{"test-ca"};
  std::unique_ptr<FakeMyposServer> fake_;
  ServerConfig config_;
  std::unique_ptr<TokenServer> server_;
  int channels_ = 0;
};

TEST_F(TlsPolicyTest, MtlsCallerMayUseItsProfileOnly) {
  Start();
  const PemKeyPair cert =
      ca_.Issue("caller-a", {absl::StrCat("URI:", kCallerA)});
  auto stub = Stub(ca_.certificate(), &cert);
  v1::IssueResponse response;
  ASSERT_TRUE(Issue(*stub, "a", &response).ok());
  ASSERT_TRUE(Issue(*stub, "", &response).ok());  // the default, "a"
  grpc::Status other = Issue(*stub, "b", &response);
  grpc::Status missing = Issue(*stub, "no-such-profile", &response);
  EXPECT_EQ(other.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(missing.error_code(), grpc::PERMISSION_DENIED);
  // Denials do not reveal whether a profile exists.
  EXPECT_THAT(missing.error_message(), Not(HasSubstr("no credential profile")));
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(TlsPolicyTest, MtlsCallerIsIdentifiedByItsDnsName) {
  config_.callers.push_back(
      CallerRule{"caller-c", {"caller-c.internal"}, "", {"b"}});
  Start();
  const PemKeyPair dns = ca_.Issue("caller-c", {"DNS:caller-c.internal"});
  // Same name, but as the subject's CN only: not an identity.
  const PemKeyPair cn_only = ca_.Issue("caller-c.internal", {"DNS:elsewhere"});
  auto stub = Stub(ca_.certificate(), &dns);
  auto other = Stub(ca_.certificate(), &cn_only);
  v1::IssueResponse response;
  grpc::Status ok = Issue(*stub, "b", &response);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(Issue(*stub, "a", &response).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(Issue(*other, "b", &response).error_code(), grpc::UNAUTHENTICATED);
}

TEST_F(TlsPolicyTest, KeyCallerIsIdentifiedByMetadata) {
  Start();
  auto stub = Stub(ca_.certificate(), nullptr);  // TLS, no client cert
  v1::IssueResponse response;
  grpc::Status ok = Issue(*stub, "b", &response, kCanaryKeyB);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(Issue(*stub, "a", &response, kCanaryKeyB).error_code(),
            grpc::PERMISSION_DENIED);
  grpc::Status wrong = Issue(*stub, "b", &response, "canary-wrong-key");
  EXPECT_EQ(wrong.error_code(), grpc::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), Not(HasSubstr("canary")));
  EXPECT_EQ(Issue(*stub, "b", &response).error_code(), grpc::UNAUTHENTICATED);
}

TEST_F(TlsPolicyTest, RevokeAndMetadataNeedTheirPermissions) {
  Start();
  const PemKeyPair cert =
      ca_.Issue("caller-a", {absl::StrCat("URI:", kCallerA)});
  auto a = Stub(ca_.certificate(), &cert);
  auto b = Stub(ca_.certificate(), nullptr);
  v1::IssueResponse token_a, token_b;
  ASSERT_TRUE(Issue(*a, "a", &token_a).ok());
  ASSERT_TRUE(Issue(*b, "b", &token_b, kCanaryKeyB).ok());

  grpc::ClientContext revoke_b;
  revoke_b.AddMetadata(kCallerKeyMetadata, kCanaryKeyB);
  v1::RevokeRequest revoke;
  revoke.set_credential("b");
  revoke.set_fingerprint(token_b.fingerprint());
  v1::RevokeResponse revoked;
  EXPECT_EQ(b->Revoke(&revoke_b, revoke, &revoked).error_code(),
            grpc::PERMISSION_DENIED);
  grpc::ClientContext list_b;
  list_b.AddMetadata(kCallerKeyMetadata, kCanaryKeyB);
  v1::ListTokensResponse list;
  EXPECT_EQ(b->ListTokens(&list_b, v1::ListTokensRequest(), &list).error_code(),
            grpc::PERMISSION_DENIED);

  // Caller A sees only profile a's tokens...
  grpc::ClientContext list_a;
  ASSERT_TRUE(a->ListTokens(&list_a, v1::ListTokensRequest(), &list).ok());
  ASSERT_EQ(list.tokens_size(), 1);
  EXPECT_EQ(list.tokens(0).fingerprint(), token_a.fingerprint());
  grpc::ClientContext info_a;
  v1::GetTokenInfoRequest info_request;
  info_request.set_fingerprint(token_b.fingerprint());
  v1::TokenInfo info;
  EXPECT_EQ(a->GetTokenInfo(&info_a, info_request, &info).error_code(),
            grpc::NOT_FOUND);
  // ...and may revoke them.
  grpc::ClientContext revoke_a;
  revoke.set_credential("a");
  revoke.set_fingerprint(token_a.fingerprint());
  EXPECT_TRUE(a->Revoke(&revoke_a, revoke, &revoked).ok());
}

TEST_F(TlsPolicyTest, UnknownCallerIsUnauthenticatedWhateverItSends) {
  // Authentication comes before the request is looked at: a stranger
  // learns nothing, not even what is wrong with its request.
  Start();
  auto stub = Stub(ca_.certificate(), nullptr);
  const auto with_wrong_key = [](grpc::ClientContext& context) {
    context.AddMetadata(kCallerKeyMetadata, "canary-wrong-key");
  };
  grpc::ClientContext issue_context;
  with_wrong_key(issue_context);
  v1::IssueRequest issue;
  issue.add_scopes("not a \"scope\"");
  v1::IssueResponse issued;
  EXPECT_EQ(stub->Issue(&issue_context, issue, &issued).error_code(),
            grpc::UNAUTHENTICATED);
  grpc::ClientContext revoke_context;
  with_wrong_key(revoke_context);
  v1::RevokeResponse revoked;
  EXPECT_EQ(
      stub->Revoke(&revoke_context, v1::RevokeRequest(), &revoked).error_code(),
      grpc::UNAUTHENTICATED);
  grpc::ClientContext info_context;
  with_wrong_key(info_context);
  v1::GetTokenInfoRequest info_request;
  info_request.set_fingerprint("not-a-fingerprint");
  v1::TokenInfo info;
  EXPECT_EQ(stub->GetTokenInfo(&info_context, info_request, &info).error_code(),
            grpc::UNAUTHENTICATED);
  grpc::ClientContext list_context;
  with_wrong_key(list_context);
  v1::ListTokensRequest list_request;
  list_request.set_page_size(-1);
  v1::ListTokensResponse list;
  EXPECT_EQ(stub->ListTokens(&list_context, list_request, &list).error_code(),
            grpc::UNAUTHENTICATED);
}

TEST_F(TlsPolicyTest, RevokingWithSuppliedCredentialsNeedsMayRevoke) {
  config_.caller_credentials = true;
  config_.callers[1].may_supply_credentials = true;  // caller-b, no revoke
  Start();
  auto stub = Stub(ca_.certificate(), nullptr);
  grpc::ClientContext context;
  context.AddMetadata(kCallerKeyMetadata, kCanaryKeyB);
  v1::RevokeRequest revoke;
  revoke.mutable_client_credentials()->set_client_id("id-b");
  revoke.mutable_client_credentials()->set_client_secret("secret-b");
  revoke.set_token("some-token");
  v1::RevokeResponse revoked;
  EXPECT_EQ(stub->Revoke(&context, revoke, &revoked).error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_EQ(fake_->revoke_requests(), 0);
}

TEST_F(TlsPolicyTest, UntrustedClientCertificateAndPlaintextAreRefused) {
  Start();
  TestCertificateAuthority other("other-ca");
  const PemKeyPair stranger =
      other.Issue("caller-a", {absl::StrCat("URI:", kCallerA)});
  auto stub = Stub(ca_.certificate(), &stranger);
  v1::IssueResponse response;
  EXPECT_EQ(Issue(*stub, "a", &response).error_code(), grpc::UNAVAILABLE);
  auto plaintext = v1::TokenService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                          grpc::InsecureChannelCredentials()));
  EXPECT_EQ(Issue(*plaintext, "a", &response).error_code(), grpc::UNAVAILABLE);
}

TEST_F(TlsPolicyTest, OversizedRequestIsRefused) {
  config_.callers.clear();
  Start();
  auto stub = Stub(ca_.certificate(), nullptr);
  grpc::ClientContext context;
  v1::IssueRequest request;
  request.add_scopes(std::string(kMaxRequestBytes + 1, 'a'));
  v1::IssueResponse response;
  EXPECT_EQ(stub->Issue(&context, request, &response).error_code(),
            grpc::RESOURCE_EXHAUSTED);
}

TEST_F(TlsPolicyTest, RenewedServerCertificateIsServedWithoutRestart) {
  config_.tls_reload_interval = absl::Seconds(1);
  Start();
  TestCertificateAuthority renewed("renewed-ca");
  const PemKeyPair server =
      renewed.Issue("localhost", {"DNS:localhost", "IP:127.0.0.1"});
  TmpFile("server.key", server.private_key);
  TmpFile("server.pem", server.certificate);
  // The watcher re-reads the files every second; poll (bounded) until a
  // client that trusts only the renewed CA gets through.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  grpc::Status status;
  do {
    auto stub = Stub(renewed.certificate(), nullptr);
    v1::IssueResponse response;
    status = Issue(*stub, "a", &response, kCanaryKeyB);
  } while (status.error_code() == grpc::UNAVAILABLE && absl::Now() < give_up);
  // Caller B may not use "a": the handshake worked, the policy answered.
  EXPECT_EQ(status.error_code(), grpc::PERMISSION_DENIED)
      << status.error_message();
}

TEST(OpenPolicy, StartUpWarnsThatEveryCallerMayUseEveryProfile) {
  LogCapture log;
  ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.token_url = "http://127.0.0.1:1/oauth/token";
  config.revoke_url = "http://127.0.0.1:1/oauth/revoke";
  config.profiles = {{"default", {"id", "secret"}}};
  auto server = TokenServer::Start(config);
  ASSERT_TRUE(server.ok());
  log.Stop();
  EXPECT_THAT(log.Text(), HasSubstr("\"event\":\"caller_policy_open\""));
  EXPECT_THAT(log.Text(), HasSubstr("EVERY caller"));
}

}  // namespace
}  // namespace tokenservice
