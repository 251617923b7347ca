// EtcdRevocations against Debian's real etcd: several "replicas" (one
// EtcdRevocations each, as each server process has one) in this process,
// each with its own channel, the way separate pods would be.

#include "server/fleet/etcd_revocations.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/log_capture.h"

namespace tokenservice {
namespace {

namespace pb = ::etcdserverpb;

constexpr char kFingerprint[] = "0123456789abcdef";
// Long enough for etcd to come back after a kill; every wait below ends as
// soon as what it waits for happens.
constexpr absl::Duration kPatience = absl::Seconds(20);

// One replica: its EtcdRevocations and what it has applied.
class Replica {
 public:
  // `on_apply`, if set, runs on the watch thread before each fingerprint
  // is recorded as applied.
  Replica(const std::string& endpoint, const std::string& id,
          absl::Duration confirm_timeout = absl::Seconds(5),
          std::function<void(const std::string&)> on_apply = nullptr)
      : on_apply_(std::move(on_apply)) {
    EtcdRevocationsOptions options;
    options.prefix = "/test/";
    options.replica_id = id;
    options.confirm_timeout = confirm_timeout;
    options.max_reconnect_delay = absl::Milliseconds(200);
    revocations_ = std::make_unique<EtcdRevocations>(EtcdTestChannel(endpoint),
                                                     options, &clock_);
    revocations_->Start([this](absl::string_view fingerprint, absl::Time) {
      if (on_apply_) on_apply_(std::string(fingerprint));
      MutexLock lock(&mu_);
      applied_.insert(std::string(fingerprint));
    });
  }

  EtcdRevocations& revocations() { return *revocations_; }

  bool Applied(const std::string& fingerprint) const {
    MutexLock lock(&mu_);
    return applied_.count(fingerprint) > 0;
  }

  // Waits until this replica has applied `fingerprint`; true if it did
  // within `patience`.
  bool AwaitApplied(const std::string& fingerprint,
                    absl::Duration patience = kPatience) const {
    MutexLock lock(&mu_);
    auto applied = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return applied_.count(fingerprint) > 0;
    };
    return mu_.AwaitWithDeadline(absl::Condition(&applied),
                                 absl::Now() + patience);
  }

 private:
  SystemClock clock_;
  const std::function<void(const std::string&)> on_apply_;
  mutable Mutex mu_;
  std::set<std::string> applied_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<EtcdRevocations> revocations_;
};

// Share's answer, and what the other replicas had applied at that moment.
struct Answer {
  RevocationReach reach;
  std::vector<bool> others_applied;
};

class EtcdRevocationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = EtcdServer::Start(absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/etcd-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = *std::move(etcd);
  }

  std::unique_ptr<Replica> Start(
      const std::string& id,
      absl::Duration confirm_timeout = absl::Seconds(5)) {
    return std::make_unique<Replica>(etcd_->endpoint(), id, confirm_timeout);
  }

  static bool AllSee(const std::vector<Replica*>& replicas, int live) {
    for (Replica* r : replicas) {
      if (!r->revocations().AwaitReplicas(live, absl::Now() + kPatience)) {
        return false;
      }
    }
    return true;
  }

  // Shares on `from` and waits for the answer, noting at that moment
  // whether each of `others` had applied the revocation.
  Answer ShareOn(Replica& from, const std::vector<Replica*>& others,
                 const std::string& fingerprint = kFingerprint) {
    Mutex mu;
    bool done = false;
    Answer answer;
    from.revocations().Share(fingerprint, absl::Now() + absl::Hours(1),
                             [&](RevocationReach reach) {
                               std::vector<bool> applied;
                               for (Replica* r : others)
                                 applied.push_back(r->Applied(fingerprint));
                               MutexLock lock(&mu);
                               answer = {reach, applied};
                               done = true;
                             });
    MutexLock lock(&mu);
    EXPECT_TRUE(
        mu.AwaitWithDeadline(absl::Condition(&done), absl::Now() + kPatience));
    return answer;
  }

  std::unique_ptr<EtcdServer> etcd_;
};

// Guarantee 3: once Share answers, every live replica has applied it.
TEST_F(EtcdRevocationsTest, EveryLiveReplicaHasAppliedItWhenShareAnswers) {
  auto a = Start("a"), b = Start("b"), c = Start("c");
  ASSERT_TRUE(AllSee({a.get(), b.get(), c.get()}, 3));
  const Answer answer = ShareOn(*a, {b.get(), c.get()});
  EXPECT_TRUE(answer.reach.published);
  EXPECT_EQ(answer.reach.confirmed, 3);
  EXPECT_EQ(answer.reach.live, 3);
  EXPECT_EQ(answer.others_applied, (std::vector<bool>{true, true}));
  EXPECT_TRUE(a->Applied(kFingerprint));
}

