// Secret hygiene: the real server on loopback, against the fake myPOS, with
// canary values for everything secret — the client secret (and the Basic
// header built from it), every token myPOS issues, tokens callers send, and
// secrets a misbehaving myPOS puts in its replies. Each test drives one
// family of calls (issue and revoke, upstream failures, malformed requests)
// and records everything the service lets out: status messages and details,
// initial and trailing metadata, every reply, every log line (at debug
// level), /metrics and /healthz. TearDown then asserts that no canary
// appears anywhere, except that an Issue reply carries its own token in
// `access_token` (the one place a token must be).
//
// Failure messages name the canary and the place, never the canary's value.
//
// Every call carries a canary caller key (x-caller-key); the caller policy
// knows it and a second, restricted one, so the "not identified" and "not
// allowed" paths are covered too.

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fake_mypos/fake_mypos_server.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/ops/log.h"
#include "server/rpc/caller_policy.h"
#include "server/rpc/request_validation.h"
#include "server/token_server.h"
#include "tests/testing/log_capture.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

constexpr char kClientId[] = "hygiene-client";
constexpr char kSecret[] = "canary-hygiene-secret-6a1f";
constexpr char kWrongSecret[] = "canary-hygiene-wrong-secret-2c9d";
// Put by the fake into replies the server must not repeat.
constexpr char kUpstreamSecret[] = "canary-hygiene-upstream-9e4b";
// A token myPOS issues that the server never hands out.
constexpr char kUpstreamToken[] = "canary-hygiene-unserved-token-51c8";
// Token values a caller sends.
constexpr char kCallerToken[] = "canary-hygiene-caller-token-0d3e";
constexpr char kMalformedCallerToken[] = "canary-hygiene caller-token-77a0";
// A user's grants a caller sends to ExchangeGrant.
constexpr char kUserCode[] = "canary-hygiene-user-code-4e2a";
constexpr char kUserRefreshToken[] = "canary-hygiene-user-refresh-9b3c";
// Caller keys: one allowed everything, one allowed nothing, one unknown.
constexpr char kCallerKey[] = "canary-hygiene-caller-key-3b7e";
constexpr char kRestrictedCallerKey[] = "canary-hygiene-restricted-key-8f21";
constexpr char kUnknownCallerKey[] = "canary-hygiene-unknown-key-c40a";

// A labelled value that must not leak.
struct Canary {
  std::string label;
  std::string value;
};

// Something the service let out, and where it came from.
struct Observed {
  std::string where;
  std::string text;
};

class SecretHygieneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetMinLogLevel(LogLevel::kDebug);
    FakeMyposServer::Options options;
    options.clients = {{kClientId, kSecret}};
    fake_ = std::make_unique<FakeMyposServer>(options);
    ASSERT_TRUE(fake_->Start().ok());
  }

  void TearDown() override {
    for (auto& server : servers_) ScrapeAdmin(*server);
    servers_.clear();
    fake_.reset();
    log_.Stop();
    SetMinLogLevel(LogLevel::kInfo);
    std::vector<std::string> lines = log_.Lines();
    EXPECT_FALSE(lines.empty()) << "nothing was logged";
    for (std::string& line : lines) {
      observed_.push_back({"log line", std::move(line)});
    }
    const std::vector<Canary> canaries = Canaries();
    for (const Observed& seen : observed_) {
      for (const Canary& canary : canaries) {
        EXPECT_EQ(seen.text.find(canary.value), std::string::npos)
            << canary.label << " appears in " << seen.where;
      }
    }
  }

  // Every value that must not leak, with a label for failure messages.
  std::vector<Canary> Canaries() const {
    std::vector<Canary> canaries = {
        {"the client secret", kSecret},
        {"a wrong client secret", kWrongSecret},
        {"the Basic credentials",
         absl::Base64Escape(absl::StrCat(kClientId, ":", kSecret))},
        {"a secret in a myPOS reply", kUpstreamSecret},
        {"a token the server never handed out", kUpstreamToken},
        {"a token sent by a caller", kCallerToken},
        {"a malformed token sent by a caller", kMalformedCallerToken},
        {"a user's authorization code", kUserCode},
        {"a user's refresh token", kUserRefreshToken},
        {"the caller key", kCallerKey},
        {"a restricted caller's key", kRestrictedCallerKey},
        {"an unknown caller key", kUnknownCallerKey},
    };
    for (size_t i = 0; i < granted_refresh_tokens_.size(); ++i) {
      canaries.push_back({absl::StrCat("granted refresh token #", i),
                          granted_refresh_tokens_[i]});
    }
    for (size_t i = 0; i < issued_tokens_.size(); ++i) {
      canaries.push_back(
          {absl::StrCat("issued token #", i), issued_tokens_[i]});
    }
    return canaries;
  }

  // A server with profiles "default" (the right secret) and "wrong" (a
  // secret myPOS rejects), talking to `upstream_base_url`.
  TokenServer& StartServer(const std::string& upstream_base_url,
                           size_t max_queued_upstream = 1024) {
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.admin_listen_address = "127.0.0.1:0";
    config.token_url = upstream_base_url + "/oauth/token";
    config.revoke_url = upstream_base_url + "/oauth/revoke";
    config.profiles = {{"default", {kClientId, kSecret}},
                       {"wrong", {kClientId, kWrongSecret}}};
    config.callers = {{"hygiene",
                       {},
                       CallerPolicy::KeyDigest(kCallerKey),
                       {"*"},
                       /*may_revoke=*/true,
                       /*may_read_metadata=*/true},
                      {"restricted",
                       {},
                       CallerPolicy::KeyDigest(kRestrictedCallerKey),
                       {"nothing-here"}}};
    config.broker.upstream_timeout = absl::Seconds(5);
    // Every failure path below must reach myPOS: do not answer from the
    // memory of a rejection (--rejected_credentials_ttl) or retry.
    config.retry.rejected_credentials_ttl = absl::ZeroDuration();
    config.retry.max_attempts = 1;
    config.broker.max_caller_fetches = max_queued_upstream;
    auto server = TokenServer::Start(config);
    EXPECT_TRUE(server.ok()) << server.status();
    servers_.push_back(*std::move(server));
    return *servers_.back();
  }

  std::unique_ptr<v1::TokenService::Stub> Stub(const TokenServer& server) {
    return v1::TokenService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                            grpc::InsecureChannelCredentials()));
  }

  // Records what a finished call let out besides its reply.
  void RecordCall(const std::string& rpc, const grpc::ClientContext& context,
                  const grpc::Status& status) {
    observed_.push_back({rpc + " status message", status.error_message()});
    observed_.push_back({rpc + " status details", status.error_details()});
    for (const auto* metadata : {&context.GetServerInitialMetadata(),
                                 &context.GetServerTrailingMetadata()}) {
      for (const auto& [key, value] : *metadata) {
        observed_.push_back(
            {absl::StrCat(rpc, " metadata ",
                          std::string(key.data(), key.size())),
             absl::StrCat(std::string(key.data(), key.size()), "=",
                          std::string(value.data(), value.size()))});
      }
    }
  }

  void RecordReply(const std::string& rpc,
                   const google::protobuf::Message& reply) {
    observed_.push_back({rpc + " reply", reply.SerializeAsString()});
    observed_.push_back({rpc + " reply", reply.DebugString()});
  }

  grpc::Status Issue(v1::TokenService::Stub& stub,
                     const v1::IssueRequest& request,
                     v1::IssueResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata(kCallerKeyMetadata, caller_key_);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    grpc::Status status = stub.Issue(&context, request, response);
    RecordCall("Issue", context, status);
    if (status.ok()) {
      EXPECT_FALSE(response->access_token().empty());
      issued_tokens_.push_back(response->access_token());
      // The token belongs in access_token and nowhere else in the reply.
      v1::IssueResponse rest = *response;
      rest.clear_access_token();
      RecordReply("Issue", rest);
    } else {
      RecordReply("Issue", *response);
    }
    return status;
  }

  grpc::Status ExchangeGrant(v1::TokenService::Stub& stub,
                             const v1::ExchangeGrantRequest& request) {
    grpc::ClientContext context;
    context.AddMetadata(kCallerKeyMetadata, caller_key_);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::ExchangeGrantResponse response;
    grpc::Status status = stub.ExchangeGrant(&context, request, &response);
    RecordCall("ExchangeGrant", context, status);
    if (status.ok()) {
      issued_tokens_.push_back(response.access_token());
      granted_refresh_tokens_.push_back(response.refresh_token());
      // The tokens belong in their two fields and nowhere else.
      response.clear_access_token();
      response.clear_refresh_token();
    }
    RecordReply("ExchangeGrant", response);
    return status;
  }

  grpc::Status Revoke(v1::TokenService::Stub& stub,
                      const v1::RevokeRequest& request) {
    grpc::ClientContext context;
    context.AddMetadata(kCallerKeyMetadata, caller_key_);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::RevokeResponse response;
    grpc::Status status = stub.Revoke(&context, request, &response);
    RecordCall("Revoke", context, status);
    RecordReply("Revoke", response);
    return status;
  }

  grpc::Status GetTokenInfo(v1::TokenService::Stub& stub,
                            const std::string& fingerprint) {
    grpc::ClientContext context;
    context.AddMetadata(kCallerKeyMetadata, caller_key_);
    v1::GetTokenInfoRequest request;
    request.set_fingerprint(fingerprint);
    v1::TokenInfo info;
    grpc::Status status = stub.GetTokenInfo(&context, request, &info);
    RecordCall("GetTokenInfo", context, status);
    RecordReply("GetTokenInfo", info);
    return status;
  }

  grpc::Status ListTokens(v1::TokenService::Stub& stub,
                          const v1::ListTokensRequest& request,
                          v1::ListTokensResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata(kCallerKeyMetadata, caller_key_);
    grpc::Status status = stub.ListTokens(&context, request, response);
    RecordCall("ListTokens", context, status);
    RecordReply("ListTokens", *response);
    return status;
  }

  void ScrapeAdmin(const TokenServer& server) {
    httplib::Client admin("127.0.0.1", server.admin_port());
    for (const char* path : {"/metrics", "/healthz"}) {
      httplib::Result res = admin.Get(path);
      ASSERT_TRUE(res) << path;
      EXPECT_EQ(res->status, 200) << path;
      observed_.push_back({path, res->body});
      for (const auto& [name, value] : res->headers) {
        observed_.push_back({absl::StrCat(path, " header ", name), value});
      }
    }
  }

  // A canned myPOS reply.
  static FakeMyposServer::Fault Fault(int status, const std::string& body) {
    return FakeMyposServer::Fault{status, body, {}, absl::ZeroDuration()};
  }

  static v1::IssueRequest IssueFor(const std::string& credential,
                                   const std::string& scope = "") {
    v1::IssueRequest request;
    request.set_credential(credential);
    if (!scope.empty()) request.add_scopes(scope);
    return request;
  }

  std::unique_ptr<FakeMyposServer> fake_;
  std::vector<std::unique_ptr<TokenServer>> servers_;
  std::vector<std::string> issued_tokens_;
  // Refresh tokens and codes of users' grants: never anywhere but their
  // own reply field (refresh tokens) or request (codes).
  std::vector<std::string> granted_refresh_tokens_;
  // Sent as x-caller-key on every call.
  std::string caller_key_ = kCallerKey;
  std::vector<Observed> observed_;
  LogCapture log_;
};

