#include "server/ops/metrics.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/version.h"
#include "prometheus/text_serializer.h"
#include "server/ops/error_reason.h"
#include "server/ops/process_metrics.h"

namespace tokenservice {
namespace {

constexpr const char* kKinds[kUpstreamKinds] = {"token", "revoke", "grant"};
constexpr const char* kEndpoints[kUpstreamEndpoints] = {"token", "revoke"};

prometheus::Counter* AddCounter(prometheus::Registry& registry,
                                const std::string& name,
                                const std::string& help) {
  return &prometheus::BuildCounter()
              .Name(name)
              .Help(help)
              .Register(registry)
              .Add({});
}

// "2xx" .. "5xx" for a reply, "none" when no reply arrived.
std::string StatusClass(int http_status) {
  if (http_status < 100 || http_status > 599) return "none";
  return absl::StrCat(http_status / 100, "xx");
}

// The outcome as a label value: "OK" for success, else its ErrorInfo reason
// if it is one of ours (a fixed set), "UNKNOWN" if it has none and "OTHER"
// if it has another (from a transport not of ours), so that the label stays
// bounded.
std::string ReasonLabel(const absl::Status& outcome) {
  if (outcome.ok()) return "OK";
  const std::string reason = ErrorReason(outcome);
  if (reason.empty()) return "UNKNOWN";
  const bool ours = reason.size() <= 40 &&
                    std::all_of(reason.begin(), reason.end(), [](char c) {
                      return absl::ascii_isupper(c) || c == '_';
                    });
  return ours ? reason : "OTHER";
}

// tokenservice_token_expiry_timestamp_seconds: per profile and scope set,
// the latest expiry among the tokens in service (normally there is one).
prometheus::MetricFamily TokenExpiry(
    const std::vector<mypos::token::v1::TokenInfo>& tokens, absl::Time now) {
  std::map<std::pair<std::string, std::string>, double> latest;
  for (const auto& token : tokens) {
    if (token.state() == mypos::token::v1::TOKEN_STATE_REVOKED) continue;
    const absl::Time expiry =
        absl::FromUnixSeconds(token.expire_time().seconds()) +
        absl::Nanoseconds(token.expire_time().nanos());
    // An expired token is no longer served: no series, so that alerts on
    // little validity left fire for keys in use only.
    if (expiry <= now) continue;
    double& value =
        latest[{token.credential(), absl::StrJoin(token.scopes(), " ")}];
    value = std::max(value, absl::ToDoubleSeconds(expiry - absl::UnixEpoch()));
  }
  prometheus::MetricFamily family;
  family.name = "tokenservice_token_expiry_timestamp_seconds";
  family.help =
      "When the latest token in service for a credential profile and scope "
      "set expires (Unix time).";
  family.type = prometheus::MetricType::Gauge;
  for (const auto& [key, value] : latest) {
    prometheus::ClientMetric metric;
    metric.label = {{"profile", key.first}, {"scopes", key.second}};
    metric.gauge.value = value;
    family.metric.push_back(std::move(metric));
  }
  return family;
}

prometheus::MetricFamily BuildInfo() {
  prometheus::MetricFamily family;
  family.name = "tokenservice_build_info";
  family.help = "Always 1; the labels say which build is running.";
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric metric;
  metric.label = {{"commit", std::string(BuildCommit())},
                  {"version", std::string(kVersion)}};
  metric.gauge.value = 1;
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{
          0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
          0.0025,   0.005,   0.01,   0.025,   0.05,   0.1,
          0.25,     0.5,     1,      2.5,     5,      10};
  return *kBuckets;
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  cache_hits_ = AddCounter(r, "tokenservice_cache_hits_total",
                           "Issue calls answered from the cache.");
  cache_misses_ = AddCounter(r, "tokenservice_cache_misses_total",
                             "Issue calls that waited for a fetch from myPOS.");
  background_refreshes_ = AddCounter(
      r, "tokenservice_background_refreshes_total",
      "Refreshes started ahead of expiry while the token stayed in service.");
  abandoned_fetches_ = AddCounter(
      r, "tokenservice_upstream_fetches_abandoned_total",
      "Token fetches not sent to myPOS because every caller waiting for them "
      "had left (cancelled or past its deadline) first.");
  short_validity_ = AddCounter(
      r, "tokenservice_short_validity_served_total",
      "Tokens handed out with less validity than the caller needed (must "
      "stay 0).");
  waiters_ = &prometheus::BuildGauge()
                  .Name("tokenservice_fetch_waiters")
                  .Help("Callers waiting on a shared fetch from myPOS.")
                  .Register(r)
                  .Add({});
  serving_ = &prometheus::BuildGauge()
                  .Name("tokenservice_serving")
                  .Help(
                      "1 while the server reports SERVING on its health "
                      "checks; 0 before it starts and once it drains.")
                  .Register(r)
                  .Add({});
  upstream_ = &prometheus::BuildCounter()
                   .Name("tokenservice_upstream_requests_total")
                   .Help(
                       "Calls to myPOS as the broker made them (retries "
                       "included), by credential profile, kind and outcome "
                       "(gRPC code).")
                   .Register(r);
  auto& upstream_latency =
      prometheus::BuildHistogram()
          .Name("tokenservice_upstream_duration_seconds")
          .Help("Duration of calls to myPOS, retries included.")
          .Register(r);
  for (int k = 0; k < kUpstreamKinds; ++k) {
    upstream_latency_[k] =
        &upstream_latency.Add({{"kind", kKinds[k]}}, LatencyBuckets());
  }
  attempts_ = &prometheus::BuildCounter()
                   .Name("tokenservice_upstream_http_attempts_total")
                   .Help(
                       "HTTP requests sent to myPOS (each retry is one), by "
                       "upstream endpoint, HTTP status class (none: no "
                       "reply) and ErrorInfo reason (OK: succeeded).")
                   .Register(r);
  // Success and the common failures exist at zero from the start, so that
  // a failure ratio has a denominator and a first failure is an increase.
  const std::pair<const char*, const char*> kCommon[] = {
      {"2xx", "OK"},
      {"4xx", kReasonUpstreamRateLimited},
      {"5xx", kReasonUpstreamUnavailable},
      {"none", kReasonUpstreamUnavailable},
      {"none", kReasonDeadlineExceeded},
      {"none", kReasonUpstreamTlsFailed}};
  for (const char* endpoint : kEndpoints) {
    for (const auto& [status_class, reason] : kCommon) {
      attempts_->Add({{"upstream_endpoint", endpoint},
                      {"status_class", status_class},
                      {"reason", reason}});
    }
  }
}

Metrics::UpstreamSeries& Metrics::SeriesOf(absl::string_view profile) {
  auto [it, added] = upstream_by_profile_.try_emplace(profile);
  if (added) {
    for (int k = 0; k < kUpstreamKinds; ++k) {
      for (int c = 0; c < kCodes; ++c) {
        it->second[k][c] = &upstream_->Add(
            {{"profile", std::string(profile)},
             {"kind", kKinds[k]},
             {"code",
              absl::StatusCodeToString(static_cast<absl::StatusCode>(c))}});
      }
    }
  }
  return it->second;
}

void Metrics::AddProfile(absl::string_view profile) {
  MutexLock lock(&mu_);
  SeriesOf(profile);
}

void Metrics::RecordUpstream(UpstreamKind kind, absl::string_view profile,
                             absl::StatusCode code, absl::Duration latency) {
  const int k = static_cast<int>(kind);
  const int c = std::clamp(static_cast<int>(code), 0, kCodes - 1);
  prometheus::Counter* counter;
  {
    MutexLock lock(&mu_);
    counter = SeriesOf(profile)[k][c];
  }
  counter->Increment();
  upstream_latency_[k]->Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::RecordUpstreamAttempt(UpstreamEndpoint endpoint, int http_status,
                                    const absl::Status& outcome) {
  // Family::Add returns the series these labels already have.
  attempts_
      ->Add({{"upstream_endpoint", kEndpoints[static_cast<int>(endpoint)]},
             {"status_class", StatusClass(http_status)},
             {"reason", ReasonLabel(outcome)}})
      .Increment();
}

void Metrics::SetFleetStatus(bool connected, int replicas, size_t unshared) {
  MutexLock lock(&mu_);
  if (!fleet_.has_value()) {
    auto gauge = [this](const char* name, const char* help) {
      return &prometheus::BuildGauge()
                  .Name(name)
                  .Help(help)
                  .Register(*registry_)
                  .Add({});
    };
    fleet_ = FleetGauges{
        gauge("tokenservice_fleet_connected",
              "1 while this replica watches the fleet's revocations in "
              "etcd; 0: degraded (etcd unreachable)."),
        gauge("tokenservice_fleet_replicas",
              "Live replicas this one sees in etcd, itself included."),
        gauge("tokenservice_fleet_unshared_revocations",
              "Revocations made here that etcd has not received yet.")};
  }
  fleet_->connected->Set(connected ? 1 : 0);
  fleet_->replicas->Set(replicas);
  fleet_->unshared->Set(static_cast<double>(unshared));
}

void Metrics::SetFleetKeys(const std::vector<std::string>& ids,
                           const std::string& active) {
  MutexLock lock(&mu_);
  if (fleet_keys_ == nullptr) {
    fleet_keys_ = &prometheus::BuildGauge()
                       .Name("tokenservice_fleet_key")
                       .Help(
                           "1 for each key this replica has loaded from "
                           "--fleet_keys_dir, by key id.")
                       .Register(*registry_);
    fleet_active_key_ =
        &prometheus::BuildGauge()
             .Name("tokenservice_fleet_active_key")
             .Help("1 for the key this replica seals new tokens with.")
             .Register(*registry_);
  }
  for (auto it = fleet_key_series_.begin(); it != fleet_key_series_.end();) {
    if (std::find(ids.begin(), ids.end(), it->first) == ids.end()) {
      fleet_keys_->Remove(it->second);
      fleet_key_series_.erase(it++);
    } else {
      ++it;
    }
  }
  for (const std::string& id : ids) {
    if (!fleet_key_series_.contains(id)) {
      prometheus::Gauge* gauge = &fleet_keys_->Add({{"key_id", id}});
      gauge->Set(1);
      fleet_key_series_[id] = gauge;
    }
  }
  if (fleet_active_series_.first != active) {
    if (fleet_active_series_.second != nullptr) {
      fleet_active_key_->Remove(fleet_active_series_.second);
    }
    prometheus::Gauge* gauge = &fleet_active_key_->Add({{"key_id", active}});
    gauge->Set(1);
    fleet_active_series_ = {active, gauge};
  }
}

std::string Metrics::Render(
    const std::vector<mypos::token::v1::TokenInfo>& tokens,
    absl::Time now) const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  families.push_back(TokenExpiry(tokens, now));
  for (auto& family : CollectProcessMetrics()) {
    families.push_back(std::move(family));
  }
  families.push_back(BuildInfo());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tokenservice
