// TokenClient against the generated mock stub: what it sends, what it
// caches, how concurrent callers share one Issue call, the 401 report, and
// that each thread's own copies of tokens never outlive their validity.

#include "client/token_client.h"

#include <grpcpp/test/client_context_test_peer.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "base/fingerprint.h"
#include "base/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/token_service_mock.grpc.pb.h"
#include "tests/base/fake_clock.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::_;
using ::testing::DoAll;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Not;
using ::testing::Pair;
using ::testing::Return;
using ::testing::SetArgPointee;

constexpr char kCanaryCallerKey[] = "canary-caller-key-7f3a";

// A reply to Issue: `token` valid for `lifetime` from `now`.
v1::IssueResponse Reply(const std::string& token, absl::Time now,
                        absl::Duration lifetime = absl::Hours(1)) {
  v1::IssueResponse r;
  r.set_access_token(token);
  r.set_token_type("Bearer");
  r.set_fingerprint(Fingerprint(token));
  r.set_credential("default");
  r.add_scopes("webhooks");
  r.mutable_issue_time()->set_seconds(absl::ToUnixSeconds(now));
  r.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(now + lifetime));
  return r;
}

// A thread that stays up between tasks, so that what GetToken keeps in
// that thread's own storage survives from one Run to the next.
class PinnedThread {
 public:
  PinnedThread() : thread_([this] { Loop(); }) {}
  ~PinnedThread() {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

  // Runs `task` on the thread and returns when it has finished.
  void Run(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    task_ = std::move(task);
    mu_.Await(absl::Condition(this, &PinnedThread::Idle));
  }

 private:
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return task_ == nullptr;
  }
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return task_ != nullptr || stop_;
  }

  void Loop() ABSL_LOCKS_EXCLUDED(mu_) {
    for (;;) {
      std::function<void()> task;
      {
        MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &PinnedThread::HasWork));
        if (task_ == nullptr) return;  // stop_
        task = task_;
      }
      task();
      MutexLock lock(&mu_);
      task_ = nullptr;
    }
  }

  mutable Mutex mu_;
  std::function<void()> task_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the fields above exist
};

class TokenClientTest : public ::testing::Test {
 protected:
  TokenClientTest()
      : stub_(std::make_shared<v1::MockTokenServiceStub>()),
        clock_(std::make_shared<FakeClock>()) {
    options_.caller_key = kCanaryCallerKey;
    options_.call_timeout = absl::Seconds(7);
    options_.expiry_margin = absl::Seconds(30);
    options_.min_validity = absl::Seconds(90);
    options_.watch_revocations = false;  // the mock cannot stream
    client_ = std::make_unique<TokenClient>(stub_, options_, clock_);
  }

  // The next Issue call answers `token` valid for `lifetime`.
  void ExpectIssue(const std::string& token,
                   absl::Duration lifetime = absl::Hours(1)) {
    EXPECT_CALL(*stub_, Issue(_, _, _))
        .WillOnce(DoAll(SetArgPointee<2>(Reply(token, clock_->Now(), lifetime)),
                        Return(grpc::Status::OK)))
        .RetiresOnSaturation();
  }

  // The access token that `client` returns for key_ on a thread of its
  // own, asked twice so that the second answer comes from that thread's
  // own copy; "" on error.
  std::string GetTwiceOn(PinnedThread& thread, TokenClient& client) {
    std::string first, second;
    thread.Run([&] {
      auto a = client.GetToken(key_);
      auto b = client.GetToken(key_);
      if (a.ok()) first = (*a)->access_token;
      if (b.ok()) second = (*b)->access_token;
    });
    EXPECT_EQ(first, second);
    return second;
  }

  std::shared_ptr<v1::MockTokenServiceStub> stub_;
  std::shared_ptr<FakeClock> clock_;
  TokenClient::Options options_;
  std::unique_ptr<TokenClient> client_;
  const TokenKey key_{"default", {"webhooks"}};
};

