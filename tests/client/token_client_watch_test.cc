// TokenClient's revocation stream against the generated mock stub, with a
// stream the test scripts: a server without WatchRevocations, a revocation
// that arrives while the Issue that returns the revoked token is answered,
// a batch that drops a cached token, and the grace while the stream is
// down.

#include <grpcpp/test/mock_stream.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/synchronization/notification.h"
#include "base/fingerprint.h"
#include "base/mutex.h"
#include "client/token_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/token_service_mock.grpc.pb.h"
#include "tests/base/fake_clock.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::_;
using ::testing::DoAll;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::SetArgPointee;

constexpr absl::Duration kPatience = absl::Seconds(20);

v1::IssueResponse Reply(const std::string& token, absl::Time now) {
  v1::IssueResponse r;
  r.set_access_token(token);
  r.set_token_type("Bearer");
  r.set_fingerprint(Fingerprint(token));
  r.set_credential("default");
  r.add_scopes("webhooks");
  r.mutable_issue_time()->set_seconds(absl::ToUnixSeconds(now));
  r.mutable_expire_time()->set_seconds(
      absl::ToUnixSeconds(now + absl::Hours(1)));
  return r;
}

v1::RevocationBatch Batch(std::initializer_list<std::string> tokens) {
  v1::RevocationBatch batch;
  for (const std::string& token : tokens) {
    batch.add_fingerprints(Fingerprint(token));
  }
  return batch;
}

// One WatchRevocations stream, fed by the test: gRPC's side of a
// callback-API call, as the client's reactor sees it.
class ScriptedStream final
    : public grpc::ClientCallbackReader<v1::RevocationBatch> {
 public:
  void Bind(grpc::ClientReadReactor<v1::RevocationBatch>* reactor)
      ABSL_LOCKS_EXCLUDED(mu_) {
    BindReactor(reactor);
    MutexLock lock(&mu_);
    reactor_ = reactor;
  }

  void Push(v1::RevocationBatch batch) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      batches_.push_back(std::move(batch));
    }
    Deliver();
  }
  // Ends the stream with `status` once what was pushed is read.
  void End(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      end_ = std::move(status);
    }
    Deliver();
  }

  void StartCall() override {}
  void Read(v1::RevocationBatch* batch) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      reading_ = batch;
    }
    Deliver();
  }
  void AddHold(int holds) override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    holds_ += holds;
  }
  void RemoveHold() override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      --holds_;
      EXPECT_GE(holds_, 0) << "a hold released twice";
      EXPECT_FALSE(done_) << "a hold released after OnDone";
    }
    Deliver();
  }

 private:
  // Runs the reactions that are due, as gRPC would, outside the lock.
  void Deliver() ABSL_LOCKS_EXCLUDED(mu_) {
    enum { kNothing, kRead, kReadFailed, kDone } next = kNothing;
    grpc::Status status;
    grpc::ClientReadReactor<v1::RevocationBatch>* reactor;
    {
      MutexLock lock(&mu_);
      reactor = reactor_;
      if (reactor == nullptr) {
        // Not called yet.
      } else if (reading_ != nullptr && !batches_.empty()) {
        *reading_ = std::move(batches_.front());
        batches_.pop_front();
        reading_ = nullptr;
        next = kRead;
      } else if (reading_ != nullptr && end_.has_value()) {
        reading_ = nullptr;
        next = kReadFailed;
      } else if (reading_ == nullptr && end_.has_value() && holds_ == 0 &&
                 !done_) {
        done_ = true;
        status = *end_;
        next = kDone;
      }
    }
    switch (next) {
      case kRead:
        reactor->OnReadDone(true);
        break;
      case kReadFailed:
        reactor->OnReadDone(false);
        Deliver();  // OnDone, once the holds allow it
        break;
      case kDone:
        reactor->OnDone(status);
        break;
      case kNothing:
        break;
    }
  }

  Mutex mu_;
  grpc::ClientReadReactor<v1::RevocationBatch>* reactor_ ABSL_GUARDED_BY(mu_) =
      nullptr;
  std::deque<v1::RevocationBatch> batches_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  v1::RevocationBatch* reading_ ABSL_GUARDED_BY(mu_) = nullptr;
  int holds_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// The generated mock, with a callback API whose WatchRevocations is
