// TokenClient against the real server and the fake myPOS on loopback: the
// in-process cache in front of the server's, one Issue per key across
// threads, expiry by the client's clock, and the 401 -> report path across
// two client processes (two TokenClients).

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/token_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "tests/base/fake_clock.h"
#include "tests/client/mypos_test_env.h"
#include "tests/testing/log_capture.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::HasSubstr;
using ::testing::Not;

class TokenClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.Start().ok());
    client_ = NewClient();
  }

  void TearDown() override {
    client_.reset();
    env_.StopTokenService();  // its shutdown lines are checked too
    log_.Stop();
    const std::string log = log_.Text();
    EXPECT_THAT(log, Not(HasSubstr(MyposTestEnv::kCanarySecret)));
    for (const std::string& token : tokens_seen_) {
      EXPECT_THAT(log, Not(HasSubstr(token)));
    }
  }

  std::unique_ptr<TokenClient> NewClient() {
    ChannelOptions channel;
    channel.target = env_.target();
    TokenClient::Options options;
    options.caller_key = "integration-caller";
    auto client = TokenClient::Create(channel, options, clock_);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    // Live before the test begins, so that the grace plays no part.
    EXPECT_TRUE(
        (*client)->AwaitWatchForTesting(true, absl::Now() + absl::Seconds(20)));
    return *std::move(client);
  }

  TokenClient::TokenPtr MustGet(TokenClient& client) {
    absl::StatusOr<TokenClient::TokenPtr> token = client.GetToken(key_);
    EXPECT_TRUE(token.ok()) << token.status();
    if (!token.ok()) return nullptr;
    tokens_seen_.push_back((*token)->access_token);
    return *token;
  }

  // The server's hit count for `fingerprint`: how many Issue calls it
  // answered from its own cache.
  int64_t ServerHits(const std::string& fingerprint) {
    auto stub = v1::TokenService::NewStub(
        grpc::CreateChannel(env_.target(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    v1::GetTokenInfoRequest request;
    request.set_fingerprint(fingerprint);
    v1::TokenInfo info;
    EXPECT_TRUE(stub->GetTokenInfo(&context, request, &info).ok());
    return info.hit_count();
  }

  // An exchange of a fresh authorization code of the fake's.
  v1::ExchangeGrantRequest NewCodeRequest() {
    v1::ExchangeGrantRequest request;
    request.mutable_authorization_code()->set_code(
        env_.fake().IssueAuthorizationCode(MyposTestEnv::kClientId, "", "",
                                           {"webhooks"}));
    return request;
  }

  MyposTestEnv env_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(absl::Now());
  std::unique_ptr<TokenClient> client_;
  const TokenKey key_{"", {"webhooks"}};
  std::vector<std::string> tokens_seen_;
  LogCapture log_;
};

TEST_F(TokenClientIntegrationTest, RepeatedGetTokenIsServedInProcess) {
  TokenClient::TokenPtr first = MustGet(*client_);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(env_.Ping(first->AuthorizationHeader()), 200);
  EXPECT_EQ(first->credential, "default");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(MustGet(*client_), first);
  EXPECT_EQ(env_.fake().token_requests(), 1);
  EXPECT_EQ(ServerHits(first->fingerprint), 0);  // the server saw one Issue
}

TEST_F(TokenClientIntegrationTest, ConcurrentGetTokenSendsOneIssue) {
  std::vector<std::thread> threads;
  std::vector<TokenClient::TokenPtr> seen(8);
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&, i] { seen[i] = *client_->GetToken(key_); });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_NE(seen[0], nullptr);
  tokens_seen_.push_back(seen[0]->access_token);
  for (const auto& token : seen) EXPECT_EQ(token, seen[0]);
  EXPECT_EQ(env_.fake().token_requests(), 1);
  EXPECT_EQ(ServerHits(seen[0]->fingerprint), 0);
}

TEST_F(TokenClientIntegrationTest, NearExpiryByClientClockAsksServerAgain) {
  TokenClient::TokenPtr first = MustGet(*client_);
  ASSERT_NE(first, nullptr);
  clock_->Advance(first->expire_time - clock_->Now() - absl::Seconds(29));
  TokenClient::TokenPtr second = MustGet(*client_);
  ASSERT_NE(second, nullptr);
  // The server, by its real clock, still had an hour: its cached token.
  EXPECT_EQ(second->access_token, first->access_token);
  EXPECT_NE(second, first);
  EXPECT_EQ(ServerHits(first->fingerprint), 1);
  EXPECT_EQ(env_.fake().token_requests(), 1);
}

