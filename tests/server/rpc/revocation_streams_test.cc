// RevocationStreams behind a real gRPC server on loopback: what a
// WatchRevocations caller receives, and what happens to one that does not
// read.

#include "server/rpc/revocation_streams.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/broker/revocation_feed.h"
#include "server/ops/log_rate_limiter.h"
#include "server/rpc/rpc_call.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

// A TokenService with only WatchRevocations, served by RevocationStreams.
class WatchOnly final
    : public v1::TokenService::WithCallbackMethod_WatchRevocations<
          v1::TokenService::Service> {
 public:
  explicit WatchOnly(RevocationStreams* streams) : streams_(streams) {}

  grpc::ServerWriteReactor<v1::RevocationBatch>* WatchRevocations(
      grpc::CallbackServerContext* context,
      const v1::WatchRevocationsRequest*) override {
    return streams_->Open(RpcRecord(nullptr, &failure_log_,
                                    RpcMethod::kWatchRevocations, "", context),
                          absl::OkStatus());
  }

 private:
  RevocationStreams* const streams_;
  SystemClock clock_;
  LogRateLimiter failure_log_{50, absl::Seconds(1), &clock_};
};

// A stream that loses what it should deliver fails here, not at Bazel's
// timeout.
constexpr absl::Duration kPatience = absl::Seconds(30);

std::string Fingerprint(int i) { return absl::StrFormat("%016x", i); }

class RevocationStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    // A small receive window and no growing it: a caller that does not
    // read holds the server's writes up after 16 KiB.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
    stub_ = v1::TokenService::NewStub(
        grpc::CreateCustomChannel(absl::StrFormat("127.0.0.1:%d", port),
                                  grpc::InsecureChannelCredentials(), args));
  }

  void TearDown() override {
    streams_.CloseAll();
    server_->Shutdown();
  }

  RevocationFeed feed_;
  RevocationStreams streams_{&feed_};
  WatchOnly service_{&streams_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
};

// A caller that reads gets every fingerprint published after its first,
// empty batch, however they were batched.
TEST_F(RevocationStreamsTest, AReaderGetsEveryFingerprintPublished) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
  auto reader = stub_->WatchRevocations(&context, {});
  v1::RevocationBatch batch;
  ASSERT_TRUE(reader->Read(&batch));
  EXPECT_EQ(batch.fingerprints_size(), 0);  // live
  constexpr int kPublished = 1000;
  for (int i = 0; i < kPublished; ++i) feed_.Publish(Fingerprint(i));
  std::set<std::string> received;
  while (received.size() < kPublished && reader->Read(&batch)) {
    received.insert(batch.fingerprints().begin(), batch.fingerprints().end());
  }
  EXPECT_EQ(received.size(), kPublished);
  EXPECT_EQ(*received.begin(), Fingerprint(0));
  EXPECT_EQ(*received.rbegin(), Fingerprint(kPublished - 1));
  context.TryCancel();
}

// A caller that stops reading cannot make the server hold more than
// kMaxUnsentFingerprints for it: its stream ends with RESOURCE_EXHAUSTED
// after what was already under way.
TEST_F(RevocationStreamsTest, ACallerThatDoesNotReadGetsResourceExhausted) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
  auto reader = stub_->WatchRevocations(&context, {});
  v1::RevocationBatch batch;
  ASSERT_TRUE(reader->Read(&batch));
  ASSERT_EQ(streams_.open(), 1u);
  // 16 bytes each: far more than the 16 KiB window plus the limit.
  constexpr int kPublished = 4 * kMaxUnsentFingerprints;
  for (int i = 0; i < kPublished; ++i) feed_.Publish(Fingerprint(i));

  int received = 0;
  while (reader->Read(&batch)) received += batch.fingerprints_size();
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("reconnect"), std::string::npos)
      << status.error_message();
  // What it got is what fitted its window (about 1,000) and the batch
  // under way when it fell behind (at most the limit).
  EXPECT_LE(received, 2 * kMaxUnsentFingerprints);
}

}  // namespace
}  // namespace tokenservice
