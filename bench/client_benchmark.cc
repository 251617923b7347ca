// The client library's cached read: TokenClient::GetToken when the token is
// in its in-process cache (target: at most 100 ns), with 1 and 2 threads.
// The stub is gmock's: it answers the one Issue that fills the cache.
//
//   bazel run -c opt //bench:client_benchmark

#include <memory>

#include "base/clock.h"
#include "benchmark/benchmark.h"
#include "client/token_client.h"
#include "gmock/gmock.h"
#include "proto/token_service_mock.grpc.pb.h"

namespace tokenservice {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::Return;
using ::testing::SetArgPointee;

TokenClient* Client() {
  static TokenClient* client = [] {
    auto stub = std::make_shared<mypos::token::v1::MockTokenServiceStub>();
    mypos::token::v1::IssueResponse response;
    response.set_access_token(std::string(40, 't'));
    response.set_token_type("Bearer");
    response.set_fingerprint("0123456789abcdef");
    response.mutable_expire_time()->set_seconds(
        absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    ::testing::Mock::AllowLeak(stub.get());  // lives as long as the program
    ON_CALL(*stub, Issue(_, _, _))
        .WillByDefault(
            DoAll(SetArgPointee<2>(response), Return(grpc::Status::OK)));
    TokenClient::Options options;
    options.watch_revocations = false;  // the mock cannot stream
    auto* c = new TokenClient(stub, options, std::make_shared<SystemClock>());
    c->GetToken(TokenKey("default", {"webhooks"})).IgnoreError();
    return c;
  }();
  return client;
}

void BM_TokenClientCachedRead(benchmark::State& state) {
  TokenClient* client = Client();
  const TokenKey key("default", {"webhooks"});
  for (auto _ : state) {
    benchmark::DoNotOptimize(client->GetToken(key));
  }
}
BENCHMARK(BM_TokenClientCachedRead)->Threads(1)->Threads(2);

}  // namespace
}  // namespace tokenservice

BENCHMARK_MAIN();