TEST_F(SecretHygieneTest, IssueRevokeAndMetadataShowNoSecret) {
  TokenServer& server = StartServer(fake_->BaseUrl());
  auto stub = Stub(server);

  v1::IssueResponse miss, hit, refreshed, other;
  ASSERT_TRUE(Issue(*stub, IssueFor(""), &miss).ok());
  EXPECT_FALSE(miss.cached());
  // The secret really went to myPOS, so its absence elsewhere means
  // something.
  EXPECT_TRUE(fake_->last_token_authorization() ==
              "Basic " +
                  absl::Base64Escape(absl::StrCat(kClientId, ":", kSecret)))
      << "the fake did not receive the canary secret";
  ASSERT_TRUE(Issue(*stub, IssueFor("default"), &hit).ok());
  EXPECT_TRUE(hit.cached());

  // A caller reports the token rejected: one refresh, a new token.
  v1::IssueRequest report = IssueFor("default");
  report.set_rejected_fingerprint(miss.fingerprint());
  ASSERT_TRUE(Issue(*stub, report, &refreshed).ok());
  EXPECT_FALSE(refreshed.cached());
  ASSERT_TRUE(Issue(*stub, IssueFor("default", "webhooks"), &other).ok());

  EXPECT_TRUE(GetTokenInfo(*stub, refreshed.fingerprint()).ok());
  GetTokenInfo(*stub, miss.fingerprint());  // dropped: found or not
  v1::ListTokensResponse list;
  ASSERT_TRUE(ListTokens(*stub, v1::ListTokensRequest(), &list).ok());
  EXPECT_GE(list.tokens_size(), 2);

  v1::RevokeRequest by_token;
  by_token.set_token(refreshed.access_token());
  EXPECT_TRUE(Revoke(*stub, by_token).ok());
  v1::RevokeRequest by_fingerprint;
  by_fingerprint.set_fingerprint(other.fingerprint());
  EXPECT_TRUE(Revoke(*stub, by_fingerprint).ok());
  // A token the server never issued: myPOS answers 200 (RFC 7009).
  v1::RevokeRequest unknown;
  unknown.set_token(kCallerToken);
  EXPECT_TRUE(Revoke(*stub, unknown).ok());
  // Revoked tokens stay visible in the metadata.
  v1::ListTokensResponse after;
  ASSERT_TRUE(ListTokens(*stub, v1::ListTokensRequest(), &after).ok());
  EXPECT_TRUE(GetTokenInfo(*stub, other.fingerprint()).ok());
  EXPECT_FALSE(fake_->IsTokenActive(refreshed.access_token()));
  EXPECT_FALSE(fake_->IsTokenActive(other.access_token()));
}

