// Fleet mode end to end: three TokenServers (in this process, each with its
// own cache, channel and etcd session, as three pods) against the fake
// myPOS and Debian's real etcd on loopback. What issue 17 measured: 300
// cold callers over three replicas cost 3 requests to myPOS and got 3
// tokens; a Revoke on replica A of a token replica B handed out returned
// OK while B and C went on handing it out; Revoke by fingerprint on B of
// C's token was NOT_FOUND; 150 reports of one token as rejected left three
// tokens in service.

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/fingerprint.h"
#include "base/mutex.h"
#include "client/token_client.h"
#include "fake_mypos/fake_mypos_server.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/token_server.h"
#include "tests/server/fleet/key_dir.h"
#include "tests/testing/etcd_server.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

constexpr int kReplicas = 3;

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeMyposServer::Options options;
    options.clients = {{"client", "secret"}};
    fake_ = std::make_unique<FakeMyposServer>(options);
    ASSERT_TRUE(fake_->Start().ok());
    auto etcd = EtcdServer::Start(absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/etcd-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = *std::move(etcd);
    keys_.AddKey("k1");
    keys_.Activate("k1");
    for (int i = 0; i < kReplicas; ++i) StartReplica();
    for (auto& server : servers_) {
      ASSERT_TRUE(server->fleet()->AwaitReplicas(
          kReplicas, absl::Now() + absl::Seconds(20)));
    }
  }

  void StartReplica() {
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.admin_listen_address = "127.0.0.1:0";
    config.token_url = fake_->BaseUrl() + "/oauth/token";
    config.revoke_url = fake_->BaseUrl() + "/oauth/revoke";
    config.profiles = {{"default", {"client", "secret"}}};
    config.fleet.etcd_target = etcd_->endpoint();
    config.fleet.etcd_prefix = "/it/";
    config.fleet.keys_dir = keys_.path();
    auto server = TokenServer::Start(config, nullptr);
    ASSERT_TRUE(server.ok()) << server.status();
    stubs_.push_back(v1::TokenService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                            grpc::InsecureChannelCredentials())));
    servers_.push_back(*std::move(server));
  }

  std::string Issue(int replica) {
    grpc::ClientContext context;
    v1::IssueResponse response;
    const grpc::Status status =
        stubs_[replica]->Issue(&context, v1::IssueRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.access_token();
  }

  grpc::Status Revoke(int replica, const std::string& token,
                      v1::RevokeResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::RevokeRequest request;
    request.set_token(token);
    return stubs_[replica]->Revoke(&context, request, response);
  }

  // `n` Issue calls at once, spread over the replicas (each reporting
  // `rejected` as rejected, when set); their tokens, or their errors.
  std::vector<std::string> IssueAtOnce(int n,
                                       const std::string& rejected = "") {
    struct Call {
      grpc::ClientContext context;
      v1::IssueRequest request;
      v1::IssueResponse response;
    };
    // Shared with the callbacks: the last one may still be unlocking the
    // mutex when this returns.
    struct State {
      explicit State(int n) : calls(n), tokens(n), left(n) {}
      std::vector<Call> calls;
      std::vector<std::string> tokens;
      Mutex mu;
      int left ABSL_GUARDED_BY(mu);
    };
    auto state = std::make_shared<State>(n);
    for (int i = 0; i < n; ++i) {
      Call& call = state->calls[i];
      call.context.set_deadline(
          absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      call.request.set_rejected_fingerprint(rejected);
      stubs_[i % stubs_.size()]->async()->Issue(
          &call.context, &call.request, &call.response,
          [state, i](grpc::Status status) {
            MutexLock lock(&state->mu);
            state->tokens[i] = status.ok()
                                   ? state->calls[i].response.access_token()
                                   : "error: " + status.error_message();
            --state->left;
          });
    }
    MutexLock lock(&state->mu);
    auto all = [&state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) {
      return state->left == 0;
    };
    state->mu.Await(absl::Condition(&all));
    return state->tokens;
  }

  std::unique_ptr<FakeMyposServer> fake_;
  std::unique_ptr<EtcdServer> etcd_;
  KeyDir keys_;
  std::vector<std::unique_ptr<TokenServer>> servers_;
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs_;
};

// Guarantee 3: once Revoke on A returns OK, neither B nor C hands the
// token out again, and the response says all three confirmed.
TEST_F(FleetTest, ARevokeOnOneReplicaIsARevokeOnEveryReplica) {
  const std::string on_b = Issue(1);
  ASSERT_FALSE(on_b.empty());
  ASSERT_EQ(Issue(1), on_b);  // cached on B
  ASSERT_EQ(Issue(2), on_b);  // the fleet's one token, on C too

  v1::RevokeResponse response;
  const grpc::Status status = Revoke(0, on_b, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.was_cached());  // A never held it
  EXPECT_TRUE(response.shared());
  EXPECT_EQ(response.replicas_confirmed(), kReplicas);
  EXPECT_EQ(response.replicas_live(), kReplicas);

  // As measured: the next 100 calls to B and C.
  for (int i = 0; i < 100; ++i) {
    const std::string token = Issue(1 + i % 2);
    ASSERT_FALSE(token.empty());
    ASSERT_NE(token, on_b) << "call " << i;
  }
  // The fleet agrees on the replacement.
  EXPECT_EQ(Issue(1), Issue(2));
}

// Guarantee 1: cold callers spread over the replicas cost one request to
// myPOS, and every replica hands out that one token.
TEST_F(FleetTest, ColdCallersOverThreeReplicasCostOneUpstreamRequest) {
  // Slow enough that callers on every replica miss while it runs.
  fake_->SetLatency(absl::Milliseconds(200));
  const std::vector<std::string> tokens = IssueAtOnce(300);
  EXPECT_EQ(fake_->token_requests(), 1);
  ASSERT_FALSE(tokens[0].empty());
  for (int i = 0; i < 300; ++i) ASSERT_EQ(tokens[i], tokens[0]) << "call " << i;
}

// Guarantee 4: reports of one token as rejected, sent to every replica,
// cause one refresh for the fleet, and every caller gets its replacement;
// a report of the replaced token gets that too, without a request.
TEST_F(FleetTest, RejectedReportsOverReplicasCauseOneRefresh) {
  const std::string first = Issue(0);
  ASSERT_EQ(Issue(1), first);
  ASSERT_EQ(Issue(2), first);
  ASSERT_EQ(fake_->token_requests(), 1);

  const std::vector<std::string> tokens = IssueAtOnce(150, Fingerprint(first));
  EXPECT_EQ(fake_->token_requests(), 2);
  EXPECT_NE(tokens[0], first);
  for (int i = 0; i < 150; ++i) ASSERT_EQ(tokens[i], tokens[0]) << "call " << i;

  for (const std::string& token : IssueAtOnce(30, Fingerprint(first))) {
    EXPECT_EQ(token, tokens[0]);
  }
  EXPECT_EQ(fake_->token_requests(), 2);
}

// Guarantee 3 by fingerprint: Revoke on B of a token only C ever handed
// out (it was NOT_FOUND) revokes it everywhere.
TEST_F(FleetTest, RevokeByFingerprintOfATokenAnotherReplicaHolds) {
  const std::string on_c = Issue(2);
  ASSERT_FALSE(on_c.empty());
  grpc::ClientContext context;
  v1::RevokeRequest request;
  request.set_fingerprint(Fingerprint(on_c));
  v1::RevokeResponse response;
  const grpc::Status status = stubs_[1]->Revoke(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.replicas_confirmed(), kReplicas);
  EXPECT_EQ(fake_->revoke_requests(), 1);
  for (int replica = 0; replica < kReplicas; ++replica) {
    EXPECT_NE(Issue(replica), on_c) << "replica " << replica;
  }
}

// Guarantee 6: etcd restarted with its data. The replicas reconnect, and
// the stored token serves the whole fleet, a replica started after the
// restart included, with no new request to myPOS.
TEST_F(FleetTest, EtcdRestartedWithItsDataCausesNoFetchStorm) {
  const std::string token = Issue(0);
  ASSERT_EQ(fake_->token_requests(), 1);
  etcd_->Kill();
  ASSERT_TRUE(etcd_->Restart().ok());
  StartReplica();
  for (auto& server : servers_) {
    ASSERT_TRUE(server->fleet()->AwaitReplicas(
        kReplicas + 1, absl::Now() + absl::Seconds(20)));
  }
  for (const std::string& issued : IssueAtOnce(300)) {
    ASSERT_EQ(issued, token);
  }
  EXPECT_EQ(fake_->token_requests(), 1);
}

// The client library: a Revoke on A drops the token from the in-process
// cache of a TokenClient connected to B, through B's WatchRevocations.
TEST_F(FleetTest, ARevokeOnOneReplicaReachesAClientOfAnother) {
  ChannelOptions channel;
  channel.target = absl::StrCat("127.0.0.1:", servers_[1]->port());
  auto client = TokenClient::Create(channel, TokenClient::Options());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(
      (*client)->AwaitWatchForTesting(true, absl::Now() + absl::Seconds(20)));
  const TokenKey key;
  absl::StatusOr<TokenClient::TokenPtr> token = (*client)->GetToken(key);
  ASSERT_TRUE(token.ok()) << token.status();

  v1::RevokeResponse response;
  ASSERT_TRUE(Revoke(0, (*token)->access_token, &response).ok());
  ASSERT_TRUE((*client)->AwaitRevocationForTesting(
      (*token)->fingerprint, absl::Now() + absl::Seconds(10)));
  absl::StatusOr<TokenClient::TokenPtr> after = (*client)->GetToken(key);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE((*after)->access_token, (*token)->access_token);
}

TEST_F(FleetTest, GetTokenInfoSaysTheFleetIsWhole) {
  const std::string token = Issue(1);
  grpc::ClientContext context;
  v1::GetTokenInfoRequest request;
  request.set_fingerprint(Fingerprint(token));
  v1::TokenInfo info;
  const grpc::Status status = stubs_[1]->GetTokenInfo(&context, request, &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(info.has_fleet());
  EXPECT_TRUE(info.fleet().connected());
  EXPECT_EQ(info.fleet().replicas_live(), kReplicas);
  EXPECT_EQ(info.fleet().unshared_revocations(), 0);
}

TEST_F(FleetTest, MetricsSayTheFleetIsWhole) {
  httplib::Client admin("127.0.0.1", servers_[1]->admin_port());
  auto res = admin.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("tokenservice_fleet_connected 1"),
            std::string::npos);
  EXPECT_NE(res->body.find("tokenservice_fleet_replicas 3"), std::string::npos);
  EXPECT_NE(res->body.find("tokenservice_fleet_unshared_revocations 0"),
            std::string::npos);
  EXPECT_NE(res->body.find("tokenservice_fleet_key{key_id=\"k1\"} 1"),
            std::string::npos);
  EXPECT_NE(res->body.find("tokenservice_fleet_active_key{key_id=\"k1\"} 1"),
            std::string::npos);
}

// Guarantee 5, in part: with etcd gone, cache hits go on, and a Revoke
// still revokes at myPOS and here, saying it reached only this replica.
TEST_F(FleetTest, WithEtcdDownHitsGoOnAndRevokeSaysItIsLocal) {
  const std::string on_a = Issue(0);
  const std::string on_b = Issue(1);
  etcd_->Kill();
  EXPECT_EQ(Issue(1), on_b);  // a cache hit: no etcd on the hit path
  v1::RevokeResponse response;
  const grpc::Status status = Revoke(0, on_a, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.was_cached());
  EXPECT_FALSE(response.shared());
  EXPECT_EQ(response.replicas_confirmed(), 1);
  const std::string after = Issue(0);
  EXPECT_FALSE(after.empty());
  EXPECT_NE(after, on_a);
}

}  // namespace
}  // namespace tokenservice
