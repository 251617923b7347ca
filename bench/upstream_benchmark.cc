// upstream_benchmark: how TokenService talks to myPOS when many fetches are
// under way at once (issue 15), against the in-process fake myPOS. Prints
// one JSON line.
//
//   --mode=fanout     --keys (200) Issue calls for distinct scope sets sent
//                     at once, myPOS answering after --latency: wall time
//                     from the first send to the last answer, the calls'
//                     latency distribution, requests that reached myPOS.
//   --mode=isolation  --hung fetches that myPOS never answers, then one
//                     miss for another scope set: how long that miss takes.
//   --mode=inflight   --keys (1000) fetches that myPOS never answers: how
//                     many reach it at once, and this process's threads and
//                     resident memory before and meanwhile.
//
// TokenServer is configured by its own flags (--upstream_threads,
// --upstream_timeout, --max_queued_upstream, ...; server/config/), pointed
// at the fake. Calls are spread over enough connections that
// --max_concurrent_streams does not hold them back. The fake runs in this
// process, so its worker threads (--keys + --hung + 100, all started
// before anything is measured) are in the thread counts.
//
//   bazel run -c opt //bench:upstream_benchmark -- --mode=fanout --keys=200

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "fake_mypos/fake_mypos_server.h"
#include "proto/token_service.grpc.pb.h"
#include "server/config/server_config.h"
#include "server/ops/log.h"
#include "server/token_server.h"

ABSL_FLAG(std::string, mode, "fanout", "fanout, isolation or inflight.");
ABSL_FLAG(int, keys, 0,
          "Distinct scope sets asked for at once; 0: 200 for fanout, 1000 "
          "for inflight.");
ABSL_FLAG(absl::Duration, latency, absl::Milliseconds(200),
          "myPOS latency for the requests it answers.");
ABSL_FLAG(int, hung, 8, "isolation: fetches that myPOS never answers.");
ABSL_FLAG(absl::Duration, call_deadline, absl::Seconds(60),
          "Client deadline of every Issue call.");

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using Stubs = std::vector<std::unique_ptr<v1::TokenService::Stub>>;

constexpr char kHangScope[] = "hang";
// How long the number of hung requests must stay put to count as settled.
constexpr absl::Duration kSettled = absl::Seconds(1);

// One Issue call and what became of it.
struct Call {
  grpc::ClientContext context;
  v1::IssueRequest request;
  v1::IssueResponse response;
  absl::Time start;
  absl::Duration latency;
  grpc::StatusCode code = grpc::StatusCode::OK;
};

// Issue calls, one per scope set, sent together and answered on gRPC's
// threads. Thread-safe.
class CallBatch {
 public:
  CallBatch(const std::vector<std::vector<std::string>>& scope_sets,
            absl::Duration deadline) {
    for (const std::vector<std::string>& scopes : scope_sets) {
      auto call = std::make_unique<Call>();
      for (const std::string& scope : scopes) call->request.add_scopes(scope);
      call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
      calls_.push_back(std::move(call));
    }
  }

  // Starts every call, taking the stubs in turn.
  void Send(const Stubs& stubs) {
    for (size_t i = 0; i < calls_.size(); ++i) {
      Call* c = calls_[i].get();
      c->start = absl::Now();
      stubs[i % stubs.size()]->async()->Issue(
          &c->context, &c->request, &c->response, [this, c](grpc::Status s) {
            const absl::Time end = absl::Now();
            MutexLock lock(&mu_);
            c->latency = end - c->start;
            c->code = s.error_code();
            ++answered_;
            last_answer_ = std::max(last_answer_, end);
          });
    }
  }

  // Cancels the calls still waiting (with `cancel`), then waits for every
  // answer. Returns when the last one came.
  absl::Time Await(bool cancel) {
    if (cancel) {
      for (auto& call : calls_) call->context.TryCancel();
    }
    MutexLock lock(&mu_);
    auto all = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return answered_ == static_cast<int>(calls_.size());
    };
    mu_.Await(absl::Condition(&all));
    return last_answer_;
  }

  int answered() const {
    MutexLock lock(&mu_);
    return answered_;
  }

  // After Await(): the calls' latencies in ms, sorted, and the failures as
  // a JSON object of status code -> count.
  std::vector<double> SortedMs() const {
    std::vector<double> ms;
    for (const auto& call : calls_) {
      ms.push_back(absl::ToDoubleMilliseconds(call->latency));
    }
    std::sort(ms.begin(), ms.end());
    return ms;
  }
  int failed() const {
    return std::count_if(calls_.begin(), calls_.end(), [](const auto& call) {
      return call->code != grpc::StatusCode::OK;
    });
  }
  std::string ErrorsJson() const {
    std::map<int, int> counts;
    for (const auto& call : calls_) {
      if (call->code != grpc::StatusCode::OK) ++counts[call->code];
    }
    return absl::StrCat(
        "{",
        absl::StrJoin(counts, ",",
                      [](std::string* out, const std::pair<int, int>& entry) {
                        absl::StrAppend(out, "\"", entry.first,
                                        "\":", entry.second);
                      }),
        "}");
  }

 private:
  std::vector<std::unique_ptr<Call>> calls_;
  mutable Mutex mu_;
  int answered_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_answer_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// The quantile `q` of sorted `ms`.
