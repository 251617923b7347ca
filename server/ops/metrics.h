// Metrics: TokenService's own counters, gauges and histograms, kept in a
// prometheus-cpp registry and rendered in the Prometheus text format for
// the admin port's /metrics, together with whatever else registers there
// (the gRPC server's families, server/rpc/grpc_server_metrics.h) and the
// families computed at each scrape: token expiry, process and build info.
//
// Every series is created when the Metrics is, so recording is a lookup-free
// atomic add (a histogram adds under its own short lock). Label sets are
// small and fixed: upstream request kind x outcome code, endpoint x HTTP
// status class x reason, profile x scopes. Token values never appear, nor do
// fingerprints (a label per token would churn on every refresh).

#ifndef SERVER_OPS_METRICS_H_
#define SERVER_OPS_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "proto/token_service.pb.h"

namespace tokenservice {

// The bounds of every latency histogram, in seconds: 25 us to 10 s, so that
// a cache hit (tens to hundreds of microseconds) lands in a bucket of its
// own rather than below the first.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

// What a request to myPOS was for: a client-credentials token, a
// revocation, or a user's grant exchanged (label kind="token", "revoke",
// "grant").
enum class UpstreamKind { kToken, kRevoke, kGrant };
inline constexpr int kUpstreamKinds = 3;
// Which myPOS endpoint an HTTP attempt went to (label endpoint="token",
// "revoke"; a grant exchange goes to the token endpoint).
enum class UpstreamEndpoint { kToken, kRevoke };
inline constexpr int kUpstreamEndpoints = 2;

// Thread-safe.
class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void RecordCacheHit() { cache_hits_->Increment(); }
  void RecordCacheMiss() { cache_misses_->Increment(); }
  void RecordBackgroundRefresh() { background_refreshes_->Increment(); }
  // A fetch not sent to myPOS because every caller had left first.
  void RecordAbandonedFetch() { abandoned_fetches_->Increment(); }
  // One call to myPOS as the broker saw it, retries included.
  void RecordUpstream(UpstreamKind kind, absl::StatusCode code,
                      absl::Duration latency);
  // One HTTP attempt (a retry is another): the reply's HTTP status (0 when
  // none arrived) and the ErrorInfo reason its outcome maps to ("" when it
  // succeeded).
  void RecordUpstreamAttempt(UpstreamEndpoint endpoint, int http_status,
                             absl::string_view reason);
  // Callers waiting on a shared fetch: +n when they join, -n when served.
  void AddWaiters(int64_t n) { waiters_->Increment(static_cast<double>(n)); }
  // A token handed out with less validity than asked for. Must stay zero.
  void RecordShortValidity() { short_validity_->Increment(); }
  // Whether the server reports SERVING (false before it starts and once it
  // drains).
  void SetServing(bool serving) { serving_->Set(serving ? 1 : 0); }

  // Where other layers register their families (the gRPC server's).
  prometheus::Registry& registry() { return *registry_; }

  // The exposition text: every registered family, then the expiry of the
  // tokens in `tokens` (from the cache) that are neither revoked nor
  // expired at `now`, the process's figures and the build's version.
  std::string Render(const std::vector<mypos::token::v1::TokenInfo>& tokens,
                     absl::Time now) const;

 private:
  static constexpr int kCodes = 17;

  const std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* cache_hits_;
  prometheus::Counter* cache_misses_;
  prometheus::Counter* background_refreshes_;
  prometheus::Counter* abandoned_fetches_;
  prometheus::Counter* short_validity_;
  prometheus::Gauge* waiters_;
  prometheus::Gauge* serving_;
  std::array<std::array<prometheus::Counter*, kCodes>, kUpstreamKinds>
      upstream_{};
  std::array<prometheus::Histogram*, kUpstreamKinds> upstream_latency_{};
  prometheus::Family<prometheus::Counter>* attempts_;
};

}  // namespace tokenservice

#endif  // SERVER_OPS_METRICS_H_