TEST_F(TokenClientIntegrationTest, RejectedTokenIsRefreshedOnceForAllClients) {
  std::unique_ptr<TokenClient> other = NewClient();  // another replica
  TokenClient::TokenPtr first = MustGet(*client_);
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(MustGet(*other)->access_token, first->access_token);
  ASSERT_TRUE(env_.RevokeAtMypos(first->access_token));
  ASSERT_EQ(env_.Ping(first->AuthorizationHeader()), 401);

  absl::StatusOr<TokenClient::TokenPtr> replacement =
      client_->ReportRejected(*first);
  ASSERT_TRUE(replacement.ok()) << replacement.status();
  tokens_seen_.push_back((*replacement)->access_token);
  EXPECT_NE((*replacement)->access_token, first->access_token);
  EXPECT_EQ(env_.Ping((*replacement)->AuthorizationHeader()), 200);
  EXPECT_EQ(MustGet(*client_), *replacement);

  // The other replica reports the same token: no second refresh.
  absl::StatusOr<TokenClient::TokenPtr> theirs = other->ReportRejected(*first);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_EQ((*theirs)->access_token, (*replacement)->access_token);
  EXPECT_EQ(env_.fake().token_requests(), 2);
}

TEST_F(TokenClientIntegrationTest, UnknownProfileIsNotFound) {
  absl::Status status = client_->GetToken(TokenKey("nobody")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(env_.fake().token_requests(), 0);
}

TEST_F(TokenClientIntegrationTest, MyposFailureIsUnavailable) {
  for (int i = 0; i < 20; ++i) {  // the server's and the channel's retries
    env_.fake().EnqueueTokenFault(
        {503, R"({"error":"temporarily_unavailable"})"});
  }
  EXPECT_EQ(client_->GetToken(key_).status().code(),
            absl::StatusCode::kUnavailable);
}

// A Revoke drops the token from every client's in-process cache through
// WatchRevocations; the next GetToken gets a new one.
TEST_F(TokenClientIntegrationTest, ARevocationReachesTheClientsCache) {
  std::unique_ptr<TokenClient> other = NewClient();
  TokenClient::TokenPtr token = MustGet(*client_);
  ASSERT_NE(token, nullptr);
  ASSERT_EQ(MustGet(*other)->access_token, token->access_token);

  auto stub = v1::TokenService::NewStub(
      grpc::CreateChannel(env_.target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::RevokeRequest request;
  request.set_fingerprint(token->fingerprint);
  v1::RevokeResponse response;
  ASSERT_TRUE(stub->Revoke(&context, request, &response).ok());
  for (TokenClient* client : {client_.get(), other.get()}) {
    ASSERT_TRUE(client->AwaitRevocationForTesting(
        token->fingerprint, absl::Now() + absl::Seconds(10)));
    EXPECT_NE(MustGet(*client)->access_token, token->access_token);
  }
}

// While the stream is down, cached tokens are served for the grace only;
// then the client asks the service (here: gone) again.
TEST_F(TokenClientIntegrationTest, WithoutTheStreamCachedTokensLastTheGrace) {
  TokenClient::TokenPtr token = MustGet(*client_);
  ASSERT_NE(token, nullptr);
  env_.StopTokenService();
  ASSERT_TRUE(
      client_->AwaitWatchForTesting(false, absl::Now() + absl::Seconds(20)));
  clock_->Advance(TokenClient::Options().revocation_grace - absl::Seconds(1));
  absl::StatusOr<TokenClient::TokenPtr> cached = client_->GetToken(key_);
  ASSERT_TRUE(cached.ok()) << cached.status();  // from the cache
  EXPECT_EQ((*cached)->access_token, token->access_token);
  clock_->Advance(absl::Seconds(2));
  EXPECT_EQ(client_->GetToken(key_).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(TokenClientIntegrationTest, StoppedServiceIsUnavailable) {
  env_.StopTokenService();
  EXPECT_EQ(client_->GetToken(key_).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(TokenClientIntegrationTest, GrantExchangeReachesMyposOnceWhatever) {
  // 504, and a reply cut off mid-body: myPOS may have used the code each
  // time. Neither the server nor the channel's documented retry policy may
  // send it again.
  fake_mypos::Fault dropped{200, R"({"access_token":"canary-cut-off-tok"})"};
  dropped.drop_after_bytes = 5;
  for (const fake_mypos::Fault& fault : {fake_mypos::Fault{504, ""}, dropped}) {
    const int before = env_.fake().token_requests();
    env_.fake().EnqueueTokenFault(fault);
    absl::StatusOr<v1::ExchangeGrantResponse> result =
        client_->ExchangeGrant(NewCodeRequest());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnknown)
        << result.status();
    EXPECT_EQ(env_.fake().token_requests(), before + 1);
  }
}

TEST_F(TokenClientIntegrationTest, GrantExchangeReturnsTheUsersTokens) {
  absl::StatusOr<v1::ExchangeGrantResponse> result =
      client_->ExchangeGrant(NewCodeRequest());
  ASSERT_TRUE(result.ok()) << result.status();
  tokens_seen_.push_back(result->access_token());
  tokens_seen_.push_back(result->refresh_token());
  EXPECT_EQ(env_.Ping("Bearer " + result->access_token()), 200);
  EXPECT_FALSE(result->refresh_token().empty());
}

}  // namespace
}  // namespace tokenservice
