// memory_benchmark: resident memory per cached token. Fills a TokenBroker
// with --entries tokens for caller-supplied credentials (each its own cache
// entry) and prints the growth of the process's resident set per entry.
//
//   bazel run -c opt //bench:memory_benchmark -- --entries=100000

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/timers.h"
#include "server/broker/credential_store.h"
#include "server/broker/token_broker.h"
#include "server/ops/log.h"
#include "tests/server/ops/manual_executor.h"

ABSL_FLAG(int, entries, 100000, "Cached tokens to create.");

namespace tokenservice {
namespace {

// Issues a distinct 40-character token per call, as myPOS would, answering
// when `executor` runs.
class CountingUpstream : public OAuthClient {
 public:
  explicit CountingUpstream(ManualExecutor* executor) : executor_(executor) {}

  void FetchToken(const ClientCredentials&, const std::vector<std::string>&,
                  const RequestOptions&, TokenCallback done) override {
    UpstreamToken token;
    token.access_token =
        absl::StrCat("tok-", ++n_, std::string(32, 'x')).substr(0, 40);
    token.token_type = "Bearer";
    token.expires_in = absl::Hours(1);
    token.scopes = {"webhooks"};
    executor_->Schedule(
        [token = std::move(token), done = std::move(done)]() mutable {
          std::move(done)(std::move(token));
        });
  }
  void ExchangeGrant(const ClientCredentials&, const UserGrant&,
                     const RequestOptions&, TokenCallback done) override {
    executor_->Schedule([done = std::move(done)]() mutable {
      std::move(done)(absl::UnimplementedError("not used here"));
    });
  }
  void RevokeToken(const ClientCredentials&, absl::string_view,
                   const RequestOptions&, StatusCallback done) override {
    executor_->Schedule([done = std::move(done)]() mutable {
      std::move(done)(absl::OkStatus());
    });
  }

 private:
  ManualExecutor* const executor_;
  int n_ = 0;
};

long ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace
}  // namespace tokenservice

int main(int argc, char** argv) {
  using namespace tokenservice;
  absl::ParseCommandLine(argc, argv);
  const int entries = absl::GetFlag(FLAGS_entries);
  SystemClock clock;
  ManualExecutor executor;  // RunAll() after each Issue
  ThreadTimers timers;
  CountingUpstream upstream(&executor);
  CredentialStore credentials("default", {{"default", {"id", "s"}}});
  BrokerOptions options;
  options.max_caller_credential_tokens = entries;
  options.max_cached_tokens = entries;
  std::unique_ptr<TokenBroker> owned =
      *TokenBroker::Create(options, &credentials, &upstream, &timers, &clock);
  TokenBroker& broker = *owned;
  SetMinLogLevel(LogLevel::kWarning);
  const long before = ResidentBytes();
  for (int i = 0; i < entries; ++i) {
    IssueParams params;
    params.scopes = {"webhooks"};
    params.caller_credentials =
        ClientCredentials{absl::StrCat("tenant-", i), "tenant-secret"};
    broker.Issue(std::move(params), [](absl::StatusOr<IssuedToken>) {});
    executor.RunAll();
  }
  const long after = ResidentBytes();
  std::printf(
      "{\"entries\":%d,\"resident_growth_bytes\":%ld,\"bytes_per_entry\":%.0f}"
      "\n",
      entries, after - before, static_cast<double>(after - before) / entries);
  return 0;
}