TEST_F(SecretHygieneTest, UpstreamFailuresShowNoSecret) {
  TokenServer& server = StartServer(fake_->BaseUrl());
  auto stub = Stub(server);
  v1::IssueResponse response;

  // myPOS rejects the credentials.
  EXPECT_EQ(Issue(*stub, IssueFor("wrong"), &response).error_code(),
            grpc::FAILED_PRECONDITION);
  // myPOS rejects them and echoes a secret in its description.
  fake_->EnqueueTokenFault(Fault(
      401, absl::StrCat(R"({"error":"invalid_client","error_description":")",
                        "client secret ", kSecret, " is not ", kUpstreamSecret,
                        R"("})")));
  EXPECT_EQ(Issue(*stub, IssueFor("default", "a"), &response).error_code(),
            grpc::FAILED_PRECONDITION);
  // Scope rejected.
  fake_->EnqueueTokenFault(Fault(
      400, absl::StrCat(R"({"error":"invalid_scope","error_description":")",
                        kUpstreamSecret, R"("})")));
  EXPECT_EQ(Issue(*stub, IssueFor("default", "b"), &response).error_code(),
            grpc::INVALID_ARGUMENT);
  // 5xx with a body that quotes a secret.
  fake_->EnqueueTokenFault(
      Fault(503, absl::StrCat("<html>upstream down ", kUpstreamSecret)));
  EXPECT_EQ(Issue(*stub, IssueFor("default", "c"), &response).error_code(),
            grpc::UNAVAILABLE);
  // 429.
  fake_->EnqueueTokenFault(Fault(429, R"({"error":"slow_down"})"));
  EXPECT_EQ(Issue(*stub, IssueFor("default", "d"), &response).error_code(),
            grpc::UNAVAILABLE);
  // 200 whose token is unusable (expires_in <= 0): the token must not leak.
  fake_->EnqueueTokenFault(
      Fault(200, absl::StrCat(R"({"access_token":")", kUpstreamSecret,
                              R"(","expires_in":-1})")));
  EXPECT_EQ(Issue(*stub, IssueFor("default", "e"), &response).error_code(),
            grpc::UNAVAILABLE);
  // A token shorter-lived than the caller needs: cached, never handed out.
  fake_->EnqueueTokenFault(
      Fault(200, absl::StrCat(R"({"access_token":")", kUpstreamToken,
                              R"(","expires_in":3600})")));
  v1::IssueRequest long_validity = IssueFor("default", "f");
  long_validity.mutable_min_validity()->set_seconds(2 * 3600);
  EXPECT_EQ(Issue(*stub, long_validity, &response).error_code(),
            grpc::OUT_OF_RANGE);
  // Revocation refused by myPOS, with a secret in the reply.
  v1::IssueResponse issued;
  ASSERT_TRUE(Issue(*stub, IssueFor("default"), &issued).ok());
  fake_->EnqueueRevokeFault(Fault(
      400, absl::StrCat(R"({"error":"invalid_request","error_description":")",
                        kUpstreamSecret, R"("})")));
  v1::RevokeRequest revoke;
  revoke.set_token(issued.access_token());
  EXPECT_EQ(Revoke(*stub, revoke).error_code(), grpc::INTERNAL);
  fake_->EnqueueRevokeFault(Fault(500, kUpstreamSecret));
  v1::RevokeRequest by_fingerprint;
  by_fingerprint.set_fingerprint(issued.fingerprint());
  EXPECT_EQ(Revoke(*stub, by_fingerprint).error_code(), grpc::UNAVAILABLE);

  // myPOS unreachable: a stopped fake's port.
  FakeMyposServer gone(FakeMyposServer::Options{});
  ASSERT_TRUE(gone.Start().ok());
  const std::string gone_url = gone.BaseUrl();
  gone.Stop();
  auto unreachable = Stub(StartServer(gone_url));
  EXPECT_EQ(Issue(*unreachable, IssueFor("default"), &response).error_code(),
            grpc::UNAVAILABLE);
  revoke.set_token(kCallerToken);
  EXPECT_EQ(Revoke(*unreachable, revoke).error_code(), grpc::UNAVAILABLE);

  // No room to wait for myPOS.
  auto exhausted = Stub(StartServer(fake_->BaseUrl(), /*max_queued=*/0));
  EXPECT_EQ(Issue(*exhausted, IssueFor("default"), &response).error_code(),
            grpc::RESOURCE_EXHAUSTED);
  // Revocations are never refused for want of room (issue 15).
  EXPECT_EQ(Revoke(*exhausted, revoke).error_code(), grpc::OK);
}