double Quantile(const std::vector<double>& ms, double q) {
  return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
}

// {{prefix + "0"}, {prefix + "1"}, ...}, each also holding `extra` if set.
std::vector<std::vector<std::string>> ScopeSets(int n,
                                                const std::string& prefix,
                                                const std::string& extra = "") {
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < n; ++i) {
    sets.push_back({absl::StrCat(prefix, i)});
    if (!extra.empty()) sets.back().push_back(extra);
  }
  return sets;
}

// Waits until the fake holds `expected` hung requests, or until their
// number, once above zero, stays put for kSettled, or until `deadline`.
// Returns the number.
int AwaitHungSettled(const FakeMyposServer& fake, int expected,
                     absl::Time deadline) {
  int seen = fake.hung_requests();
  while (absl::Now() < deadline &&
         !fake.AwaitHungRequests(expected,
                                 std::min(deadline, absl::Now() + kSettled))) {
    const int now = fake.hung_requests();
    if (now > 0 && now == seen) break;
    seen = now;
  }
  return fake.hung_requests();
}

// Threads of this process, and its resident set in KiB (-1 if unreadable).
int ThreadCount() {
  std::filesystem::directory_iterator tasks("/proc/self/task");
  return static_cast<int>(std::distance(tasks, {}));
}
long RssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// The fake, TokenServer configured by its flags, and connected stubs for
// `calls` calls at once.
struct Setup {
  std::unique_ptr<FakeMyposServer> fake;
  std::unique_ptr<TokenServer> server;
  Stubs stubs;
};

absl::StatusOr<Setup> Start(int calls) {
  Setup setup;
  FakeMyposServer::Options fake_options;
  fake_options.clients = {{"client", "secret"}};
  fake_options.latency = absl::GetFlag(FLAGS_latency);
  fake_options.hang_scope = kHangScope;
  fake_options.worker_threads = calls + absl::GetFlag(FLAGS_hung) + 100;
  setup.fake = std::make_unique<FakeMyposServer>(std::move(fake_options));
  if (auto port = setup.fake->Start(); !port.ok()) return port.status();
  absl::StatusOr<ServerConfig> config =
      ConfigFromFlags([](const char* name) -> const char* {
        const std::string var = name;
        if (var == "MYPOS_CLIENT_ID") return "client";
        if (var == "MYPOS_CLIENT_SECRET") return "secret";
        return nullptr;
      });
  if (!config.ok()) return config.status();
  config->listen_address = "127.0.0.1:0";
  config->admin_listen_address.clear();
  config->token_url = setup.fake->BaseUrl() + "/oauth/token";
  config->revoke_url = setup.fake->BaseUrl() + "/oauth/revoke";
  auto server = TokenServer::Start(*config);
  if (!server.ok()) return server.status();
  setup.server = *std::move(server);
  // One connection per max_concurrent_streams calls, each its own.
  const int streams = config->grpc.max_concurrent_streams;
  const int channels = std::max(1, (calls + streams - 1) / streams);
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", setup.server->port()),
        grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(
            absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
      return absl::UnavailableError("cannot connect to TokenServer");
    }
    setup.stubs.push_back(v1::TokenService::NewStub(channel));
  }
  return setup;
}

// Stops the fake first, so that upstream requests still held end at once.
void Finish(Setup& setup) {
  setup.fake->Stop();
  setup.server->Shutdown(absl::Now());
  setup.stubs.clear();
  setup.server.reset();
}

