// EtcdTokens against Debian's real etcd: "replicas" (an EtcdRevocations
// session and an EtcdTokens each, with channels of their own) in this
// process, and a myPOS that the test answers by hand, so that each test
// decides when a fetch ends.

#include "server/fleet/etcd_tokens.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/clock.h"
#include "base/fingerprint.h"
#include "base/mutex.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/fleet/fleet_keyring.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/fleet/key_dir.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/log_capture.h"
#include "tests/testing/tcp_front.h"

namespace tokenservice {
namespace {

namespace pb = ::etcdserverpb;

constexpr char kPrefix[] = "/t/";
constexpr char kClientId[] = "client-id-canary-5d1e";
constexpr char kSecret[] = "secret-canary-77aa";
constexpr char kCacheKey[] = "default\x1fpayments";
constexpr absl::Duration kPatience = absl::Seconds(20);

CredentialProfile Profile() {
  CredentialProfile profile;
  profile.name = "default";
  profile.credentials = {kClientId, kSecret};
  profile.default_scopes = {"payments"};
  return profile;
}

ExchangedToken Token(const std::string& value, absl::Time now) {
  ExchangedToken exchanged;
  CachedToken& token = exchanged.token;
  token.credential = "default";
  token.client_id = kClientId;
  token.access_token = value;
  token.token_type = "Bearer";
  token.fingerprint = Fingerprint(value);
  token.scopes = {"payments"};
  token.issue_time = now;
  token.expire_time = now + absl::Hours(1);
  token.upstream_latency = absl::Milliseconds(3);
  return exchanged;
}

// myPOS, answered by the test: each fetch waits until Complete.
class ManualUpstream {
 public:
  SharedTokens::UpstreamFetch Fetch() {
    return [this](SharedTokens::TokenDone done) {
      MutexLock lock(&mu_);
      pending_.push_back(std::move(done));
      ++calls_;
    };
  }
  int calls() const {
    MutexLock lock(&mu_);
    return calls_;
  }
  bool AwaitCalls(int n) const {
    MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return calls_ >= n;
    };
    return mu_.AwaitWithDeadline(absl::Condition(&reached),
                                 absl::Now() + kPatience);
  }
  // Answers the oldest fetch still waiting.
  void Complete(absl::StatusOr<ExchangedToken> result) {
    SharedTokens::TokenDone done;
    {
      MutexLock lock(&mu_);
      ASSERT_FALSE(pending_.empty());
      done = std::move(pending_.front());
      pending_.pop_front();
    }
    std::move(done)(std::move(result));
  }

 private:
  mutable Mutex mu_;
  std::deque<SharedTokens::TokenDone> pending_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// What one Fetch answered.
class Outcome {
 public:
  SharedTokens::TokenDone Done() {
    return [this](absl::StatusOr<ExchangedToken> result) {
      MutexLock lock(&mu_);
      result_ = std::move(result);
    };
  }
  // The access token answered, or the error's message.
  std::string Await() const {
    MutexLock lock(&mu_);
    auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return result_.has_value();
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&answered),
                               absl::Now() + kPatience)) {
      return "(no answer)";
    }
    if (!result_->ok()) return std::string(result_->status().message());
    return (*result_)->token.access_token;
  }
  bool answered() const {
    MutexLock lock(&mu_);
    return result_.has_value();
  }

 private:
  mutable Mutex mu_;
  std::optional<absl::StatusOr<ExchangedToken>> result_ ABSL_GUARDED_BY(mu_);
};

// One replica: its session and its tokens.
class Replica {
 public:
  // The tokens' calls go over `tokens_channel` when given (through a
  // proxy the test can cut, or an interceptor), the session's always to
  // `endpoint`.
  Replica(const std::string& endpoint, const std::string& id,
          const std::string& keys_dir, FakeClock* clock, FakeTimers* timers,
          std::shared_ptr<grpc::Channel> tokens_channel = nullptr)
      : tokens_channel_(tokens_channel != nullptr ? std::move(tokens_channel)
                                                  : EtcdTestChannel(endpoint)) {
    EtcdRevocationsOptions session_options;
    session_options.prefix = kPrefix;
    session_options.replica_id = id;
    session_options.max_reconnect_delay = absl::Milliseconds(200);
    session_ = std::make_unique<EtcdRevocations>(EtcdTestChannel(endpoint),
                                                 session_options, &real_clock_);
    EtcdTokensOptions options;
    options.prefix = kPrefix;
    options.replica_id = id;
    options.keys_dir = keys_dir;
    absl::StatusOr<FleetKeyring> keyring = FleetKeyring::Load(keys_dir);
    EXPECT_TRUE(keyring.ok()) << keyring.status();
    tokens_ = std::make_unique<EtcdTokens>(tokens_channel_, options,
                                           *std::move(keyring), session_.get(),
                                           timers, clock);
    session_->Start(
        [](absl::string_view, absl::Time) {},
        [this](const mvccpb::Event* event) { tokens_->OnEvent(event); });
  }
  ~Replica() { Stop(); }