TEST_F(TokenClientTest, GetTokenOnMissSendsKeyMinValidityDeadlineAndCallerKey) {
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .WillOnce(Invoke([&](grpc::ClientContext* context,
                           const v1::IssueRequest& request,
                           v1::IssueResponse* response) {
        EXPECT_EQ(request.credential(), "prof");
        EXPECT_THAT(request.scopes(), ElementsAre("a", "b"));
        EXPECT_EQ(request.min_validity().seconds(), 90);
        EXPECT_EQ(request.rejected_fingerprint(), "");
        const absl::Time deadline = absl::FromChrono(context->deadline());
        EXPECT_GT(deadline, absl::Now() + absl::Seconds(5));
        EXPECT_LE(deadline, absl::Now() + absl::Seconds(7));
        grpc::testing::ClientContextTestPeer peer(context);
        EXPECT_THAT(peer.GetSendInitialMetadata(),
                    ElementsAre(Pair("x-caller-key", kCanaryCallerKey)));
        *response = Reply("tok-1", clock_->Now());
        return grpc::Status::OK;
      }));
  absl::StatusOr<TokenClient::TokenPtr> token =
      client_->GetToken(TokenKey("prof", {"b", "a", "b"}));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ((*token)->access_token, "tok-1");
  EXPECT_EQ((*token)->fingerprint, Fingerprint("tok-1"));
  EXPECT_EQ((*token)->AuthorizationHeader(), "Bearer tok-1");
  EXPECT_EQ((*token)->expire_time, clock_->Now() + absl::Hours(1));
  EXPECT_EQ((*token)->key, TokenKey("prof", {"a", "b"}));
}

TEST_F(TokenClientTest, GetTokenWithoutCallerKeySendsNoMetadata) {
  options_.caller_key = "";
  TokenClient client(stub_, options_, clock_);
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .WillOnce(Invoke([&](grpc::ClientContext* context, const auto&,
                           v1::IssueResponse* response) {
        grpc::testing::ClientContextTestPeer peer(context);
        EXPECT_TRUE(peer.GetSendInitialMetadata().empty());
        *response = Reply("tok-1", clock_->Now());
        return grpc::Status::OK;
      }));
  EXPECT_TRUE(client.GetToken(key_).ok());
}

TEST_F(TokenClientTest, GetTokenTwiceCallsIssueOnce) {
  ExpectIssue("tok-1");
  auto first = client_->GetToken(key_);
  auto second =
      client_->GetToken(TokenKey("default", {"webhooks", "webhooks"}));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->get(), second->get());  // the same cached object
}

TEST_F(TokenClientTest, GetTokenBeforeExpiryMinusMarginHitsThenRefetches) {
  ExpectIssue("tok-1", absl::Seconds(300));
  ASSERT_TRUE(client_->GetToken(key_).ok());
  clock_->Advance(absl::Seconds(269));  // 31s left: still usable
  auto cached = client_->GetToken(key_);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ((*cached)->access_token, "tok-1");

  clock_->Advance(absl::Seconds(1));  // 30s left: within the margin
  ExpectIssue("tok-2");
  auto refetched = client_->GetToken(key_);
  ASSERT_TRUE(refetched.ok());
  EXPECT_EQ((*refetched)->access_token, "tok-2");
}