TEST_F(SecretHygieneTest, UserGrantExchangesShowNoGrantOrToken) {
  auto stub = Stub(StartServer(fake_->BaseUrl()));
  // A code the fake redeems, whose refresh token is then exchanged.
  const std::string code =
      fake_->IssueAuthorizationCode(kClientId, "", "", {"webhooks"});
  granted_refresh_tokens_.push_back(code);  // a user's secret just the same
  v1::ExchangeGrantRequest exchange;
  exchange.mutable_authorization_code()->set_code(code);
  ASSERT_TRUE(ExchangeGrant(*stub, exchange).ok());
  v1::ExchangeGrantRequest refresh;
  refresh.mutable_refresh_token()->set_refresh_token(
      granted_refresh_tokens_.back());
  ASSERT_TRUE(ExchangeGrant(*stub, refresh).ok());
  // Grants myPOS refuses, with a secret in its reply.
  exchange.mutable_authorization_code()->set_code(kUserCode);
  EXPECT_EQ(ExchangeGrant(*stub, exchange).error_code(),
            grpc::INVALID_ARGUMENT);
  refresh.mutable_refresh_token()->set_refresh_token(kUserRefreshToken);
  fake_->EnqueueTokenFault(Fault(
      400,
      absl::StrCat(R"({"error":"unauthorized_client","error_description":")",
                   kUpstreamSecret, R"("})")));
  EXPECT_EQ(ExchangeGrant(*stub, refresh).error_code(),
            grpc::FAILED_PRECONDITION);
  // An outcome the server cannot know.
  fake_->EnqueueTokenFault(Fault(504, kUpstreamSecret));
  EXPECT_EQ(ExchangeGrant(*stub, refresh).error_code(), grpc::UNKNOWN);
  // A malformed grant.
  exchange.mutable_authorization_code()->set_code(
      absl::StrCat(kUserCode, " with a space"));
  EXPECT_EQ(ExchangeGrant(*stub, exchange).error_code(),
            grpc::INVALID_ARGUMENT);
}

