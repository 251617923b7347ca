// Fleet mode's revocations end to end: three TokenServers (in this process,
// each with its own cache, channel and etcd session, as three pods) against
// the fake myPOS and Debian's real etcd on loopback. What issue 17
// measured: a Revoke on replica A of a token replica B handed out returned
// OK while B and C went on handing it out.

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

class FleetRevocationTest : public ::testing::Test {
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

  std::unique_ptr<FakeMyposServer> fake_;
  std::unique_ptr<EtcdServer> etcd_;
  KeyDir keys_;
  std::vector<std::unique_ptr<TokenServer>> servers_;
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs_;
};

// Guarantee 3: once Revoke on A returns OK, neither B nor C hands the
// token out again, and the response says all three confirmed.
TEST_F(FleetRevocationTest, ARevokeOnOneReplicaIsARevokeOnEveryReplica) {
  const std::string on_b = Issue(1);
  const std::string on_c = Issue(2);
  ASSERT_FALSE(on_b.empty());
  ASSERT_EQ(Issue(1), on_b);  // cached on B

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
  // C's own token was not touched.
  EXPECT_EQ(Issue(2), on_c);
}

TEST_F(FleetRevocationTest, MetricsSayTheFleetIsWhole) {
  httplib::Client admin("127.0.0.1", servers_[1]->admin_port());
  auto res = admin.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("tokenservice_fleet_connected 1"),
            std::string::npos);
  EXPECT_NE(res->body.find("tokenservice_fleet_replicas 3"), std::string::npos);
  EXPECT_NE(res->body.find("tokenservice_fleet_unshared_revocations 0"),
            std::string::npos);
}

// Guarantee 5, in part: with etcd gone, cache hits go on, and a Revoke
// still revokes at myPOS and here, saying it reached only this replica.
TEST_F(FleetRevocationTest, WithEtcdDownHitsGoOnAndRevokeSaysItIsLocal) {
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