// `stream` (nullptr: the stub has no callback API, as the plain mock).
class StubWithStream final : public v1::MockTokenServiceStub {
 public:
  explicit StubWithStream(ScriptedStream* stream) : async_(stream) {}
  async_interface* async() override {
    return async_.stream == nullptr ? nullptr : &async_;
  }

 private:
  using Done = std::function<void(grpc::Status)>;
  struct Async final : async_interface {
    explicit Async(ScriptedStream* s) : stream(s) {}
    void WatchRevocations(
        grpc::ClientContext*, const v1::WatchRevocationsRequest*,
        grpc::ClientReadReactor<v1::RevocationBatch>* reactor) override {
      stream->Bind(reactor);
    }
    // The client calls none of the others on this API.
    void Issue(grpc::ClientContext*, const v1::IssueRequest*,
               v1::IssueResponse*, Done) override {}
    void Issue(grpc::ClientContext*, const v1::IssueRequest*,
               v1::IssueResponse*, grpc::ClientUnaryReactor*) override {}
    void ExchangeGrant(grpc::ClientContext*, const v1::ExchangeGrantRequest*,
                       v1::ExchangeGrantResponse*, Done) override {}
    void ExchangeGrant(grpc::ClientContext*, const v1::ExchangeGrantRequest*,
                       v1::ExchangeGrantResponse*,
                       grpc::ClientUnaryReactor*) override {}
    void Revoke(grpc::ClientContext*, const v1::RevokeRequest*,
                v1::RevokeResponse*, Done) override {}
    void Revoke(grpc::ClientContext*, const v1::RevokeRequest*,
                v1::RevokeResponse*, grpc::ClientUnaryReactor*) override {}
    void GetTokenInfo(grpc::ClientContext*, const v1::GetTokenInfoRequest*,
                      v1::TokenInfo*, Done) override {}
    void GetTokenInfo(grpc::ClientContext*, const v1::GetTokenInfoRequest*,
                      v1::TokenInfo*, grpc::ClientUnaryReactor*) override {}
    void ListTokens(grpc::ClientContext*, const v1::ListTokensRequest*,
                    v1::ListTokensResponse*, Done) override {}
    void ListTokens(grpc::ClientContext*, const v1::ListTokensRequest*,
                    v1::ListTokensResponse*,
                    grpc::ClientUnaryReactor*) override {}
    ScriptedStream* const stream;
  };
  Async async_;
};

class TokenClientWatchTest : public ::testing::Test {
 protected:
  ~TokenClientWatchTest() override {
    // The client reads its stream until it ends; "no such method" makes it
    // stop for good.
    stream_.End(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""));
    if (!sync_revoke_.HasBeenNotified()) sync_revoke_.Notify();
    if (!sync_end_.HasBeenNotified()) sync_end_.Notify();
    client_.reset();
  }

  // A client on a stub whose WatchRevocations is stream_, or that has no
  // callback API at all.
  void StartClient(bool callback_api = true) {
    stub_ = std::make_shared<StubWithStream>(callback_api ? &stream_ : nullptr);
    client_ =
        std::make_unique<TokenClient>(stub_, TokenClient::Options(), clock_);
  }

  void ExpectIssue(const std::string& token) {
    EXPECT_CALL(*stub_, Issue(_, _, _))
        .WillOnce(DoAll(SetArgPointee<2>(Reply(token, clock_->Now())),
                        Return(grpc::Status::OK)))
        .RetiresOnSaturation();
  }

  std::string Get() {
    absl::StatusOr<TokenClient::TokenPtr> token = client_->GetToken(key_);
    return token.ok() ? (*token)->access_token
                      : std::string(token.status().message());
  }

  ScriptedStream stream_;  // outlives the client
  // For the sync API's stream: its second and third Read return once
  // these are notified.
  absl::Notification sync_revoke_, sync_end_;
  std::shared_ptr<StubWithStream> stub_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::unique_ptr<TokenClient> client_;
  const TokenKey key_{"default", {"webhooks"}};
};