TEST_F(EtcdRevocationsTest, AReplicaThatStartsLaterListsEarlierRevocations) {
  auto a = Start("a");
  ASSERT_TRUE(AllSee({a.get()}, 1));
  ASSERT_TRUE(ShareOn(*a, {}).reach.published);
  auto b = Start("b");
  // Connected means listed: applied before it first reports connected.
  ASSERT_TRUE(AllSee({a.get(), b.get()}, 2));
  EXPECT_TRUE(b->Applied(kFingerprint));
}

// A replica that stops leaves at once (its lease is revoked), so Share
// does not wait for it.
TEST_F(EtcdRevocationsTest, AStoppedReplicaIsNotWaitedFor) {
  auto a = Start("a"), b = Start("b"), c = Start("c");
  ASSERT_TRUE(AllSee({a.get(), b.get(), c.get()}, 3));
  c.reset();
  ASSERT_TRUE(AllSee({a.get(), b.get()}, 2));
  const Answer answer = ShareOn(*a, {b.get()});
  EXPECT_EQ(answer.reach.confirmed, 2);
  EXPECT_EQ(answer.reach.live, 2);
  EXPECT_EQ(answer.others_applied, (std::vector<bool>{true}));
}

// A replica that is registered but applies nothing (hung): Share answers
// after confirm_timeout and says who confirmed.
TEST_F(EtcdRevocationsTest, AHungReplicaIsReportedNotWaitedForForever) {
  auto a = Start("a", /*confirm_timeout=*/absl::Milliseconds(300));
  auto b = Start("b");
  auto channel = EtcdTestChannel(etcd_->endpoint());
  auto lease = pb::Lease::NewStub(channel);
  auto kv = pb::KV::NewStub(channel);
  pb::LeaseGrantResponse grant;
  {
    grpc::ClientContext context;
    pb::LeaseGrantRequest request;
    request.set_ttl(60);
    ASSERT_TRUE(lease->LeaseGrant(&context, request, &grant).ok());
  }
  {
    grpc::ClientContext context;
    pb::PutRequest request;
    request.set_key("/test/replicas/hung");
    request.set_value("1");
    request.set_lease(grant.id());
    pb::PutResponse response;
    ASSERT_TRUE(kv->Put(&context, request, &response).ok());
  }
  ASSERT_TRUE(AllSee({a.get(), b.get()}, 3));
  const absl::Time start = absl::Now();
  const Answer answer = ShareOn(*a, {b.get()});
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_TRUE(answer.reach.published);
  EXPECT_EQ(answer.reach.confirmed, 2);
  EXPECT_EQ(answer.reach.live, 3);
  EXPECT_EQ(answer.others_applied, (std::vector<bool>{true}));
}

// Guarantee 5, the revocation part: with etcd down Share answers at
// once (not published, confirmed here only) and remembers it; once etcd is
// back it reaches the other replica, within 10 s.
TEST_F(EtcdRevocationsTest, ARevocationDuringAnOutageReachesEveryoneAfterIt) {
  LogCapture log;
  auto a = Start("a"), b = Start("b");
  ASSERT_TRUE(AllSee({a.get(), b.get()}, 2));
  etcd_->Kill();
  const Answer answer = ShareOn(*a, {b.get()});
  EXPECT_FALSE(answer.reach.published);
  EXPECT_EQ(answer.reach.confirmed, 1);
  EXPECT_EQ(answer.others_applied, (std::vector<bool>{false}));
  EXPECT_EQ(a->revocations().unpublished(), 1u);

  ASSERT_TRUE(etcd_->Restart().ok());
  EXPECT_TRUE(b->AwaitApplied(kFingerprint, absl::Seconds(10)));
  ASSERT_TRUE(AllSee({a.get(), b.get()}, 2));
  EXPECT_EQ(a->revocations().unpublished(), 0u);
  a.reset();
  b.reset();
  log.Stop();
  // One warning per replica for the outage however often it retried, and
  // a line when it was back.
  int lost = 0, connected = 0;
  for (const std::string& line : log.Lines()) {
    if (line.find("\"replica\":\"a\"") == std::string::npos) continue;
    if (line.find("\"event\":\"fleet_etcd_lost\"") != std::string::npos) ++lost;
    if (line.find("\"event\":\"fleet_etcd_connected\"") != std::string::npos) {
      ++connected;
    }
  }
  EXPECT_EQ(lost, 1);
  EXPECT_EQ(connected, 2);
}

