// Metrics: TokenService's counters and histograms, rendered in the
// Prometheus text format for the admin port's /metrics.
//
// Recording is lock-free (relaxed atomics in fixed arrays), so the cache-hit
// path pays a few increments. Label sets are small and fixed: RPC method x
// gRPC code, upstream request kind x outcome code. Token values never appear;
// tokens are named by fingerprint.

#ifndef SERVER_OPS_METRICS_H_
#define SERVER_OPS_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/token_service.pb.h"

namespace tokenservice {

// A latency histogram with fixed buckets from 0.5 ms to 10 s. Thread-safe.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,  0.5,    1,     2.5,  5,     10};

  void Observe(absl::Duration latency);
  // Appends _bucket, _sum and _count lines for `name{labels}`.
  void Render(absl::string_view name, absl::string_view labels,
              std::string* out) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};
};

enum class RpcMethod {
  kIssue,
  kRevoke,
  kGetTokenInfo,
  kListTokens,
  kExchangeGrant
};
inline constexpr int kRpcMethods = 5;
// The method's name as in the proto ("Issue", ...).
const char* RpcMethodName(RpcMethod method);
// What a request to myPOS was for: a client-credentials token, a
// revocation, or a user's grant exchanged (label kind="token", "revoke",
// "grant").
enum class UpstreamKind { kToken, kRevoke, kGrant };
inline constexpr int kUpstreamKinds = 3;

// Thread-safe.
class Metrics {
 public:
  void RecordRpc(RpcMethod method, absl::StatusCode code,
                 absl::Duration latency);
  void RecordCacheHit() { Add(cache_hits_); }
  void RecordCacheMiss() { Add(cache_misses_); }
  void RecordBackgroundRefresh() { Add(background_refreshes_); }
  // A fetch not sent to myPOS because every caller had left first.
  void RecordAbandonedFetch() { Add(abandoned_fetches_); }
  void RecordUpstream(UpstreamKind kind, absl::StatusCode code,
                      absl::Duration latency);
  // Callers waiting on a shared fetch: +n when they join, -n when served.
  void AddWaiters(int64_t n) {
    waiters_.fetch_add(n, std::memory_order_relaxed);
  }
  // A token handed out with less validity than asked for. Must stay zero.
  void RecordShortValidity() { Add(short_validity_); }

  // The exposition text; `tokens` (from the cache) give the remaining
  // lifetime gauges of tokens that are not revoked.
  std::string Render(const std::vector<mypos::token::v1::TokenInfo>& tokens,
                     absl::Time now) const;

 private:
  static constexpr int kCodes = 17;
  static void Add(std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  std::array<std::array<std::atomic<uint64_t>, kCodes>, kRpcMethods> rpcs_{};
  std::array<LatencyHistogram, kRpcMethods> rpc_latency_;
  std::array<std::array<std::atomic<uint64_t>, kCodes>, kUpstreamKinds>
      upstream_{};
  std::array<LatencyHistogram, kUpstreamKinds> upstream_latency_;
  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> cache_misses_{0};
  std::atomic<uint64_t> background_refreshes_{0};
  std::atomic<uint64_t> abandoned_fetches_{0};
  std::atomic<uint64_t> short_validity_{0};
  std::atomic<int64_t> waiters_{0};
};

}  // namespace tokenservice

#endif  // SERVER_OPS_METRICS_H_
