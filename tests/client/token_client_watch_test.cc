// TokenClient's revocation stream against the generated mock stub, with a
// stream the test scripts: a server without WatchRevocations, a revocation
// that arrives while the Issue that returns the revoked token is answered,
// a batch that drops a cached token, and the grace while the stream is
// down.

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

// One WatchRevocations stream, fed by the test. The client owns it (and
// destroys it after Finish); the test keeps a pointer only until End.
class ScriptedStream final
    : public grpc::ClientReaderInterface<v1::RevocationBatch> {
 public:
  void Push(v1::RevocationBatch batch) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    batches_.push_back(std::move(batch));
  }
  // Ends the stream with `status` once what was pushed is read.
  void End(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    end_ = std::move(status);
  }

  bool Read(v1::RevocationBatch* batch) override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !batches_.empty() || end_.has_value();
    };
    mu_.Await(absl::Condition(&ready));
    if (batches_.empty()) return false;
    *batch = std::move(batches_.front());
    batches_.pop_front();
    return true;
  }
  grpc::Status Finish() override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return *end_;
  }
  bool NextMessageSize(uint32_t* size) override {
    *size = UINT32_MAX;
    return true;
  }
  void WaitForInitialMetadata() override {}

 private:
  Mutex mu_;
  std::deque<v1::RevocationBatch> batches_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
};

class TokenClientWatchTest : public ::testing::Test {
 protected:
  TokenClientWatchTest()
      : stub_(std::make_shared<v1::MockTokenServiceStub>()),
        clock_(std::make_shared<FakeClock>()) {}

  ~TokenClientWatchTest() override {
    // The client's watch thread reads the stream until it ends; a server
    // without the method makes it stop for good.
    if (stream_ != nullptr) {
      stream_->End(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""));
    }
    client_.reset();
  }

  // A client whose stream is `stream` (nullptr: a server without
  // WatchRevocations).
  void StartClient(ScriptedStream* stream) {
    stream_ = stream;
    if (stream == nullptr) {
      stream = new ScriptedStream;
      stream->End(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no method"));
    }
    absl::Notification opened;
    EXPECT_CALL(*stub_, WatchRevocationsRaw(_, _))
        .WillOnce(Invoke([stream, &opened](grpc::ClientContext*,
                                           const v1::WatchRevocationsRequest&) {
          opened.Notify();
          return stream;
        }));
    client_ =
        std::make_unique<TokenClient>(stub_, TokenClient::Options(), clock_);
    // The client owns the stream from here on.
    opened.WaitForNotification();
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

  std::shared_ptr<v1::MockTokenServiceStub> stub_;
  std::shared_ptr<FakeClock> clock_;
  ScriptedStream* stream_ = nullptr;
  std::unique_ptr<TokenClient> client_;
  const TokenKey key_{"default", {"webhooks"}};
};

// A server from before WatchRevocations (UNIMPLEMENTED): the client caches
// as it did before the stream, with no grace.
TEST_F(TokenClientWatchTest, WithoutTheMethodTokensAreCachedAsBefore) {
  StartClient(nullptr);
  ASSERT_TRUE(
      client_->AwaitWatchUnsupportedForTesting(absl::Now() + kPatience));
  ExpectIssue("tok-1");
  EXPECT_EQ(Get(), "tok-1");
  clock_->Advance(TokenClient::Options().revocation_grace + absl::Minutes(1));
  EXPECT_EQ(Get(), "tok-1");  // no second Issue
}

// Before the stream is live, a cached token lasts the grace only.
TEST_F(TokenClientWatchTest, BeforeTheStreamIsLiveTokensLastTheGrace) {
  StartClient(new ScriptedStream);
  ExpectIssue("tok-1");
  EXPECT_EQ(Get(), "tok-1");
  clock_->Advance(TokenClient::Options().revocation_grace);
  ExpectIssue("tok-2");
  EXPECT_EQ(Get(), "tok-2");
}

// A batch that names a cached token drops it; the next call asks again.
TEST_F(TokenClientWatchTest, ARevocationDropsTheCachedToken) {
  auto* stream = new ScriptedStream;
  StartClient(stream);
  stream->Push({});  // live
  ASSERT_TRUE(client_->AwaitWatchForTesting(true, absl::Now() + kPatience));
  ExpectIssue("tok-1");
  EXPECT_EQ(Get(), "tok-1");
  EXPECT_EQ(Get(), "tok-1");  // cached
  stream->Push(Batch({"tok-1"}));
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
  auto* stream = new ScriptedStream;
  StartClient(stream);
  stream->Push({});
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
  stream->Push(Batch({"tok-1"}));
  ASSERT_TRUE(client_->AwaitRevocationForTesting(Fingerprint("tok-1"),
                                                 absl::Now() + kPatience));
  revoked.Notify();
  caller.join();
  EXPECT_EQ(first, "tok-1");
  ExpectIssue("tok-2");
  EXPECT_EQ(Get(), "tok-2");
}

}  // namespace
}  // namespace tokenservice