// A replica whose lease ended (etcd lost it for longer than lease_ttl;
// here the lease is revoked behind its back) registers again, and counts
// in confirmations again.
TEST_F(EtcdRevocationsTest, AReplicaWhoseLeaseEndedRegistersAgain) {
  auto a = Start("a"), b = Start("b");
  ASSERT_TRUE(AllSee({a.get(), b.get()}, 2));
  auto channel = EtcdTestChannel(etcd_->endpoint());
  auto kv = pb::KV::NewStub(channel);
  auto lease = pb::Lease::NewStub(channel);
  pb::RangeResponse range;
  {
    grpc::ClientContext context;
    pb::RangeRequest request;
    request.set_key("/test/replicas/a");
    ASSERT_TRUE(kv->Range(&context, request, &range).ok());
  }
  ASSERT_EQ(range.kvs_size(), 1);
  {
    grpc::ClientContext context;
    pb::LeaseRevokeRequest request;
    request.set_id(range.kvs(0).lease());
    pb::LeaseRevokeResponse response;
    ASSERT_TRUE(lease->LeaseRevoke(&context, request, &response).ok());
  }
  ASSERT_TRUE(AllSee({b.get()}, 1));           // a is gone...
  ASSERT_TRUE(AllSee({a.get(), b.get()}, 2));  // ...and back
  const Answer answer = ShareOn(*b, {a.get()});
  EXPECT_EQ(answer.reach.confirmed, 2);
  EXPECT_EQ(answer.others_applied, (std::vector<bool>{true}));
}

// A replica that has stopped (its server shutting down) answers a late
// Share at once instead of never.
TEST_F(EtcdRevocationsTest, AShareAfterStopIsAnsweredAtOnce) {
  auto a = Start("a");
  ASSERT_TRUE(AllSee({a.get()}, 1));
  a->revocations().Stop();
  const Answer answer = ShareOn(*a, {});
  EXPECT_FALSE(answer.reach.published);
  EXPECT_EQ(answer.reach.confirmed, 1);
  EXPECT_FALSE(a->revocations().connected());
}

// Guarantee 6, compaction: a watch asked for changes etcd has compacted
// away lists again and misses nothing. The replica's first list applies
// "seed"; while it does (before its watch starts), a revocation "late" is
// written and etcd compacted past it, so the watch starts at a revision
// etcd no longer has.
TEST_F(EtcdRevocationsTest, AWatchBehindACompactionListsAgain) {
  auto channel = EtcdTestChannel(etcd_->endpoint());
  auto kv = pb::KV::NewStub(channel);
  const std::string expires =
      absl::StrCat(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  auto put = [&](const std::string& key) {
    grpc::ClientContext context;
    pb::PutRequest request;
    request.set_key(key);
    request.set_value(expires);
    pb::PutResponse response;
    EXPECT_TRUE(kv->Put(&context, request, &response).ok());
    return response.header().revision();
  };
  put("/test/revoked/seed");
  LogCapture log;
  bool compacted = false;  // the watch thread's only
  int64_t compact_revision = 0;
  auto b = std::make_unique<Replica>(
      etcd_->endpoint(), "b", absl::Seconds(5),
      [&](const std::string& fingerprint) {
        if (fingerprint != "seed" || compacted) return;
        compacted = true;
        put("/test/revoked/late");
        // Compacting at the revision after "late" keeps only that one.
        compact_revision = put("/test/filler");
        grpc::ClientContext context;
        pb::CompactionRequest request;
        request.set_revision(compact_revision);
        pb::CompactionResponse response;
        EXPECT_TRUE(kv->Compact(&context, request, &response).ok());
      });
  EXPECT_TRUE(b->AwaitApplied("late"));
  EXPECT_TRUE(b->Applied("seed"));
  b.reset();
  log.Stop();
  ASSERT_GT(compact_revision, 0);
  int compacted_lines = 0, lost_lines = 0;
  for (const std::string& line : log.Lines()) {
    if (line.find("\"event\":\"fleet_watch_compacted\"") != std::string::npos) {
      ++compacted_lines;
      EXPECT_NE(
          line.find(absl::StrCat("\"compact_revision\":", compact_revision)),
          std::string::npos)
          << line;
    }
    if (line.find("\"event\":\"fleet_etcd_lost\"") != std::string::npos) {
      ++lost_lines;
    }
  }
  EXPECT_EQ(compacted_lines, 1);
  EXPECT_EQ(lost_lines, 0);  // not an outage
}

// A replica that starts while etcd is down starts (connected() false) and
// catches up once etcd is there.
TEST_F(EtcdRevocationsTest, AReplicaStartedWhileEtcdIsDownCatchesUp) {
  auto a = Start("a");
  ASSERT_TRUE(AllSee({a.get()}, 1));
  ASSERT_TRUE(ShareOn(*a, {}).reach.published);
  etcd_->Kill();
  auto b = Start("b");
  EXPECT_FALSE(b->revocations().connected());
  ASSERT_TRUE(etcd_->Restart().ok());
  EXPECT_TRUE(b->AwaitApplied(kFingerprint));
  EXPECT_TRUE(AllSee({a.get(), b.get()}, 2));
}

}  // namespace
}  // namespace tokenservice