  // As a replica that shuts down: its fetches end, then its session (and
  // with it its locks).
  void Stop() {
    tokens_->Stop();
    session_->Stop();
  }

  EtcdRevocations& session() { return *session_; }
  EtcdTokens& tokens() { return *tokens_; }
  grpc::Channel& tokens_channel() { return *tokens_channel_; }

  // Fetches the profile's token, taking any stored token.
  void Fetch(
      ManualUpstream* upstream, Outcome* outcome,
      SharedTokens::Acceptable acceptable = [](const CachedToken&) {
        return true;
      }) {
    tokens_->Fetch(Profile(), kCacheKey, std::move(acceptable),
                   upstream->Fetch(), outcome->Done());
  }

 private:
  SystemClock real_clock_;
  const std::shared_ptr<grpc::Channel> tokens_channel_;
  std::unique_ptr<EtcdRevocations> session_;
  std::unique_ptr<EtcdTokens> tokens_;
};

class EtcdTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = EtcdServer::Start(absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/etcd-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = *std::move(etcd);
    keys_.AddKey("k1");
    keys_.Activate("k1");
  }

  // Starts `n` replicas and waits until each sees all of them.
  void StartReplicas(int n) {
    for (int i = 0; i < n; ++i) {
      replicas_.push_back(
          std::make_unique<Replica>(etcd_->endpoint(), absl::StrCat("r", i),
                                    keys_.path(), &clock_, &timers_));
    }
    for (auto& replica : replicas_) {
      ASSERT_TRUE(replica->session().AwaitReplicas(n, absl::Now() + kPatience));
    }
  }

  // Replica B (replicas_[0]) and replica A (replicas_[1], its tokens'
  // calls over `a_tokens`): A fetches and holds the lock, and B's fetch
  // waits for it, each with its own myPOS and outcome in contest_.
  void HoldAndWait(std::shared_ptr<grpc::Channel> a_tokens) {
    StartReplicas(1);  // B
    replicas_.push_back(std::make_unique<Replica>(
        etcd_->endpoint(), "a", keys_.path(), &clock_, &timers_, a_tokens));
    Replica& a = *replicas_[1];
    Replica& b = *replicas_[0];
    ASSERT_TRUE(a.session().AwaitReplicas(2, absl::Now() + kPatience));
    ASSERT_TRUE(b.session().AwaitReplicas(2, absl::Now() + kPatience));
    a.Fetch(&contest_.upstream_a, &contest_.on_a);
    ASSERT_TRUE(contest_.upstream_a.AwaitCalls(1));  // A holds the lock
    b.Fetch(&contest_.upstream_b, &contest_.on_b);
    ASSERT_TRUE(b.tokens().AwaitWaiting(1, absl::Now() + kPatience));
  }

  // Every key and value under the prefix, as etcd holds them.
  std::vector<std::pair<std::string, std::string>> Dump() {
    auto kv = pb::KV::NewStub(EtcdTestChannel(etcd_->endpoint()));
    grpc::ClientContext context;
    pb::RangeRequest request;
    request.set_key(kPrefix);
    request.set_range_end("/t0");  // '/' + 1
    pb::RangeResponse response;
    EXPECT_TRUE(kv->Range(&context, request, &response).ok());
    std::vector<std::pair<std::string, std::string>> all;
    for (const auto& item : response.kvs()) {
      all.emplace_back(item.key(), item.value());
    }
    return all;
  }

  void DeleteKey(const std::string& key) {
    auto kv = pb::KV::NewStub(EtcdTestChannel(etcd_->endpoint()));
    grpc::ClientContext context;
    pb::DeleteRangeRequest request;
    request.set_key(key);
    pb::DeleteRangeResponse response;
    ASSERT_TRUE(kv->DeleteRange(&context, request, &response).ok());
    ASSERT_EQ(response.deleted(), 1);
  }

  // The leases etcd holds: each live session's, and one per stored token.
  int LeaseCount() {
    auto lease = pb::Lease::NewStub(EtcdTestChannel(etcd_->endpoint()));
    grpc::ClientContext context;
    pb::LeaseLeasesResponse response;
    EXPECT_TRUE(lease->LeaseLeases(&context, {}, &response).ok());
    return response.leases_size();
  }

  // Revokes every lease no key is attached to; returns how many.
  int RevokeLeasesWithoutKeys() {
    auto lease = pb::Lease::NewStub(EtcdTestChannel(etcd_->endpoint()));
    grpc::ClientContext list_context;
    pb::LeaseLeasesResponse leases;
    EXPECT_TRUE(lease->LeaseLeases(&list_context, {}, &leases).ok());
    int revoked = 0;
    for (const pb::LeaseStatus& status : leases.leases()) {
      grpc::ClientContext context;
      pb::LeaseTimeToLiveRequest request;
      request.set_id(status.id());
      request.set_keys(true);
      pb::LeaseTimeToLiveResponse live;
      EXPECT_TRUE(lease->LeaseTimeToLive(&context, request, &live).ok());
      if (live.keys_size() > 0) continue;
      grpc::ClientContext revoke_context;
      pb::LeaseRevokeRequest revoke;
      revoke.set_id(status.id());
      pb::LeaseRevokeResponse revoke_response;
      EXPECT_TRUE(
          lease->LeaseRevoke(&revoke_context, revoke, &revoke_response).ok());
      ++revoked;
    }
    return revoked;
  }

  std::string LockKey() const {
    return absl::StrCat(kPrefix, "locks/",
                        EtcdTokens::KeyName(kClientId, kCacheKey));
  }

  FakeClock clock_;
  FakeTimers timers_{&clock_};
  std::unique_ptr<EtcdServer> etcd_;
  KeyDir keys_;
  // HoldAndWait's; before replicas_, which end first.
  struct Contest {
    ManualUpstream upstream_a, upstream_b;
    Outcome on_a, on_b;
  } contest_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

