// load_generator: a closed-loop gRPC load generator for TokenService's
// Issue and the echo baseline. `--concurrency` calls are kept in flight on
// the callback API for `--duration` (after `--warmup`), and it prints one
// JSON line: QPS and latency percentiles. Any failed call makes it exit 1.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/echo.grpc.pb.h"
#include "proto/token_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Server, HOST:PORT.");
ABSL_FLAG(std::string, rpc, "issue", "issue or echo.");
ABSL_FLAG(int, concurrency, 16, "Calls kept in flight.");
ABSL_FLAG(int, channels, 4, "Channels (connections) the calls spread over.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2), "Unmeasured start.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Measured time.");
ABSL_FLAG(int64_t, calls, 0,
          "When above 0: make exactly this many calls (all measured), "
          "ignoring --warmup and --duration.");
ABSL_FLAG(std::string, scope, "webhooks", "Scope to Issue for.");
ABSL_FLAG(int, request_bytes, 10, "Echo request payload size.");
ABSL_FLAG(int, response_bytes, 200, "Echo response payload size.");

namespace {

namespace v1 = ::mypos::token::v1;
namespace bench = ::tokenservice::bench;

class Runner {
 public:
  Runner() {
    for (int i = 0; i < absl::GetFlag(FLAGS_channels); ++i) {
      grpc::ChannelArguments args;
      args.SetInt("tokenservice.bench.channel", i);  // one connection each
      auto channel =
          grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                    grpc::InsecureChannelCredentials(), args);
      issue_.push_back(v1::TokenService::NewStub(channel));
      echo_.push_back(bench::Echo::NewStub(channel));
    }
    issue_request_.add_scopes(absl::GetFlag(FLAGS_scope));
    echo_request_.set_payload(
        std::string(absl::GetFlag(FLAGS_request_bytes), 'x'));
    echo_request_.set_response_bytes(absl::GetFlag(FLAGS_response_bytes));
  }

  // Runs the load and returns latencies (ns) of the calls measured.
  std::vector<int64_t> Run(int concurrency) {
    calls_left_ = absl::GetFlag(FLAGS_calls);
    if (calls_left_ > 0) {
      measure_from_ = absl::Now();
      end_ = absl::InfiniteFuture();
    } else {
      measure_from_ = absl::Now() + absl::GetFlag(FLAGS_warmup);
      end_ = measure_from_ + absl::GetFlag(FLAGS_duration);
    }
    samples_.resize(concurrency);
    active_ = concurrency;
    for (int slot = 0; slot < concurrency; ++slot) Next(slot);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return active_ == 0; });
    std::vector<int64_t> all;
    for (auto& s : samples_) all.insert(all.end(), s.begin(), s.end());
    return all;
  }

  int64_t errors() const { return errors_; }
  size_t response_bytes() const { return response_bytes_; }
  const std::string& first_error() const { return first_error_; }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::IssueResponse issue;
    bench::EchoResponse echo;
    absl::Time start;
  };

  void Next(int slot) {
    const bool counted = absl::GetFlag(FLAGS_calls) > 0;
    if (counted ? calls_left_.fetch_sub(1) <= 0 : absl::Now() >= end_) {
      std::lock_guard<std::mutex> lock(mu_);
      if (--active_ == 0) done_.notify_one();
      return;
    }
    auto* call = new Call;
    call->start = absl::Now();
    const size_t channel = slot % issue_.size();
    auto done = [this, call, slot](grpc::Status status) {
      Finish(call, slot, status);
    };
    if (absl::GetFlag(FLAGS_rpc) == "echo") {
      echo_[channel]->async()->Echo(&call->context, &echo_request_, &call->echo,
                                    std::move(done));
    } else {
      issue_[channel]->async()->Issue(&call->context, &issue_request_,
                                      &call->issue, std::move(done));
    }
  }

  void Finish(Call* call, int slot, const grpc::Status& status) {
    const absl::Time now = absl::Now();
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (errors_++ == 0) {
        first_error_ =
            absl::StrCat(status.error_code(), " ", status.error_message());
      }
    } else if (call->start >= measure_from_ && now <= end_) {
      samples_[slot].push_back(absl::ToInt64Nanoseconds(now - call->start));
      if (response_bytes_ == 0) {
        response_bytes_ =
            call->issue.ByteSizeLong() + call->echo.ByteSizeLong();
      }
    }
    delete call;
    Next(slot);
  }

  std::vector<std::unique_ptr<v1::TokenService::Stub>> issue_;
  std::vector<std::unique_ptr<bench::Echo::Stub>> echo_;
  v1::IssueRequest issue_request_;
  bench::EchoRequest echo_request_;
  absl::Time measure_from_;
  absl::Time end_;
  std::atomic<int64_t> calls_left_{0};
  std::vector<std::vector<int64_t>> samples_;
  std::atomic<size_t> response_bytes_{0};
  std::mutex mu_;
  std::condition_variable done_;
  int active_ = 0;
  int64_t errors_ = 0;
  std::string first_error_;
};

double Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i =
      std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()));
  return sorted[i] / 1000.0;  // microseconds
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  Runner runner;
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const absl::Time start = absl::Now();
  std::vector<int64_t> latencies = runner.Run(concurrency);
  std::sort(latencies.begin(), latencies.end());
  const double seconds =
      absl::GetFlag(FLAGS_calls) > 0
          ? absl::ToDoubleSeconds(absl::Now() - start)
          : absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration));
  std::printf(
      "{\"rpc\":\"%s\",\"concurrency\":%d,\"calls\":%zu,\"errors\":%lld,"
      "\"qps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
      "\"p999_us\":%.1f,\"response_bytes\":%zu}\n",
      absl::GetFlag(FLAGS_rpc).c_str(), concurrency, latencies.size(),
      static_cast<long long>(runner.errors()), latencies.size() / seconds,
      Percentile(latencies, 0.5), Percentile(latencies, 0.9),
      Percentile(latencies, 0.99), Percentile(latencies, 0.999),
      runner.response_bytes());
  if (runner.errors() > 0 || latencies.empty()) {
    std::fprintf(stderr, "load_generator: %lld calls failed; first: %s\n",
                 static_cast<long long>(runner.errors()),
                 runner.first_error().c_str());
    return 1;
  }
  return 0;
}
