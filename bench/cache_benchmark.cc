// Microbenchmarks of the cache-hit path: TokenCache::Lookup alone, and a
// whole TokenBroker::Issue answered from the cache, with 1 and 2 threads.
//
//   bazel run -c opt //bench:cache_benchmark

#include <memory>
#include <string>

#include "base/clock.h"
#include "base/fingerprint.h"
#include "base/timers.h"
#include "benchmark/benchmark.h"
#include "server/broker/credential_store.h"
#include "server/broker/token_broker.h"
#include "server/broker/token_cache.h"

namespace tokenservice {
namespace {

std::shared_ptr<const CachedToken> Token() {
  auto token = std::make_shared<CachedToken>();
  token->credential = "default";
  token->access_token = std::string(40, 't');
  token->token_type = "Bearer";
  token->fingerprint = Fingerprint(token->access_token);
  token->scopes = {"webhooks"};
  token->issue_time = absl::Now();
  token->expire_time = token->issue_time + absl::Hours(1);
  token->refresh_time = token->issue_time + absl::Minutes(45);
  token->default_min_validity = absl::Minutes(1);
  return token;
}

void BM_CacheLookupHit(benchmark::State& state) {
  static TokenCache* cache = [] {
    static SystemClock clock;
    static LocalRevocationList revocations(&clock);
    auto* c = new TokenCache(&revocations);
    c->Put(CacheKey("default", {"webhooks"}), Token());
    return c;
  }();
  const std::string key = CacheKey("default", {"webhooks"});
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(cache->Lookup(key, now, std::nullopt));
  }
}
BENCHMARK(BM_CacheLookupHit)->Threads(1)->Threads(2);

// Called once: every Issue below is a cache hit after the first. Answers
// on `answers`'s thread.
class OneTokenUpstream : public OAuthClient {
 public:
  explicit OneTokenUpstream(Timers* answers) : answers_(answers) {}
  void FetchToken(const ClientCredentials&, const std::vector<std::string>&,
                  const RequestOptions&, TokenCallback done) override {
    Answer([done = std::move(done)]() mutable {
      UpstreamToken token;
      token.access_token = std::string(40, 't');
      token.token_type = "Bearer";
      token.expires_in = absl::Hours(1);
      std::move(done)(std::move(token));
    });
  }
  void ExchangeGrant(const ClientCredentials&, const UserGrant&,
                     const RequestOptions&, TokenCallback done) override {
    Answer([done = std::move(done)]() mutable {
      std::move(done)(absl::UnimplementedError("not used here"));
    });
  }
  void RevokeToken(const ClientCredentials&, absl::string_view,
                   const RequestOptions&, StatusCallback done) override {
    Answer([done = std::move(done)]() mutable {
      std::move(done)(absl::OkStatus());
    });
  }

 private:
  void Answer(Timers::Task task) {
    answers_->RunAt(absl::InfinitePast(), std::move(task));
  }
  Timers* const answers_;
};

void BM_BrokerIssueHit(benchmark::State& state) {
  static SystemClock clock;
  static ThreadTimers timers;
  static OneTokenUpstream upstream(&timers);
  static CredentialStore credentials("default", {{"default", {"id", "s"}}});
  static TokenBroker* broker = [] {
    TokenBroker* b = TokenBroker::Create(BrokerOptions{}, &credentials,
                                         &upstream, &timers, &clock)
                         ->release();
    IssueParams params;
    params.scopes = {"webhooks"};
    b->Issue(params, [](absl::StatusOr<IssuedToken>) {});
    return b;
  }();
  // Wait for the first fetch to land.
  bool cached = false;
  while (!cached) {
    IssueParams params;
    params.scopes = {"webhooks"};
    broker->Issue(params, [&cached](absl::StatusOr<IssuedToken> r) {
      cached = r.ok() && r->cached;
    });
  }
  for (auto _ : state) {
    IssueParams params;
    params.scopes = {"webhooks"};
    broker->Issue(std::move(params), [](absl::StatusOr<IssuedToken> r) {
      benchmark::DoNotOptimize(r);
    });
  }
}
BENCHMARK(BM_BrokerIssueHit)->Threads(1)->Threads(2);

}  // namespace
}  // namespace tokenservice

BENCHMARK_MAIN();
