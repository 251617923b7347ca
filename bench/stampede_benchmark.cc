// stampede_benchmark: --callers concurrent Issue calls for a cold key while
// the fake myPOS answers after --latency. Prints how many requests reached
// myPOS (must be 1) and the callers' latency distribution.
//
//   bazel run -c opt //bench:stampede_benchmark

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "fake_mypos/fake_mypos_server.h"
#include "proto/token_service.grpc.pb.h"
#include "server/ops/log.h"
#include "server/token_server.h"

ABSL_FLAG(int, callers, 1000, "Concurrent cold callers.");
ABSL_FLAG(absl::Duration, latency, absl::Milliseconds(50), "myPOS latency.");

namespace v1 = ::mypos::token::v1;

struct Call {
  grpc::ClientContext context;
  v1::IssueRequest request;
  v1::IssueResponse response;
  absl::Time start;
  absl::Duration latency;
  bool ok = false;
};

int main(int argc, char** argv) {
  using namespace tokenservice;
  absl::ParseCommandLine(argc, argv);
  SetMinLogLevel(LogLevel::kWarning);
  FakeMyposServer::Options fake_options;
  fake_options.clients = {{"client", "secret"}};
  FakeMyposServer fake(fake_options);
  if (!fake.Start().ok()) return 1;
  fake.SetLatency(absl::GetFlag(FLAGS_latency));
  ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.token_url = fake.BaseUrl() + "/oauth/token";
  config.revoke_url = fake.BaseUrl() + "/oauth/revoke";
  config.profiles = {{"default", {"client", "secret"}}};
  auto server = TokenServer::Start(config);
  if (!server.ok()) return 1;
  auto stub = v1::TokenService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials()));

  const int n = absl::GetFlag(FLAGS_callers);
  std::vector<std::unique_ptr<Call>> calls(n);
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  for (auto& call : calls) {
    call = std::make_unique<Call>();
    call->request.add_scopes("webhooks");
  }
  for (auto& call : calls) {
    Call* c = call.get();
    c->start = absl::Now();
    stub->async()->Issue(&c->context, &c->request, &c->response,
                         [&, c](grpc::Status status) {
                           c->latency = absl::Now() - c->start;
                           c->ok = status.ok();
                           std::lock_guard<std::mutex> lock(mu);
                           if (++done == n) cv.notify_one();
                         });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == n; });
  }
  std::vector<double> ms;
  int failed = 0;
  for (const auto& call : calls) {
    if (!call->ok) ++failed;
    ms.push_back(absl::ToDoubleMilliseconds(call->latency));
  }
  std::sort(ms.begin(), ms.end());
  auto p = [&ms](double q) {
    return ms[std::min(ms.size() - 1, size_t(q * ms.size()))];
  };
  std::printf(
      "{\"callers\":%d,\"failed\":%d,\"upstream_requests\":%d,"
      "\"p50_ms\":%.1f,\"p90_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f}\n",
      n, failed, fake.token_requests(), p(0.5), p(0.9), p(0.99), ms.back());
  return failed == 0 && fake.token_requests() == 1 ? 0 : 1;
}