// A server from before WatchRevocations (UNIMPLEMENTED): the client caches
// as it did before the stream, with no grace.
TEST_F(TokenClientWatchTest, WithoutTheMethodTokensAreCachedAsBefore) {
  stream_.End(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no method"));
  StartClient();
  ASSERT_TRUE(
      client_->AwaitWatchUnsupportedForTesting(absl::Now() + kPatience));
  ExpectIssue("tok-1");
  EXPECT_EQ(Get(), "tok-1");
  clock_->Advance(TokenClient::Options().revocation_grace + absl::Minutes(1));
  EXPECT_EQ(Get(), "tok-1");  // no second Issue
}

// Before the stream is live, a cached token lasts the grace only.
// A stub with no callback API (hand-written): the sync API's stream, with
// the same effect.
TEST_F(TokenClientWatchTest, WithoutACallbackApiTheSyncStreamDropsTokens) {
  stub_ = std::make_shared<StubWithStream>(nullptr);
  auto* reader = new grpc::testing::MockClientReader<v1::RevocationBatch>();
  EXPECT_CALL(*reader, Read(_))
      .WillOnce(Return(true))  // the empty first batch: live
      .WillOnce(Invoke([this](v1::RevocationBatch* batch) {
        sync_revoke_.WaitForNotification();
        *batch = Batch({"tok-1"});
        return true;
      }))
      .WillOnce(Invoke([this](v1::RevocationBatch*) {
        sync_end_.WaitForNotification();
        return false;
      }));
  EXPECT_CALL(*reader, Finish())
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")));
  EXPECT_CALL(*stub_, WatchRevocationsRaw(_, _)).WillOnce(Return(reader));
  client_ =
      std::make_unique<TokenClient>(stub_, TokenClient::Options(), clock_);
  ASSERT_TRUE(client_->AwaitWatchForTesting(true, absl::Now() + kPatience));
  ExpectIssue("tok-1");
  EXPECT_EQ(Get(), "tok-1");
  EXPECT_EQ(Get(), "tok-1");  // cached
  sync_revoke_.Notify();
  ASSERT_TRUE(client_->AwaitRevocationForTesting(Fingerprint("tok-1"),
                                                 absl::Now() + kPatience));
  ExpectIssue("tok-2");
  EXPECT_EQ(Get(), "tok-2");
}

TEST_F(TokenClientWatchTest, BeforeTheStreamIsLiveTokensLastTheGrace) {
  StartClient();
  ExpectIssue("tok-1");
  EXPECT_EQ(Get(), "tok-1");
  clock_->Advance(TokenClient::Options().revocation_grace);
  ExpectIssue("tok-2");
  EXPECT_EQ(Get(), "tok-2");
}

// A batch that names a cached token drops it; the next call asks again.
TEST_F(TokenClientWatchTest, ARevocationDropsTheCachedToken) {
  StartClient();
  stream_.Push({});  // live
  ASSERT_TRUE(client_->AwaitWatchForTesting(true, absl::Now() + kPatience));
  ExpectIssue("tok-1");
  EXPECT_EQ(Get(), "tok-1");
  EXPECT_EQ(Get(), "tok-1");  // cached
  stream_.Push(Batch({"tok-1"}));
  ASSERT_TRUE(client_->AwaitRevocationForTesting(Fingerprint("tok-1"),
                                                 absl::Now() + kPatience));
  ExpectIssue("tok-2");
  EXPECT_EQ(Get(), "tok-2");
}

// The server may answer an Issue with a token it revokes a moment later,
// before the answer arrives: the revocation comes first on the stream, and
// the client must not cache what it names. (It still answers the one call
// that asked: the server handed it out.)
TEST_F(TokenClientWatchTest, ATokenRevokedWhileItsIssueWasAnsweredIsNotCached) {
  StartClient();
  stream_.Push({});
  ASSERT_TRUE(client_->AwaitWatchForTesting(true, absl::Now() + kPatience));
  absl::Notification issue_started, revoked;
  EXPECT_CALL(*stub_, Issue(_, _, _))
      .WillOnce(Invoke([&](grpc::ClientContext*, const v1::IssueRequest&,
                           v1::IssueResponse* response) {
        issue_started.Notify();
        revoked.WaitForNotification();
        *response = Reply("tok-1", clock_->Now());
        return grpc::Status::OK;
      }))
      .RetiresOnSaturation();
  std::string first;
  std::thread caller([&] { first = Get(); });
  issue_started.WaitForNotification();
  stream_.Push(Batch({"tok-1"}));
  EXPECT_TRUE(client_->AwaitRevocationForTesting(Fingerprint("tok-1"),
                                                 absl::Now() + kPatience));
  revoked.Notify();  // whatever the wait said, or `caller` never ends
  caller.join();
  EXPECT_EQ(first, "tok-1");
  ExpectIssue("tok-2");
  EXPECT_EQ(Get(), "tok-2");
}

}  // namespace
}  // namespace tokenservice