// Guarantee 1: the replica that takes the lock asks myPOS; the one that
// waited takes its token and never asks.
TEST_F(EtcdTokensTest, OneReplicaFetchesAndTheOtherTakesItsToken) {
  StartReplicas(2);
  ManualUpstream upstream_a, upstream_b;
  Outcome on_a, on_b;
  replicas_[0]->Fetch(&upstream_a, &on_a);
  ASSERT_TRUE(upstream_a.AwaitCalls(1));  // A holds the lock
  replicas_[1]->Fetch(&upstream_b, &on_b);
  ASSERT_TRUE(replicas_[1]->tokens().AwaitWaiting(1, absl::Now() + kPatience));
  EXPECT_FALSE(on_b.answered());

  upstream_a.Complete(Token("token-one", clock_.Now()));
  EXPECT_EQ(on_a.Await(), "token-one");
  EXPECT_EQ(on_b.Await(), "token-one");
  EXPECT_EQ(upstream_b.calls(), 0);

  // A later fetch anywhere takes the stored token at once.
  ManualUpstream upstream_c;
  Outcome on_c;
  replicas_[0]->Fetch(&upstream_c, &on_c);
  EXPECT_EQ(on_c.Await(), "token-one");
  EXPECT_EQ(upstream_c.calls(), 0);
}

// Guarantee 2: etcd holds no token, secret or client id, in values or
// key names.
TEST_F(EtcdTokensTest, EtcdHoldsNothingUsable) {
  StartReplicas(2);
  ManualUpstream upstream;
  Outcome first, second;
  replicas_[0]->Fetch(&upstream, &first);
  ASSERT_TRUE(upstream.AwaitCalls(1));
  upstream.Complete(Token("access-token-canary-9f3b", clock_.Now()));
  ASSERT_EQ(first.Await(), "access-token-canary-9f3b");
  // B reads it back: the commit has landed.
  replicas_[1]->Fetch(&upstream, &second);
  ASSERT_EQ(second.Await(), "access-token-canary-9f3b");

  bool saw_token = false;
  for (const auto& [key, value] : Dump()) {
    for (const char* canary :
         {"access-token-canary-9f3b", kSecret, kClientId, "default"}) {
      EXPECT_FALSE(absl::StrContains(key, canary)) << key;
      EXPECT_FALSE(absl::StrContains(value, canary)) << key;
    }
    if (absl::StartsWith(key, absl::StrCat(kPrefix, "tokens/"))) {
      saw_token = true;
    }
  }
  EXPECT_TRUE(saw_token);
}

