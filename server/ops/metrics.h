// Metrics: TokenService's own counters, gauges and histograms, kept in a
// prometheus-cpp registry and rendered in the Prometheus text format for
// the admin port's /metrics, together with whatever else registers there
// (the gRPC server's families, server/rpc/grpc_server_metrics.h) and the
// families computed at each scrape: token expiry, process and build info.
//
// The hot path's series (cache hits and misses) exist from the start, so
// recording one is a lookup-free atomic add. The upstream families, recorded
// once per call to myPOS, look their series up by label: profile x kind x
// outcome code (a profile's whole block created, at zero, the first time it
// is named), upstream endpoint x HTTP status class x reason. Every label set
// is small and bounded: profiles come from the configuration, reasons from
// our fixed set. Token values never appear, nor do fingerprints (a label per
// token would churn on every refresh).

#ifndef SERVER_OPS_METRICS_H_
#define SERVER_OPS_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
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
// Which myPOS endpoint an HTTP attempt went to (label
// upstream_endpoint="token", "revoke"; a grant exchange goes to the token
// endpoint). Not "endpoint": the Prometheus Operator sets that label on
// every scraped series.
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
  // Creates `profile`'s upstream request series, every kind and code at
  // zero, so that rate() and alerts see a 0 before its first failure. The
  // server names every configured profile at startup; RecordUpstream names
  // one it has not seen.
  void AddProfile(absl::string_view profile) ABSL_LOCKS_EXCLUDED(mu_);
  // One call to myPOS for `profile` as the broker saw it, retries included.
  void RecordUpstream(UpstreamKind kind, absl::string_view profile,
                      absl::StatusCode code, absl::Duration latency)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One HTTP attempt (a retry is another): the reply's HTTP status (0 when
  // none arrived) and its outcome, counted by the outcome's ErrorInfo
  // reason ("OK" when it succeeded, "UNKNOWN" when it failed with none).
  void RecordUpstreamAttempt(UpstreamEndpoint endpoint, int http_status,
                             const absl::Status& outcome);
  // Callers waiting on a shared fetch: +n when they join, -n when served.
  void AddWaiters(int64_t n) { waiters_->Increment(static_cast<double>(n)); }
  // A token handed out with less validity than asked for. Must stay zero.
  void RecordShortValidity() { short_validity_->Increment(); }
  // Whether the server reports SERVING (false before it starts and once it
  // drains).
  void SetServing(bool serving) { serving_->Set(serving ? 1 : 0); }

  // Fleet mode: sets tokenservice_fleet_connected (1 while this replica
  // watches etcd; 0: degraded), tokenservice_fleet_replicas (the live
  // replicas it sees, itself included) and
  // tokenservice_fleet_unshared_revocations (revocations made here that
  // etcd has not received yet). The families exist from the first call;
  // the server calls it at every scrape.
  void SetFleetStatus(bool connected, int replicas, size_t unshared)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Fleet mode: tokenservice_fleet_key{key_id} is 1 for every key this
  // replica has loaded from --fleet_keys_dir (a key rotation waits until
  // every replica has the new one), and tokenservice_fleet_active_key
  // {key_id} is 1 for the one its new writes use.
  void SetFleetKeys(const std::vector<std::string>& ids,
                    const std::string& active) ABSL_LOCKS_EXCLUDED(mu_);

  // Where other layers register their families (the gRPC server's).
  prometheus::Registry& registry() { return *registry_; }

  // The exposition text: every registered family, then the expiry of the
  // tokens in `tokens` (from the cache) that are neither revoked nor
  // expired at `now`, the process's figures and the build's version.
  std::string Render(const std::vector<mypos::token::v1::TokenInfo>& tokens,
                     absl::Time now) const;

 private:
  static constexpr int kCodes = 17;
  // One profile's tokenservice_upstream_requests_total series.
  using UpstreamSeries =
      std::array<std::array<prometheus::Counter*, kCodes>, kUpstreamKinds>;

  // The profile's series, created if new.
  UpstreamSeries& SeriesOf(absl::string_view profile)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* cache_hits_;
  prometheus::Counter* cache_misses_;
  prometheus::Counter* background_refreshes_;
  prometheus::Counter* abandoned_fetches_;
  prometheus::Counter* short_validity_;
  prometheus::Gauge* waiters_;
  prometheus::Gauge* serving_;
  prometheus::Family<prometheus::Counter>* upstream_;
  Mutex mu_;
  absl::flat_hash_map<std::string, UpstreamSeries> upstream_by_profile_
      ABSL_GUARDED_BY(mu_);
  std::array<prometheus::Histogram*, kUpstreamKinds> upstream_latency_{};
  prometheus::Family<prometheus::Counter>* attempts_;
  // Fleet mode's gauges, once SetFleetStatus made them.
  struct FleetGauges {
    prometheus::Gauge* connected;
    prometheus::Gauge* replicas;
    prometheus::Gauge* unshared;
  };
  std::optional<FleetGauges> fleet_ ABSL_GUARDED_BY(mu_);
  // Fleet mode's key families, once SetFleetKeys made them, and their
  // series by key id.
  prometheus::Family<prometheus::Gauge>* fleet_keys_ ABSL_GUARDED_BY(mu_) =
      nullptr;
  prometheus::Family<prometheus::Gauge>* fleet_active_key_
      ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_map<std::string, prometheus::Gauge*> fleet_key_series_
      ABSL_GUARDED_BY(mu_);
  std::pair<std::string, prometheus::Gauge*> fleet_active_series_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // SERVER_OPS_METRICS_H_