int Fanout(Setup& setup, int keys) {
  CallBatch batch(ScopeSets(keys, "s"), absl::GetFlag(FLAGS_call_deadline));
  const absl::Time first_send = absl::Now();
  batch.Send(setup.stubs);
  const absl::Time last_answer = batch.Await(/*cancel=*/false);
  const std::vector<double> ms = batch.SortedMs();
  std::printf(
      "{\"mode\":\"fanout\",\"keys\":%d,\"latency_ms\":%.0f,\"failed\":%d,"
      "\"errors\":%s,\"wall_ms\":%.1f,\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
      "\"max_ms\":%.1f,\"upstream_requests\":%d}\n",
      keys, absl::ToDoubleMilliseconds(absl::GetFlag(FLAGS_latency)),
      batch.failed(), batch.ErrorsJson().c_str(),
      absl::ToDoubleMilliseconds(last_answer - first_send), Quantile(ms, 0.5),
      Quantile(ms, 0.99), ms.back(), setup.fake->token_requests());
  return batch.failed() == 0 ? 0 : 1;
}

int Isolation(Setup& setup, int hung) {
  const absl::Duration deadline = absl::GetFlag(FLAGS_call_deadline);
  CallBatch hung_calls(ScopeSets(hung, "h", kHangScope), deadline);
  hung_calls.Send(setup.stubs);
  const int held = AwaitHungSettled(*setup.fake, hung, absl::Now() + deadline);
  CallBatch miss({{"miss"}}, deadline);
  miss.Send(setup.stubs);
  miss.Await(/*cancel=*/false);
  const int hung_answered = hung_calls.answered();
  hung_calls.Await(/*cancel=*/true);
  std::printf(
      "{\"mode\":\"isolation\",\"hung\":%d,\"hung_at_fake\":%d,"
      "\"hung_answered_before_miss\":%d,\"latency_ms\":%.0f,\"miss_ms\":%.1f,"
      "\"failed\":%d,\"errors\":%s,\"hung_errors\":%s,"
      "\"hung_requests_total\":%d}\n",
      hung, held, hung_answered,
      absl::ToDoubleMilliseconds(absl::GetFlag(FLAGS_latency)),
      miss.SortedMs().back(), miss.failed(), miss.ErrorsJson().c_str(),
      hung_calls.ErrorsJson().c_str(), setup.fake->hung_requests());
  return miss.failed() == 0 ? 0 : 1;
}

int Inflight(Setup& setup, int keys) {
  const int threads_before = ThreadCount();
  const long rss_before_kb = RssKb();
  const absl::Duration deadline = absl::GetFlag(FLAGS_call_deadline);
  CallBatch batch(ScopeSets(keys, "k", kHangScope), deadline);
  batch.Send(setup.stubs);
  const int held = AwaitHungSettled(*setup.fake, keys, absl::Now() + deadline);
  const int threads_during = ThreadCount();
  const long rss_during_kb = RssKb();
  const int answered = batch.answered();
  batch.Await(/*cancel=*/true);
  std::printf(
      "{\"mode\":\"inflight\",\"keys\":%d,\"in_flight_at_fake\":%d,"
      "\"answered_meanwhile\":%d,\"threads_before\":%d,\"threads_during\":%d,"
      "\"rss_before_kb\":%ld,\"rss_during_kb\":%ld}\n",
      keys, held, answered, threads_before, threads_during, rss_before_kb,
      rss_during_kb);
  return 0;
}

int Run() {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  int keys = absl::GetFlag(FLAGS_keys);
  if (keys <= 0) keys = mode == "inflight" ? 1000 : 200;
  const int hung = absl::GetFlag(FLAGS_hung);
  if (mode != "fanout" && mode != "isolation" && mode != "inflight") {
    std::fprintf(stderr, "--mode: fanout, isolation or inflight\n");
    return 2;
  }
  absl::StatusOr<Setup> setup = Start(mode == "isolation" ? hung + 1 : keys);
  if (!setup.ok()) {
    std::fprintf(stderr, "upstream_benchmark: %s\n",
                 std::string(setup.status().message()).c_str());
    return 1;
  }
  int rc = 0;
  if (mode == "fanout") rc = Fanout(*setup, keys);
  if (mode == "isolation") rc = Isolation(*setup, hung);
  if (mode == "inflight") rc = Inflight(*setup, keys);
  std::fflush(stdout);
  Finish(*setup);
  return rc;
}

}  // namespace
}  // namespace tokenservice

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As token_server does: Debian's Abseil checks every lock otherwise.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  tokenservice::SetMinLogLevel(tokenservice::LogLevel::kError);
  return tokenservice::Run();
}