// A token the broker does not take (revoked, the one it replaces) is
// fetched anew by one replica, and replaces the stored one.
TEST_F(EtcdTokensTest, AnUnacceptableStoredTokenIsReplaced) {
  StartReplicas(1);
  ManualUpstream upstream;
  Outcome first, second, third;
  replicas_[0]->Fetch(&upstream, &first);
  ASSERT_TRUE(upstream.AwaitCalls(1));
  upstream.Complete(Token("old", clock_.Now()));
  ASSERT_EQ(first.Await(), "old");

  replicas_[0]->Fetch(&upstream, &second, [](const CachedToken& token) {
    return token.access_token != "old";
  });
  ASSERT_TRUE(upstream.AwaitCalls(2));
  upstream.Complete(Token("new", clock_.Now()));
  ASSERT_EQ(second.Await(), "new");
  replicas_[0]->tokens().Stop();  // returns once the commit is written

  Replica reader(etcd_->endpoint(), "reader", keys_.path(), &clock_, &timers_);
  ASSERT_TRUE(reader.session().AwaitReplicas(2, absl::Now() + kPatience));
  reader.Fetch(&upstream, &third);
  EXPECT_EQ(third.Await(), "new");
  EXPECT_EQ(upstream.calls(), 2);
}

// Guarantee 1's fencing: a holder whose lock was taken over mid-fetch
// cannot write its token, neither while the new holder fetches nor after.
TEST_F(EtcdTokensTest, AHolderThatLostItsLockCannotOverwriteTheNewerToken) {
  StartReplicas(2);
  ManualUpstream upstream_a, upstream_b;
  Outcome on_a, on_b;
  replicas_[0]->Fetch(&upstream_a, &on_a);
  ASSERT_TRUE(upstream_a.AwaitCalls(1));
  // A's lock ends (as when its session lease runs out) and B takes it.
  DeleteKey(LockKey());
  replicas_[1]->Fetch(&upstream_b, &on_b);
  ASSERT_TRUE(upstream_b.AwaitCalls(1));

  // A finishes while B holds the lock: a lock exists, but not A's.
  LogCapture log;
  upstream_a.Complete(Token("stale", clock_.Now()));
  EXPECT_EQ(on_a.Await(), "stale");  // A's own callers still get it
  replicas_[0]->tokens().Stop();     // A's commit attempt is over
  log.Stop();
  EXPECT_EQ(log.Count("\"event\":\"fleet_lock_lost\""), 1)
      << "A's lost lock was not reported";
  for (const auto& [key, value] : Dump()) {
    EXPECT_FALSE(absl::StartsWith(key, absl::StrCat(kPrefix, "tokens/")))
        << "A wrote its token under B's lock";
  }
  // The lease A took for its token holds nothing: revoked, not left to
  // its TTL (the token's lifetime). The two sessions' remain.
  EXPECT_EQ(LeaseCount(), 2);

  upstream_b.Complete(Token("newer", clock_.Now()));
  ASSERT_EQ(on_b.Await(), "newer");
  Replica reader(etcd_->endpoint(), "reader", keys_.path(), &clock_, &timers_);
  ASSERT_TRUE(reader.session().AwaitReplicas(3, absl::Now() + kPatience));
  ManualUpstream upstream_c;
  Outcome on_c;
  reader.Fetch(&upstream_c, &on_c);
  EXPECT_EQ(on_c.Await(), "newer");
  EXPECT_EQ(upstream_c.calls(), 0);
}

// A holder that never finishes (hung, yet its session alive) holds the
// others up for lock_wait at most; then they ask myPOS themselves.
TEST_F(EtcdTokensTest, AWaiterAsksMyposItselfAfterTheLockWait) {
  StartReplicas(2);
  ManualUpstream upstream_a, upstream_b;
  Outcome on_a, on_b;
  replicas_[0]->Fetch(&upstream_a, &on_a);
  ASSERT_TRUE(upstream_a.AwaitCalls(1));
  replicas_[1]->Fetch(&upstream_b, &on_b);
  ASSERT_TRUE(replicas_[1]->tokens().AwaitWaiting(1, absl::Now() + kPatience));
  timers_.Advance(EtcdTokensOptions().lock_wait);
  ASSERT_TRUE(upstream_b.AwaitCalls(1));
  upstream_b.Complete(Token("asked-here", clock_.Now()));
  EXPECT_EQ(on_b.Await(), "asked-here");
  upstream_a.Complete(absl::UnavailableError("gave up"));
  EXPECT_EQ(on_a.Await(), "gave up");
}