TEST_F(TokenClientTest, GetTokenKeepsOneTokenPerKey) {
  ::testing::InSequence in_order;
  ExpectIssue("tok-a");
  ExpectIssue("tok-b");
  auto a = client_->GetToken(TokenKey("default", {"a"}));
  auto b = client_->GetToken(TokenKey("other", {"a"}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->access_token, (*b)->access_token);
  EXPECT_EQ((*client_->GetToken(TokenKey("default", {"a"})))->access_token,
            (*a)->access_token);
}

TEST_F(TokenClientTest, GetTokenErrorKeepsItsCodeAndIsNotCached) {
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::UNAVAILABLE, "myPOS down")))
      .WillOnce(Return(grpc::Status(grpc::NOT_FOUND, "unknown profile")));
  absl::Status first = client_->GetToken(key_).status();
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(first.message(), "myPOS down");
  EXPECT_THAT(first.ToString(), Not(HasSubstr(kCanaryCallerKey)));
  EXPECT_EQ(client_->GetToken(key_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TokenClientTest, GetTokenWithEmptyTokenInReplyIsUnavailable) {
  ExpectIssue("");
  EXPECT_EQ(client_->GetToken(key_).status().code(),
            absl::StatusCode::kUnavailable);
}

// The first thread leads the Issue call; the mock answers only once every
// other thread has joined that call, so none of them can be served from the
// cache afterwards instead.
TEST_F(TokenClientTest, ConcurrentGetTokenOnOneKeySharesOneIssue) {
  absl::Notification entered, release;
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .Times(1)
      .WillOnce(Invoke([&](grpc::ClientContext*, const v1::IssueRequest&,
                           v1::IssueResponse* response) {
        entered.Notify();
        release.WaitForNotification();
        *response = Reply("tok-shared", clock_->Now());
        return grpc::Status::OK;
      }));
  constexpr int kThreads = 8;
  std::vector<std::string> seen(kThreads);
  std::vector<std::thread> threads;
  threads.emplace_back(
      [&] { seen[0] = (*client_->GetToken(key_))->access_token; });
  entered.WaitForNotification();  // the first thread leads the call
  for (int i = 1; i < kThreads; ++i) {
    threads.emplace_back(
        [&, i] { seen[i] = (*client_->GetToken(key_))->access_token; });
  }
  client_->AwaitFlightWaitersForTesting(key_, kThreads - 1);
  release.Notify();
  for (std::thread& t : threads) t.join();
  for (const std::string& s : seen) EXPECT_EQ(s, "tok-shared");
}

TEST_F(TokenClientTest, ReportRejectedDropsTokenAndReportsItsFingerprint) {
  ExpectIssue("tok-1");
  auto first = client_->GetToken(key_);
  ASSERT_TRUE(first.ok());
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const v1::IssueRequest& request,
                     v1::IssueResponse* response) {
            EXPECT_EQ(request.rejected_fingerprint(), Fingerprint("tok-1"));
            EXPECT_EQ(request.credential(), "default");
            EXPECT_THAT(request.scopes(), ElementsAre("webhooks"));
            *response = Reply("tok-2", clock_->Now());
            return grpc::Status::OK;
          }));
  auto replacement = client_->ReportRejected(**first);
  ASSERT_TRUE(replacement.ok()) << replacement.status();
  EXPECT_EQ((*replacement)->access_token, "tok-2");
  EXPECT_EQ((*client_->GetToken(key_))->access_token, "tok-2");  // cached
}

TEST_F(TokenClientTest, ReportRejectedAgainReturnsReplacementWithoutCall) {
  ::testing::InSequence in_order;
  ExpectIssue("tok-1");
  ExpectIssue("tok-2");
  auto first = client_->GetToken(key_);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(client_->ReportRejected(**first).ok());
  auto again = client_->ReportRejected(key_, "tok-1");  // a slower thread
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->access_token, "tok-2");
}

TEST_F(TokenClientTest, ReportRejectedOfUncachedTokenStillReportsIt) {
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const v1::IssueRequest& request,
                     v1::IssueResponse* response) {
            EXPECT_EQ(request.rejected_fingerprint(), Fingerprint("tok-old"));
            *response = Reply("tok-new", clock_->Now());
            return grpc::Status::OK;
          }));
  auto replacement = client_->ReportRejected(key_, "tok-old");
  ASSERT_TRUE(replacement.ok());
  EXPECT_EQ((*replacement)->access_token, "tok-new");
}

// As above: every report joins the one call before the mock answers.
TEST_F(TokenClientTest, ConcurrentReportsOfOneTokenShareOneIssue) {
  ExpectIssue("tok-1");
  auto first = client_->GetToken(key_);
  ASSERT_TRUE(first.ok());
  absl::Notification entered, release;
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .Times(1)
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const v1::IssueRequest& request,
                     v1::IssueResponse* response) {
            EXPECT_EQ(request.rejected_fingerprint(), Fingerprint("tok-1"));
            entered.Notify();
            release.WaitForNotification();
            *response = Reply("tok-2", clock_->Now());
            return grpc::Status::OK;
          }));
  constexpr int kThreads = 6;
  std::vector<std::string> seen(kThreads);
  std::vector<std::thread> threads;
  const Token rejected = **first;
  threads.emplace_back(
      [&] { seen[0] = (*client_->ReportRejected(rejected))->access_token; });
  entered.WaitForNotification();
  for (int i = 1; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      seen[i] = (*client_->ReportRejected(rejected))->access_token;
    });
  }
  client_->AwaitFlightWaitersForTesting(key_, kThreads - 1);
  release.Notify();
  for (std::thread& t : threads) t.join();
  for (const std::string& s : seen) EXPECT_EQ(s, "tok-2");
}