TEST_F(SecretHygieneTest, CallerPolicyFailuresShowNoKey) {
  TokenServer& server = StartServer(fake_->BaseUrl());
  auto stub = Stub(server);
  v1::IssueResponse response;
  caller_key_ = kUnknownCallerKey;
  EXPECT_EQ(Issue(*stub, v1::IssueRequest(), &response).error_code(),
            grpc::UNAUTHENTICATED);
  caller_key_ = kRestrictedCallerKey;
  EXPECT_EQ(Issue(*stub, v1::IssueRequest(), &response).error_code(),
            grpc::PERMISSION_DENIED);
  v1::RevokeRequest revoke;
  revoke.set_token(kCallerToken);
  EXPECT_EQ(Revoke(*stub, revoke).error_code(), grpc::PERMISSION_DENIED);
  v1::ListTokensResponse list;
  EXPECT_EQ(ListTokens(*stub, v1::ListTokensRequest(), &list).error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_EQ(fake_->token_requests(), 0);
}

TEST_F(SecretHygieneTest, MalformedRequestsShowNoSecret) {
  TokenServer& server = StartServer(fake_->BaseUrl());
  auto stub = Stub(server);
  v1::IssueResponse response;

  EXPECT_EQ(Issue(*stub, IssueFor("nobody"), &response).error_code(),
            grpc::NOT_FOUND);
  EXPECT_EQ(Issue(*stub, IssueFor("bad name!"), &response).error_code(),
            grpc::INVALID_ARGUMENT);
  EXPECT_EQ(
      Issue(*stub, IssueFor("default", "web hooks"), &response).error_code(),
      grpc::INVALID_ARGUMENT);
  v1::IssueRequest bad_validity = IssueFor("default");
  bad_validity.mutable_min_validity()->set_seconds(-1);
  EXPECT_EQ(Issue(*stub, bad_validity, &response).error_code(),
            grpc::INVALID_ARGUMENT);
  v1::IssueRequest bad_report = IssueFor("default");
  bad_report.set_rejected_fingerprint(kCallerToken);
  EXPECT_EQ(Issue(*stub, bad_report, &response).error_code(),
            grpc::INVALID_ARGUMENT);

  v1::RevokeRequest revoke;
  revoke.set_token(kMalformedCallerToken);
  EXPECT_EQ(Revoke(*stub, revoke).error_code(), grpc::INVALID_ARGUMENT);
  revoke.set_token(std::string(kMaxTokenLength + 1, 'x') + kCallerToken);
  EXPECT_EQ(Revoke(*stub, revoke).error_code(), grpc::INVALID_ARGUMENT);
  revoke.set_fingerprint(kCallerToken);  // not a fingerprint
  EXPECT_EQ(Revoke(*stub, revoke).error_code(), grpc::INVALID_ARGUMENT);
  revoke.clear_target();
  EXPECT_EQ(Revoke(*stub, revoke).error_code(), grpc::INVALID_ARGUMENT);

  EXPECT_EQ(GetTokenInfo(*stub, kCallerToken).error_code(),
            grpc::INVALID_ARGUMENT);
  EXPECT_EQ(GetTokenInfo(*stub, "0123456789abcdef").error_code(),
            grpc::NOT_FOUND);
  v1::ListTokensRequest list;
  list.set_page_token(kCallerToken);
  v1::ListTokensResponse listed;
  EXPECT_EQ(ListTokens(*stub, list, &listed).error_code(),
            grpc::INVALID_ARGUMENT);
  EXPECT_EQ(fake_->token_requests(), 0);
}

}  // namespace
}  // namespace tokenservice