// Guarantee 6: a replica that stops mid-fetch releases its lock with its
// session; of the two replicas waiting, one fetches and the other takes
// its token (no storm).
TEST_F(EtcdTokensTest, AHolderStoppedMidFetchIsTakenOverByOneReplica) {
  StartReplicas(3);
  ManualUpstream upstream_a, upstream_bc;
  Outcome on_a, on_b, on_c;
  replicas_[0]->Fetch(&upstream_a, &on_a);
  ASSERT_TRUE(upstream_a.AwaitCalls(1));
  replicas_[1]->Fetch(&upstream_bc, &on_b);
  replicas_[2]->Fetch(&upstream_bc, &on_c);
  ASSERT_TRUE(replicas_[1]->tokens().AwaitWaiting(1, absl::Now() + kPatience));
  ASSERT_TRUE(replicas_[2]->tokens().AwaitWaiting(1, absl::Now() + kPatience));

  replicas_[0]->Stop();  // A restarts: its lease, and its lock, end
  upstream_a.Complete(absl::UnavailableError("shutting down"));

  // One of B and C takes the lock and asks myPOS; the other waits for it.
  ASSERT_TRUE(upstream_bc.AwaitCalls(1));
  upstream_bc.Complete(Token("after-restart", clock_.Now()));
  EXPECT_EQ(on_b.Await(), "after-restart");
  EXPECT_EQ(on_c.Await(), "after-restart");
  EXPECT_EQ(upstream_bc.calls(), 1);
}

// Guarantee 6, a crash: a holder that died mid-fetch never releases its
// lock; the lock ends when etcd ends its lease, once its TTL has run out
// with no keep-alive. The crashed replica is played by the test: a lock on
// a lease of its own, which it ends once both replicas wait (etcd deletes
// the lock then exactly as at expiry; ending it by hand keeps the test
// free of timing). Of the two replicas waiting, one fetches and the other
// takes its token.
TEST_F(EtcdTokensTest, ACrashedHoldersLockEndsWithItsLeaseAndOneTakesOver) {
  StartReplicas(2);
  auto channel = EtcdTestChannel(etcd_->endpoint());
  pb::LeaseGrantResponse grant;
  {
    grpc::ClientContext context;
    pb::LeaseGrantRequest request;
    request.set_ttl(60);
    ASSERT_TRUE(pb::Lease::NewStub(channel)
                    ->LeaseGrant(&context, request, &grant)
                    .ok());
  }
  {
    grpc::ClientContext context;
    pb::PutRequest request;
    request.set_key(LockKey());
    request.set_value("crashed");
    request.set_lease(grant.id());
    pb::PutResponse response;
    ASSERT_TRUE(
        pb::KV::NewStub(channel)->Put(&context, request, &response).ok());
  }
  ManualUpstream upstream;
  Outcome on_b, on_c;
  replicas_[0]->Fetch(&upstream, &on_b);
  replicas_[1]->Fetch(&upstream, &on_c);
  ASSERT_TRUE(replicas_[0]->tokens().AwaitWaiting(1, absl::Now() + kPatience));
  ASSERT_TRUE(replicas_[1]->tokens().AwaitWaiting(1, absl::Now() + kPatience));
  EXPECT_EQ(upstream.calls(), 0);  // nobody asks while the lock is held

  {
    grpc::ClientContext context;
    pb::LeaseRevokeRequest request;
    request.set_id(grant.id());
    pb::LeaseRevokeResponse response;
    ASSERT_TRUE(pb::Lease::NewStub(channel)
                    ->LeaseRevoke(&context, request, &response)
                    .ok());
  }
  ASSERT_TRUE(upstream.AwaitCalls(1));
  upstream.Complete(Token("after-crash", clock_.Now()));
  EXPECT_EQ(on_b.Await(), "after-crash");
  EXPECT_EQ(on_c.Await(), "after-crash");
  EXPECT_EQ(upstream.calls(), 1);
}

// A replica that stops while its callers wait for another's fetch does
// not leave them waiting: it asks myPOS for them itself.
TEST_F(EtcdTokensTest, StopSendsTheFetchesWaitingHereToMypos) {
  StartReplicas(2);
  ManualUpstream upstream_a, upstream_b;
  Outcome on_a, on_b;
  replicas_[0]->Fetch(&upstream_a, &on_a);
  ASSERT_TRUE(upstream_a.AwaitCalls(1));
  replicas_[1]->Fetch(&upstream_b, &on_b);
  ASSERT_TRUE(replicas_[1]->tokens().AwaitWaiting(1, absl::Now() + kPatience));
  replicas_[1]->tokens().Stop();
  ASSERT_TRUE(upstream_b.AwaitCalls(1));
  upstream_b.Complete(Token("asked-at-stop", clock_.Now()));
  EXPECT_EQ(on_b.Await(), "asked-at-stop");
  upstream_a.Complete(Token("a", clock_.Now()));
  EXPECT_EQ(on_a.Await(), "a");
}