// A plain refresh in flight may bring back the very token being reported;
// the report must then go to the server rather than return that token.
TEST_F(TokenClientTest, ReportRejectedDuringPlainFetchOfSameTokenReportsIt) {
  ExpectIssue("tok-1", absl::Seconds(60));
  auto first = client_->GetToken(key_);
  ASSERT_TRUE(first.ok());
  clock_->Advance(absl::Seconds(31));  // within the margin: next Get misses
  absl::Notification entered, release;
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const v1::IssueRequest& request,
                     v1::IssueResponse* response) {
            EXPECT_EQ(request.rejected_fingerprint(), "");
            entered.Notify();
            release.WaitForNotification();
            *response = Reply("tok-1", clock_->Now());  // the server's copy
            return grpc::Status::OK;
          }))
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const v1::IssueRequest& request,
                     v1::IssueResponse* response) {
            EXPECT_EQ(request.rejected_fingerprint(), Fingerprint("tok-1"));
            *response = Reply("tok-2", clock_->Now());
            return grpc::Status::OK;
          }));
  std::thread getter([&] { (void)client_->GetToken(key_); });
  entered.WaitForNotification();
  std::string reported;
  std::thread reporter([&] {
    reported = (*client_->ReportRejected(key_, "tok-1"))->access_token;
  });
  release.Notify();
  getter.join();
  reporter.join();
  EXPECT_EQ(reported, "tok-2");
  EXPECT_EQ((*client_->GetToken(key_))->access_token, "tok-2");
}

// Each thread keeps its own copy of a token (ThreadLocalTokenCache). The
// tests below fill another thread's copy first, then change the token.

TEST_F(TokenClientTest,
       GetTokenOnOtherThreadAfterReportRejectedGetsReplacement) {
  ::testing::InSequence in_order;
  ExpectIssue("tok-1");
  ExpectIssue("tok-2");
  PinnedThread other;
  EXPECT_EQ(GetTwiceOn(other, *client_), "tok-1");
  auto replacement = client_->ReportRejected(key_, "tok-1");
  ASSERT_TRUE(replacement.ok());
  EXPECT_EQ((*replacement)->access_token, "tok-2");
  EXPECT_EQ(GetTwiceOn(other, *client_), "tok-2");
}

TEST_F(TokenClientTest, GetTokenOnOtherThreadAfterFailedReportDoesNotReuseIt) {
  ::testing::InSequence in_order;
  ExpectIssue("tok-1");
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::UNAVAILABLE, "myPOS down")))
      .RetiresOnSaturation();
  ExpectIssue("tok-2");
  PinnedThread other;
  EXPECT_EQ(GetTwiceOn(other, *client_), "tok-1");
  // The rejected token is dropped even though no replacement came.
  EXPECT_EQ(client_->ReportRejected(key_, "tok-1").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetTwiceOn(other, *client_), "tok-2");
}

TEST_F(TokenClientTest, GetTokenOnOtherThreadAfterExpirySeesSameReplacement) {
  ::testing::InSequence in_order;
  ExpectIssue("tok-1", absl::Seconds(300));
  ExpectIssue("tok-2");
  PinnedThread other;
  EXPECT_EQ(GetTwiceOn(other, *client_), "tok-1");
  clock_->Advance(absl::Seconds(270));  // 30s left: within the margin
  auto here = client_->GetToken(key_);
  ASSERT_TRUE(here.ok());
  EXPECT_EQ((*here)->access_token, "tok-2");
  const Token* there = nullptr;
  other.Run([&] {
    auto token = client_->GetToken(key_);
    if (token.ok()) there = token->get();
  });
  EXPECT_EQ(there, here->get());  // the one token, not a second fetch
}

// A system clock can step back; a token that was replaced must not become
// usable again on a thread that kept a copy: one token per key.
TEST_F(TokenClientTest,
       GetTokenOnOtherThreadAfterClockStepsBackGetsCurrentOne) {
  ::testing::InSequence in_order;
  ExpectIssue("tok-1", absl::Seconds(300));
  ExpectIssue("tok-2");
  PinnedThread other;
  EXPECT_EQ(GetTwiceOn(other, *client_), "tok-1");
  clock_->Advance(absl::Seconds(270));
  EXPECT_EQ((*client_->GetToken(key_))->access_token, "tok-2");
  clock_->Advance(absl::Seconds(-100));  // tok-1 would be usable again
  EXPECT_EQ(GetTwiceOn(other, *client_), "tok-2");
}

