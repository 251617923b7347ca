// fleet_benchmark: what a fleet costs myPOS and how fast a revocation
// reaches it. Three TokenServers in fleet mode (this process; each with its
// own cache, channel and etcd session) against the fake myPOS and Debian's
// etcd on loopback.
//
// First the cold stampede: --stampede_callers Issue calls at once, spread
// over the replicas, while myPOS takes --stampede_latency to answer; prints
// how many requests reached myPOS (the target is 1) and how many distinct
// tokens the callers got (1).
//
// Then the revocations. Each round: replica B issues a token; replica A
// revokes it by value; the time from the Revoke's start until it answers
// is the time until every replica had stopped handing it out (Revoke
// answers only once every live replica confirmed; the round also checks no
// replica hands it out again). Prints p50/p99 over --revocations rounds.
//
//   bazel run -c opt //bench:fleet_benchmark

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/mutex.h"
#include "fake_mypos/fake_mypos_server.h"
#include "proto/token_service.grpc.pb.h"
#include "server/ops/log.h"
#include "server/token_server.h"
#include "tests/server/fleet/key_dir.h"
#include "tests/testing/etcd_server.h"

ABSL_FLAG(int, revocations, 100, "Rounds: one revocation each.");
ABSL_FLAG(int, stampede_callers, 1000, "Cold callers at once, over the fleet.");
ABSL_FLAG(absl::Duration, stampede_latency, absl::Milliseconds(100),
          "How long myPOS takes to answer during the stampede.");
ABSL_FLAG(int, replicas, 3, "Replicas in the fleet.");

namespace v1 = ::mypos::token::v1;

int main(int argc, char** argv) {
  using namespace tokenservice;
  absl::ParseCommandLine(argc, argv);
  SetMinLogLevel(LogLevel::kWarning);
  const std::string tmp = getenv("TEST_TMPDIR") != nullptr
                              ? getenv("TEST_TMPDIR")
                              : std::string("/tmp");
  const std::string etcd_dir =
      absl::StrCat(tmp, "/fleet-bench-etcd-", absl::ToUnixNanos(absl::Now()));
  // etcd's data goes with the run, however it ends.
  struct RemoveDir {
    const std::string& path;
    ~RemoveDir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } remove_etcd_dir{etcd_dir};
  auto etcd = EtcdServer::Start(etcd_dir);
  if (!etcd.ok()) {
    std::fprintf(stderr, "etcd: %s\n", etcd.status().ToString().c_str());
    return 1;
  }
  FakeMyposServer::Options fake_options;
  fake_options.clients = {{"client", "secret"}};
  FakeMyposServer fake(fake_options);
  if (!fake.Start().ok()) return 1;
  KeyDir keys;
  keys.AddKey("k1");
  keys.Activate("k1");

  const int n = absl::GetFlag(FLAGS_replicas);
  std::vector<std::unique_ptr<TokenServer>> servers;
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs;
  for (int i = 0; i < n; ++i) {
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.token_url = fake.BaseUrl() + "/oauth/token";
    config.revoke_url = fake.BaseUrl() + "/oauth/revoke";
    config.profiles = {{"default", {"client", "secret"}}};
    config.fleet.etcd_target = (*etcd)->endpoint();
    config.fleet.keys_dir = keys.path();
    auto server = TokenServer::Start(config);
    if (!server.ok()) {
      std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
      return 1;
    }
    stubs.push_back(v1::TokenService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                            grpc::InsecureChannelCredentials())));
    servers.push_back(*std::move(server));
  }
  for (auto& server : servers) {
    if (!server->fleet()->AwaitReplicas(n, absl::Now() + absl::Seconds(30))) {
      std::fprintf(stderr, "the replicas did not all see each other\n");
      return 1;
    }
  }
  auto issue = [&](int replica) {
    grpc::ClientContext context;
    v1::IssueResponse response;
    stubs[replica]->Issue(&context, v1::IssueRequest(), &response);
    return response.access_token();
  };

  {
    struct Call {
      grpc::ClientContext context;
      v1::IssueRequest request;
      v1::IssueResponse response;
      grpc::Status status;
    };
    // Shared with the callbacks: the last one may still be unlocking the
    // mutex when the wait below ends.
    struct State {
      explicit State(int n) : calls(n), left(n) {}
      std::vector<Call> calls;
      Mutex mu;
      int left ABSL_GUARDED_BY(mu);
    };
    const int callers = absl::GetFlag(FLAGS_stampede_callers);
    auto state = std::make_shared<State>(callers);
    std::vector<Call>& calls = state->calls;
    fake.SetLatency(absl::GetFlag(FLAGS_stampede_latency));
    const absl::Time start = absl::Now();
    for (int i = 0; i < callers; ++i) {
      calls[i].context.set_deadline(
          absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
      stubs[i % n]->async()->Issue(&calls[i].context, &calls[i].request,
                                   &calls[i].response,
                                   [state, i](grpc::Status s) {
                                     MutexLock lock(&state->mu);
                                     state->calls[i].status = std::move(s);
                                     --state->left;
                                   });
    }
    {
      MutexLock lock(&state->mu);
      auto all = [&state]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) {
        return state->left == 0;
      };
      state->mu.Await(absl::Condition(&all));
    }
    const double elapsed_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    fake.SetLatency(absl::ZeroDuration());
    int failed = 0;
    absl::flat_hash_set<std::string> tokens;
    for (const Call& call : calls) {
      if (!call.status.ok())
        ++failed;
      else
        tokens.insert(call.response.access_token());
    }
    std::printf(
        "{\"stampede\":{\"replicas\":%d,\"callers\":%d,\"failed\":%d,"
        "\"upstream_requests\":%d,\"distinct_tokens\":%zu,"
        "\"all_answered_ms\":%.1f}}\n",
        n, callers, failed, fake.token_requests(), tokens.size(), elapsed_ms);
    if (failed != 0 || fake.token_requests() != 1 || tokens.size() != 1) {
      return 1;
    }
  }

  const int rounds = absl::GetFlag(FLAGS_revocations);
  std::vector<double> ms;
  int unconfirmed = 0, handed_out_again = 0, failed = 0;
  for (int i = 0; i < rounds; ++i) {
    const std::string token = issue(1 % n);
    grpc::ClientContext context;
    v1::RevokeRequest request;
    request.set_token(token);
    v1::RevokeResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status status = stubs[0]->Revoke(&context, request, &response);
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    if (!status.ok()) ++failed;
    if (response.replicas_confirmed() != n || response.replicas_live() != n) {
      ++unconfirmed;
    }
    for (int r = 0; r < n; ++r) {
      if (issue(r) == token) ++handed_out_again;
    }
  }
  std::sort(ms.begin(), ms.end());
  auto p = [&ms](double q) {
    return ms[std::min(ms.size() - 1, size_t(q * ms.size()))];
  };
  std::printf(
      "{\"replicas\":%d,\"revocations\":%d,\"failed\":%d,"
      "\"not_confirmed_by_all\":%d,\"handed_out_after_revoke\":%d,"
      "\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}\n",
      n, rounds, failed, unconfirmed, handed_out_again, p(0.5), p(0.9), p(0.99),
      ms.back());
  return failed == 0 && unconfirmed == 0 && handed_out_again == 0 ? 0 : 1;
}