// A commit etcd did not answer while the replica's watch stayed up (its
// calls cut off from etcd, its session not) is tried again on a timer:
// else its lock would hold every other replica up for the whole lock_wait.
TEST_F(EtcdTokensTest, ACommitEtcdDidNotAnswerIsRetriedOnATimer) {
  int port = 0;
  const std::string endpoint = etcd_->endpoint();
  ASSERT_TRUE(absl::SimpleAtoi(
      absl::string_view(endpoint).substr(endpoint.rfind(':') + 1), &port));
  auto front = TcpFront::Start();
  ASSERT_TRUE(front.ok()) << front.status();
  (*front)->SetBackends({port});
  ASSERT_NO_FATAL_FAILURE(HoldAndWait(
      EtcdTestChannel(absl::StrCat("127.0.0.1:", (*front)->port()))));
  Replica& a = *replicas_[1];
  auto& [upstream_a, upstream_b, on_a, on_b] = contest_;

  (*front)->SetBackends({});  // cut off from etcd
  (*front)->CutConnections();
  upstream_a.Complete(Token("from-a", clock_.Now()));
  EXPECT_EQ(on_a.Await(), "from-a");  // answered; the commit is remembered
  EXPECT_FALSE(on_b.answered());

  (*front)->SetBackends({port});
  ASSERT_TRUE(a.tokens_channel().WaitForConnected(
      absl::ToChronoTime(absl::Now() + kPatience)));
  timers_.Advance(EtcdTokensOptions().commit_retry);
  EXPECT_EQ(on_b.Await(), "from-a");
  EXPECT_EQ(upstream_b.calls(), 0);
}

// Trouble for the Txn calls of one channel, counted down: the next
// `refuse` are sent as a request etcd refuses and applies nothing of
// (INVALID_ARGUMENT: a put without a key), as a try that failed before
// etcd applied it; the next `lose` OK answers look lost (UNAVAILABLE), as
// when etcd applied a transaction and the connection broke before its
// answer arrived. `answered` counts every Txn answered.
struct TxnTrouble {
  std::atomic<int> refuse{0};
  std::atomic<int> lose{0};
  std::atomic<int> answered{0};
};

class TroubleTxns final : public grpc::experimental::Interceptor {
 public:
  explicit TroubleTxns(TxnTrouble* trouble) : trouble_(trouble) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_MESSAGE) &&
        trouble_->refuse.fetch_sub(1) > 0) {
      pb::TxnRequest refused;
      refused.add_success()->mutable_request_put();
      const std::string bytes = refused.SerializeAsString();
      grpc::Slice slice(bytes);
      *methods->GetSerializedSendMessage() = grpc::ByteBuffer(&slice, 1);
    }
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_STATUS)) {
      trouble_->answered.fetch_add(1);
      grpc::Status* status = methods->GetRecvStatus();
      if (status->ok() && trouble_->lose.fetch_sub(1) > 0) {
        *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "the answer was lost (test)");
      }
    }
    methods->Proceed();
  }

 private:
  TxnTrouble* const trouble_;
};

class TroubleTxnsFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TroubleTxnsFactory(TxnTrouble* trouble) : trouble_(trouble) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    if (absl::string_view(info->method()) != "/etcdserverpb.KV/Txn") {
      return nullptr;
    }
    return new TroubleTxns(trouble_);
  }

 private:
  TxnTrouble* const trouble_;
};

// A channel to the test's etcd whose Txn calls meet `trouble`.
std::shared_ptr<grpc::Channel> TroubledChannel(const std::string& endpoint,
                                               TxnTrouble* trouble) {
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<TroubleTxnsFactory>(trouble));
  return EtcdTestChannel(endpoint, std::move(interceptors));
}

