// TokenBroker under contention: many threads issuing, reporting rejections
// and revoking across many keys at once, with answers from myPOS arriving
// on other threads. Run it under
// ThreadSanitizer with `bazel test --config=tsan //tests/server/...`.

#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "base/mutex.h"
#include "base/timers.h"
#include "gtest/gtest.h"
#include "server/broker/token_broker.h"
#include "tests/base/fake_clock.h"

namespace tokenservice {
namespace {

constexpr int kKeys = 8;
constexpr int kThreads = 8;
constexpr int kRounds = 50;

// Issues distinct tokens and counts requests per scope set, answering on
// `answers`'s thread (as the transport would, on its own). Thread-safe.
class CountingUpstream : public OAuthClient {
 public:
  explicit CountingUpstream(Timers* answers) : answers_(answers) {}

  void FetchToken(const ClientCredentials&,
                  const std::vector<std::string>& scopes, const RequestOptions&,
                  TokenCallback done) override {
    Answer([this, scope = scopes.at(0), done = std::move(done)]() mutable {
      int n = 0;
      {
        MutexLock lock(&mu_);
        n = ++fetches_[scope];
      }
      UpstreamToken token;
      token.access_token = absl::StrCat("tok-", scope, "-", n);
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

  void RevokeToken(const ClientCredentials&, absl::string_view token,
                   const RequestOptions&, StatusCallback done) override {
    Answer(
        [this, token = std::string(token), done = std::move(done)]() mutable {
          {
            MutexLock lock(&mu_);
            ++revokes_[token];
          }
          std::move(done)(absl::OkStatus());
        });
  }

  int fetches(const std::string& scope) const {
    MutexLock lock(&mu_);
    auto it = fetches_.find(scope);
    return it == fetches_.end() ? 0 : it->second;
  }

  int revokes(const std::string& token) const {
    MutexLock lock(&mu_);
    auto it = revokes_.find(token);
    return it == revokes_.end() ? 0 : it->second;
  }

 private:
  void Answer(Timers::Task task) {
    answers_->RunAt(absl::InfinitePast(), std::move(task));
  }

  Timers* const answers_;
  mutable Mutex mu_;
  std::map<std::string, int> fetches_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> revokes_ ABSL_GUARDED_BY(mu_);
};

std::string Scope(int key) { return absl::StrCat("k", key); }

class TokenBrokerConcurrencyTest : public ::testing::Test {
 protected:
  TokenBrokerConcurrencyTest()
      : credentials_("default", {{"default", {"id", "secret"}}}),
        broker_(*TokenBroker::Create(BrokerOptions{}, &credentials_, &upstream_,
                                     &timers_, &clock_)) {}

  // Issues for `key` and waits for the answer.
  std::string Issue(int key, const std::string& rejected = "") {
    IssueParams params;
    params.scopes = {Scope(key)};
    params.rejected_fingerprint = rejected;
    std::promise<std::string> done;
    broker_->Issue(params, [&done](absl::StatusOr<IssuedToken> r) {
      done.set_value(r.ok() ? r->token->access_token : r.status().ToString());
    });
    return done.get_future().get();
  }

  absl::StatusCode Revoke(const std::string& fingerprint) {
    RevokeParams params;
    params.fingerprint = fingerprint;
    std::promise<absl::StatusCode> done;
    broker_->Revoke(params, [&done](absl::StatusOr<RevokeResult> r) {
      done.set_value(r.status().code());
    });
    return done.get_future().get();
  }

  // Runs `body(thread, key)` for every key from kThreads threads at once and
  // returns every result, by key.
  std::map<int, std::set<std::string>> Hammer(
      const std::function<std::string(int, int)>& body) {
    std::vector<std::map<int, std::set<std::string>>> seen(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0; round < kRounds; ++round) {
          const int key = (t + round) % kKeys;
          seen[t][key].insert(body(t, key));
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    std::map<int, std::set<std::string>> all;
    for (auto& per_thread : seen) {
      for (auto& [key, values] : per_thread) {
        all[key].insert(values.begin(), values.end());
      }
    }
    return all;
  }

  FakeClock clock_;
  ThreadTimers timers_;
  ThreadTimers answers_;  // "myPOS" answers on this thread
  CountingUpstream upstream_{&answers_};
  CredentialStore credentials_;
  std::unique_ptr<TokenBroker> broker_;
};

TEST_F(TokenBrokerConcurrencyTest, OneFetchPerKeyPerRefreshUnderContention) {
  // Cold keys, hammered: one fetch each, one token each.
  auto issued = Hammer([this](int, int key) { return Issue(key); });
  for (int key = 0; key < kKeys; ++key) {
    EXPECT_EQ(upstream_.fetches(Scope(key)), 1) << key;
    EXPECT_EQ(issued[key], std::set<std::string>{Issue(key)}) << key;
  }

  // Everyone reports every key's token as rejected: one refresh per key.
  auto refreshed = Hammer([this](int, int key) {
    return Issue(key, Fingerprint(absl::StrCat("tok-", Scope(key), "-1")));
  });
  for (int key = 0; key < kKeys; ++key) {
    EXPECT_EQ(upstream_.fetches(Scope(key)), 2) << key;
    EXPECT_EQ(refreshed[key],
              std::set<std::string>{absl::StrCat("tok-", Scope(key), "-2")});
  }

  // Revokes and issues race: each token is revoked at myPOS, evicted once,
  // and replaced by exactly one new fetch.
  Hammer([this](int thread, int key) {
    if (thread % 2 == 0) {
      return std::string(absl::StatusCodeToString(
          Revoke(Fingerprint(absl::StrCat("tok-", Scope(key), "-2")))));
    }
    return Issue(key);
  });
  for (int key = 0; key < kKeys; ++key) {
    const std::string revoked = absl::StrCat("tok-", Scope(key), "-2");
    EXPECT_GE(upstream_.revokes(revoked), 1) << key;
    EXPECT_EQ(Issue(key), absl::StrCat("tok-", Scope(key), "-3")) << key;
    EXPECT_EQ(upstream_.fetches(Scope(key)), 3) << key;
  }
}

}  // namespace
}  // namespace tokenservice
