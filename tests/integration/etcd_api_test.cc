// etcd's v3 API as fleet mode (issue 17) will use it, against Debian's real
// etcd through the C++ stubs compiled from Debian's .proto files
// (//proto:etcd_cc_grpc): the compare-and-set on a key's create revision
// that fences a lock holder, leases that take their keys with them, and a
// watch that resumes from a revision after etcd was SIGKILLed and restarted
// — or, past a compaction, says so, which is when a replica must re-read
// the state instead.

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/etcd_server.h"

namespace tokenservice {
namespace {

namespace pb = ::etcdserverpb;

class EtcdApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = EtcdServer::Start(absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/etcd-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = *std::move(etcd);
    Connect();
  }

  void Connect() {
    channel_ = grpc::CreateChannel(etcd_->endpoint(),
                                   grpc::InsecureChannelCredentials());
    kv_ = pb::KV::NewStub(channel_);
    lease_ = pb::Lease::NewStub(channel_);
    watch_ = pb::Watch::NewStub(channel_);
  }

  static void Bound(grpc::ClientContext* context) {
    context->set_wait_for_ready(true);
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  }

  // Puts `key` = `value` (with `lease` when not 0); the store's revision.
  int64_t Put(const std::string& key, const std::string& value,
              int64_t lease = 0) {
    grpc::ClientContext context;
    Bound(&context);
    pb::PutRequest request;
    request.set_key(key);
    request.set_value(value);
    request.set_lease(lease);
    pb::PutResponse response;
    const grpc::Status status = kv_->Put(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.header().revision();
  }

  std::vector<mvccpb::KeyValue> Get(const std::string& key) {
    grpc::ClientContext context;
    Bound(&context);
    pb::RangeRequest request;
    request.set_key(key);
    pb::RangeResponse response;
    const grpc::Status status = kv_->Range(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.kvs().begin(), response.kvs().end()};
  }

  // Puts `key` = `value` if the key's create revision is `created`.
  bool PutIfCreatedAt(const std::string& key, int64_t created,
                      const std::string& value) {
    grpc::ClientContext context;
    Bound(&context);
    pb::TxnRequest request;
    pb::Compare* compare = request.add_compare();
    compare->set_key(key);
    compare->set_target(pb::Compare::CREATE);
    compare->set_result(pb::Compare::EQUAL);
    compare->set_create_revision(created);
    pb::PutRequest* put = request.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
    pb::TxnResponse response;
    const grpc::Status status = kv_->Txn(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.succeeded();
  }

  std::unique_ptr<EtcdServer> etcd_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::KV::Stub> kv_;
  std::unique_ptr<pb::Lease::Stub> lease_;
  std::unique_ptr<pb::Watch::Stub> watch_;
};

TEST_F(EtcdApiTest, CompareAndSetOnTheCreateRevisionFencesAStaleHolder) {
  Put("/t/lock", "holder-1");
  const std::vector<mvccpb::KeyValue> lock = Get("/t/lock");
  ASSERT_EQ(lock.size(), 1u);
  const int64_t created = lock[0].create_revision();
  EXPECT_TRUE(PutIfCreatedAt("/t/lock", created, "holder-1 again"));
  // The key deleted and created anew (another holder): the old fencing
  // revision no longer matches, so the first holder cannot overwrite it.
  {
    grpc::ClientContext context;
    Bound(&context);
    pb::DeleteRangeRequest request;
    request.set_key("/t/lock");
    pb::DeleteRangeResponse response;
    ASSERT_TRUE(kv_->DeleteRange(&context, request, &response).ok());
  }
  Put("/t/lock", "holder-2");
  EXPECT_FALSE(PutIfCreatedAt("/t/lock", created, "holder-1 late"));
  ASSERT_EQ(Get("/t/lock").size(), 1u);
  EXPECT_EQ(Get("/t/lock")[0].value(), "holder-2");
}

TEST_F(EtcdApiTest, ALeaseTakesItsKeysWithIt) {
  pb::LeaseGrantResponse grant;
  {
    grpc::ClientContext context;
    Bound(&context);
    pb::LeaseGrantRequest request;
    request.set_ttl(60);
    ASSERT_TRUE(lease_->LeaseGrant(&context, request, &grant).ok());
  }
  ASSERT_NE(grant.id(), 0);
  Put("/t/leased", "v", grant.id());
  ASSERT_EQ(Get("/t/leased").size(), 1u);
  {
    // Its holder gone (revoked here; expired, for a holder that died).
    grpc::ClientContext context;
    Bound(&context);
    pb::LeaseRevokeRequest request;
    request.set_id(grant.id());
    pb::LeaseRevokeResponse response;
    ASSERT_TRUE(lease_->LeaseRevoke(&context, request, &response).ok());
  }
  EXPECT_TRUE(Get("/t/leased").empty());
}

TEST_F(EtcdApiTest, AWatchResumesFromARevisionAcrossAKilledEtcd) {
  const int64_t first = Put("/t/revoked/a", "1");
  etcd_->Kill();
  const absl::Status restarted = etcd_->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  Connect();
  const int64_t second = Put("/t/revoked/b", "2");
  EXPECT_GT(second, first);

  // From `first` on: both events, the one written before the kill too.
  grpc::ClientContext context;
  Bound(&context);
  auto stream = watch_->Watch(&context);
  pb::WatchRequest request;
  request.mutable_create_request()->set_key("/t/revoked/");
  request.mutable_create_request()->set_range_end("/t/revoked0");  // prefix
  request.mutable_create_request()->set_start_revision(first);
  ASSERT_TRUE(stream->Write(request));
  std::vector<std::string> keys;
  pb::WatchResponse response;
  while (keys.size() < 2 && stream->Read(&response)) {
    for (const mvccpb::Event& event : response.events()) {
      keys.push_back(event.kv().key());
    }
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"/t/revoked/a", "/t/revoked/b"}));
  context.TryCancel();
}

TEST_F(EtcdApiTest, AWatchFromBeforeACompactionIsCancelledWithItsRevision) {
  const int64_t first = Put("/t/revoked/a", "1");
  const int64_t second = Put("/t/revoked/b", "2");
  {
    grpc::ClientContext context;
    Bound(&context);
    pb::CompactionRequest request;
    request.set_revision(second);
    request.set_physical(true);
    pb::CompactionResponse response;
    ASSERT_TRUE(kv_->Compact(&context, request, &response).ok());
  }
  grpc::ClientContext context;
  Bound(&context);
  auto stream = watch_->Watch(&context);
  pb::WatchRequest request;
  request.mutable_create_request()->set_key("/t/revoked/");
  request.mutable_create_request()->set_range_end("/t/revoked0");
  request.mutable_create_request()->set_start_revision(first);
  ASSERT_TRUE(stream->Write(request));
  pb::WatchResponse response;
  bool cancelled = false;
  while (!cancelled && stream->Read(&response)) {
    cancelled = response.canceled();
  }
  // The signal to re-read the whole state: events before `second` are gone.
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(response.compact_revision(), second);
  context.TryCancel();
}

}  // namespace
}  // namespace tokenservice