// A commit etcd applied but whose answer was lost is tried again, and
// finds the lock gone (the first try deleted it): that is our own token in
// place, not a lost lock. No warning, and the retry's lease is revoked.
TEST_F(EtcdTokensTest, ARetriedCommitThatHadLandedIsNotALostLock) {
  TxnTrouble trouble;
  ASSERT_NO_FATAL_FAILURE(
      HoldAndWait(TroubledChannel(etcd_->endpoint(), &trouble)));
  Replica& a = *replicas_[1];
  auto& [upstream_a, upstream_b, on_a, on_b] = contest_;

  LogCapture log;
  std::atomic<int>& txns = trouble.answered;
  const int lock_txns = txns.load();  // A's taking of the lock
  trouble.lose = 1;                   // the commit's answer is lost
  upstream_a.Complete(Token("from-a", clock_.Now()));
  EXPECT_EQ(on_a.Await(), "from-a");
  EXPECT_EQ(on_b.Await(), "from-a");  // the first try did land
  EXPECT_EQ(upstream_b.calls(), 0);
  EXPECT_EQ(txns.load(), lock_txns + 1);
  timers_.Advance(EtcdTokensOptions().commit_retry);  // the retry
  a.tokens().Stop();  // waits for it, and for any lease it revokes
  log.Stop();

  EXPECT_EQ(txns.load(), lock_txns + 2) << "the commit was not tried again";
  for (const std::string& line : log.Lines()) {
    EXPECT_EQ(line.find("fleet_lock_lost"), std::string::npos) << line;
  }
  // Two sessions and the stored token's lease, which the retry took again
  // (and did not revoke: it holds the token).
  EXPECT_EQ(LeaseCount(), 3);
}

// A commit whose Txn failed is tried again with the lease its first try
// was granted: the lease may hold the token if that try was applied, and a
// new one per try would leave each old one for the token's lifetime.
TEST_F(EtcdTokensTest, ACommitTriedAgainKeepsItsLease) {
  TxnTrouble trouble;
  ASSERT_NO_FATAL_FAILURE(
      HoldAndWait(TroubledChannel(etcd_->endpoint(), &trouble)));
  Replica& a = *replicas_[1];
  auto& [upstream_a, upstream_b, on_a, on_b] = contest_;

  trouble.refuse = 1;  // the commit's first try
  upstream_a.Complete(Token("from-a", clock_.Now()));
  EXPECT_EQ(on_a.Await(), "from-a");  // answered; the commit is remembered
  EXPECT_FALSE(on_b.answered());
  EXPECT_EQ(LeaseCount(), 3);  // two sessions and the commit's
  timers_.Advance(EtcdTokensOptions().commit_retry);
  EXPECT_EQ(on_b.Await(), "from-a");
  EXPECT_EQ(upstream_b.calls(), 0);
  a.tokens().Stop();
  EXPECT_EQ(LeaseCount(), 3) << "the retry took a lease of its own";
}

// The lease an earlier try was granted can be gone by the retry (its TTL
// ran out, or an operator revoked it): etcd answers NOT_FOUND, and the
// retry takes a new one.
TEST_F(EtcdTokensTest, ACommitWhoseLeaseIsGoneTakesANewOne) {
  TxnTrouble trouble;
  ASSERT_NO_FATAL_FAILURE(
      HoldAndWait(TroubledChannel(etcd_->endpoint(), &trouble)));
  Replica& a = *replicas_[1];
  auto& [upstream_a, upstream_b, on_a, on_b] = contest_;

  trouble.refuse = 1;
  upstream_a.Complete(Token("from-a", clock_.Now()));
  EXPECT_EQ(on_a.Await(), "from-a");
  EXPECT_EQ(RevokeLeasesWithoutKeys(), 1);  // the commit's, unused
  const int txns = trouble.answered.load();
  timers_.Advance(EtcdTokensOptions().commit_retry);
  EXPECT_EQ(on_b.Await(), "from-a");
  EXPECT_EQ(upstream_b.calls(), 0);
  a.tokens().Stop();
  EXPECT_EQ(trouble.answered.load(), txns + 2) << "NOT_FOUND, then landed";
  EXPECT_EQ(LeaseCount(), 3);
}

// What one Find answered.
class Found {
 public:
  SharedTokens::FindDone Done() {
    return [this](absl::StatusOr<CachedToken> token) {
      MutexLock lock(&mu_);
      token_ = std::move(token);
    };
  }
  absl::StatusOr<CachedToken> Await() const {
    MutexLock lock(&mu_);
    auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return token_.has_value();
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&answered),
                               absl::Now() + kPatience)) {
      return absl::DeadlineExceededError("no answer");
    }
    return *token_;
  }

 private:
  mutable Mutex mu_;
  std::optional<absl::StatusOr<CachedToken>> token_ ABSL_GUARDED_BY(mu_);
};