TEST_F(TokenClientTest, TwoClientsOnOneThreadKeepTheirOwnTokens) {
  auto other_stub = std::make_shared<v1::MockTokenServiceStub>();
  TokenClient other_client(other_stub, options_, clock_);
  ExpectIssue("tok-a");
  EXPECT_CALL(*other_stub, Issue(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Reply("tok-b", clock_->Now())),
                      Return(grpc::Status::OK)));
  PinnedThread thread;
  EXPECT_EQ(GetTwiceOn(thread, *client_), "tok-a");
  EXPECT_EQ(GetTwiceOn(thread, other_client), "tok-b");
  EXPECT_EQ(GetTwiceOn(thread, *client_), "tok-a");
}

TEST_F(TokenClientTest, ClientInADestroyedOnesPlaceDoesNotReturnItsToken) {
  ::testing::InSequence in_order;
  ExpectIssue("tok-1");
  ExpectIssue("tok-2");
  std::optional<TokenClient> client;  // both at the same address
  client.emplace(stub_, options_, clock_);
  const TokenClient* first = &*client;
  EXPECT_EQ((*client->GetToken(key_))->access_token, "tok-1");
  EXPECT_EQ((*client->GetToken(key_))->access_token, "tok-1");
  EXPECT_EQ((*client->GetToken(key_))->access_token, "tok-1");
  client.reset();
  client.emplace(stub_, options_, clock_);
  ASSERT_EQ(&*client, first);
  EXPECT_EQ((*client->GetToken(key_))->access_token, "tok-2");
  EXPECT_EQ((*client->GetToken(key_))->access_token, "tok-2");
  EXPECT_EQ((*client->GetToken(key_))->access_token, "tok-2");
}

// Readers on two threads never get the rejected token once ReportRejected
// has returned; under TSAN this also races their lock-free hits against
// the invalidation.
TEST_F(TokenClientTest,
       ConcurrentGetTokenAfterReportRejectedReturnedNeverGetsIt) {
  ::testing::InSequence in_order;
  ExpectIssue("tok-1");
  ExpectIssue("tok-2");
  ASSERT_TRUE(client_->GetToken(key_).ok());
  std::atomic<bool> reported{false};
  std::atomic<int> stale_after_report{0};
  auto read = [&] {  // until it has read 100 times after the report
    for (int after = 0; after < 100;) {
      const bool reported_before = reported.load(std::memory_order_acquire);
      auto token = client_->GetToken(key_);
      if (!reported_before) continue;
      ++after;
      if (token.ok() && (*token)->access_token == "tok-1") {
        ++stale_after_report;
      }
    }
  };
  std::thread a(read), b(read);
  // EXPECT, not ASSERT: the readers spin until `reported` is set.
  EXPECT_TRUE(client_->ReportRejected(key_, "tok-1").ok());
  reported.store(true, std::memory_order_release);
  a.join();
  b.join();
  EXPECT_EQ(stale_after_report.load(), 0);
  EXPECT_EQ((*client_->GetToken(key_))->access_token, "tok-2");
}

TEST(TokenClientOptions, ValidateOptionsChecksDurationsAndCallerKey) {
  TokenClient::Options options;
  EXPECT_TRUE(TokenClient::ValidateOptions(options).ok());
  options.min_validity = options.expiry_margin;
  EXPECT_EQ(TokenClient::ValidateOptions(options).code(),
            absl::StatusCode::kInvalidArgument);
  options = TokenClient::Options();
  options.call_timeout = absl::ZeroDuration();
  EXPECT_EQ(TokenClient::ValidateOptions(options).code(),
            absl::StatusCode::kInvalidArgument);
  options = TokenClient::Options();
  options.revocation_grace = absl::ZeroDuration();
  EXPECT_EQ(TokenClient::ValidateOptions(options).code(),
            absl::StatusCode::kInvalidArgument);
  options = TokenClient::Options();
  options.caller_key = absl::StrCat(kCanaryCallerKey, "\n");
  absl::Status status = TokenClient::ValidateOptions(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), Not(HasSubstr(kCanaryCallerKey)));
}

TEST(TokenClientCreate, CreateWithBadChannelOptionsIsInvalidArgument) {
  ChannelOptions channel;  // empty target
  EXPECT_EQ(TokenClient::Create(channel, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  channel.target = "127.0.0.1:1";
  channel.cert_file = "/nonexistent/cert.pem";  // without TLS
  EXPECT_EQ(TokenClient::Create(channel, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tokenservice