// Revoke by fingerprint on a replica that never held the token finds it.
TEST_F(EtcdTokensTest, FindsAStoredTokenByFingerprint) {
  StartReplicas(2);
  ManualUpstream upstream;
  Outcome fetched;
  replicas_[0]->Fetch(&upstream, &fetched);
  ASSERT_TRUE(upstream.AwaitCalls(1));
  upstream.Complete(Token("held-by-a", clock_.Now()));
  ASSERT_EQ(fetched.Await(), "held-by-a");
  replicas_[0]->tokens().Stop();  // the commit is written

  Found found, missing;
  replicas_[1]->tokens().Find(Fingerprint("held-by-a"), found.Done());
  absl::StatusOr<CachedToken> token = found.Await();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token, "held-by-a");
  EXPECT_EQ(token->credential, "default");

  replicas_[1]->tokens().Find("0000000000000000", missing.Done());
  EXPECT_TRUE(absl::IsNotFound(missing.Await().status()));
}

// A token replaced in tokens/N by a newer one is still found by its
// fingerprint while it lives: other replicas may still hand it out.
TEST_F(EtcdTokensTest, FindsATokenThatHasBeenReplaced) {
  StartReplicas(1);
  ManualUpstream upstream;
  Outcome first, second;
  replicas_[0]->Fetch(&upstream, &first);
  ASSERT_TRUE(upstream.AwaitCalls(1));
  upstream.Complete(Token("older", clock_.Now()));
  ASSERT_EQ(first.Await(), "older");
  replicas_[0]->Fetch(&upstream, &second, [](const CachedToken& token) {
    return token.access_token != "older";
  });
  ASSERT_TRUE(upstream.AwaitCalls(2));
  upstream.Complete(Token("newer", clock_.Now()));
  ASSERT_EQ(second.Await(), "newer");

  Found found;
  replicas_[0]->tokens().Find(Fingerprint("older"), found.Done());
  absl::StatusOr<CachedToken> token = found.Await();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token, "older");
}

// Guarantee 5: without etcd, a replica asks myPOS itself.
TEST_F(EtcdTokensTest, WithEtcdDownAFetchAsksMyposHere) {
  StartReplicas(1);
  etcd_->Kill();
  // Whether or not the watch has noticed yet, the fetch goes to myPOS.
  ManualUpstream upstream;
  Outcome outcome;
  replicas_[0]->Fetch(&upstream, &outcome);
  ASSERT_TRUE(upstream.AwaitCalls(1));
  upstream.Complete(Token("local", clock_.Now()));
  EXPECT_EQ(outcome.Await(), "local");
}

// A key rotation needs no restart: a value sealed with a key this replica
// has not loaded makes it read the directory at once, and the directory
// is read again when due anyway.
TEST_F(EtcdTokensTest, ReadsTheKeysAgainForARotation) {
  StartReplicas(1);
  Replica& old_replica = *replicas_[0];
  EXPECT_EQ(old_replica.tokens().loaded_keys().ids,
            std::vector<std::string>{"k1"});

  keys_.AddKey("k2");
  keys_.Activate("k2");
  EXPECT_EQ(old_replica.tokens().loaded_keys().ids,
            std::vector<std::string>{"k1"});  // not due yet
  // A replica started now loads k2 and seals with it.
  Replica new_replica(etcd_->endpoint(), "new", keys_.path(), &clock_,
                      &timers_);
  ASSERT_TRUE(new_replica.session().AwaitReplicas(2, absl::Now() + kPatience));
  EXPECT_EQ(new_replica.tokens().loaded_keys().active, "k2");
  ManualUpstream upstream;
  Outcome on_new, on_old;
  new_replica.Fetch(&upstream, &on_new);
  ASSERT_TRUE(upstream.AwaitCalls(1));
  upstream.Complete(Token("sealed-with-k2", clock_.Now()));
  ASSERT_EQ(on_new.Await(), "sealed-with-k2");
  new_replica.tokens().Stop();

  old_replica.Fetch(&upstream, &on_old);
  EXPECT_EQ(on_old.Await(), "sealed-with-k2");
  EXPECT_EQ(upstream.calls(), 1);
  LoadedKeys loaded = old_replica.tokens().loaded_keys();
  EXPECT_EQ(loaded.ids, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(loaded.active, "k2");

  // The old key is deleted: gone from the keyring once it is read again.
  keys_.Remove("k1");
  clock_.Advance(absl::Seconds(11));
  EXPECT_EQ(old_replica.tokens().loaded_keys().ids,
            std::vector<std::string>{"k2"});
}

}  // namespace
}  // namespace tokenservice
