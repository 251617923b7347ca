#include "server/ops/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/ops/log.h"

namespace tokenservice {
namespace {

constexpr const char* kMethods[kRpcMethods] = {
    "Issue", "Revoke", "GetTokenInfo", "ListTokens", "ExchangeGrant"};
constexpr const char* kKinds[kUpstreamKinds] = {"token", "revoke", "grant"};

void Header(absl::string_view name, absl::string_view type,
            absl::string_view help, std::string* out) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type,
                  "\n");
}

// Appends "name{labels} value" for every non-zero code.
void RenderByCode(absl::string_view name, absl::string_view labels,
                  const std::array<std::atomic<uint64_t>, 17>& counts,
                  std::string* out) {
  for (int code = 0; code < 17; ++code) {
    const uint64_t n = counts[code].load(std::memory_order_relaxed);
    if (n == 0) continue;
    absl::StrAppend(
        out, name, "{", labels, ",code=\"",
        absl::StatusCodeToString(static_cast<absl::StatusCode>(code)), "\"} ",
        n, "\n");
  }
}

}  // namespace

void LatencyHistogram::Observe(absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(std::max<int64_t>(0, absl::ToInt64Nanoseconds(latency)),
                       std::memory_order_relaxed);
}

void LatencyHistogram::Render(absl::string_view name, absl::string_view labels,
                              std::string* out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    absl::StrAppend(out, name, "_bucket{", labels, ",le=\"",
                    absl::StrFormat("%g", kBounds[i]), "\"} ", cumulative,
                    "\n");
  }
  absl::StrAppend(out, name, "_bucket{", labels, ",le=\"+Inf\"} ", count(),
                  "\n");
  absl::StrAppend(
      out, name, "_sum{", labels, "} ",
      absl::StrFormat("%.9f", sum_nanos_.load(std::memory_order_relaxed) / 1e9),
      "\n", name, "_count{", labels, "} ", count(), "\n");
}

const char* RpcMethodName(RpcMethod method) {
  return kMethods[static_cast<int>(method)];
}

void Metrics::RecordRpc(RpcMethod method, absl::StatusCode code,
                        absl::Duration latency) {
  const int m = static_cast<int>(method);
  const int c = std::min(static_cast<int>(code), kCodes - 1);
  rpcs_[m][c].fetch_add(1, std::memory_order_relaxed);
  rpc_latency_[m].Observe(latency);
}

void Metrics::RecordUpstream(UpstreamKind kind, absl::StatusCode code,
                             absl::Duration latency) {
  const int k = static_cast<int>(kind);
  const int c = std::min(static_cast<int>(code), kCodes - 1);
  upstream_[k][c].fetch_add(1, std::memory_order_relaxed);
  upstream_latency_[k].Observe(latency);
}

std::string Metrics::Render(
    const std::vector<mypos::token::v1::TokenInfo>& tokens,
    absl::Time now) const {
  std::string out;
  Header("tokenservice_rpcs_total", "counter",
         "RPCs handled, by method and gRPC code.", &out);
  for (int m = 0; m < kRpcMethods; ++m) {
    RenderByCode("tokenservice_rpcs_total",
                 absl::StrCat("method=\"", kMethods[m], "\""), rpcs_[m], &out);
  }
  Header("tokenservice_rpc_duration_seconds", "histogram",
         "Time from receiving an RPC to finishing it.", &out);
  for (int m = 0; m < kRpcMethods; ++m) {
    rpc_latency_[m].Render("tokenservice_rpc_duration_seconds",
                           absl::StrCat("method=\"", kMethods[m], "\""), &out);
  }
  auto counter = [&out](absl::string_view name, absl::string_view help,
                        const std::atomic<uint64_t>& value) {
    Header(name, "counter", help, &out);
    absl::StrAppend(&out, name, " ", value.load(std::memory_order_relaxed),
                    "\n");
  };
  counter("tokenservice_cache_hits_total",
          "Issue calls answered from the cache.", cache_hits_);
  counter("tokenservice_cache_misses_total",
          "Issue calls that waited for a fetch from myPOS.", cache_misses_);
  counter("tokenservice_background_refreshes_total",
          "Refreshes started ahead of expiry while the token stayed in "
          "service.",
          background_refreshes_);
  counter("tokenservice_upstream_fetches_abandoned_total",
          "Token fetches not sent to myPOS because every caller waiting for "
          "them had left (cancelled or past its deadline) first.",
          abandoned_fetches_);
  counter("tokenservice_short_validity_served_total",
          "Tokens handed out with less validity than the caller needed "
          "(must stay 0).",
          short_validity_);
  Header("tokenservice_fetch_waiters", "gauge",
         "Callers waiting on a shared fetch from myPOS.", &out);
  absl::StrAppend(&out, "tokenservice_fetch_waiters ",
                  waiters_.load(std::memory_order_relaxed), "\n");
  Header("tokenservice_upstream_requests_total", "counter",
         "Requests to myPOS, by kind and outcome (gRPC code).", &out);
  for (int k = 0; k < kUpstreamKinds; ++k) {
    RenderByCode("tokenservice_upstream_requests_total",
                 absl::StrCat("kind=\"", kKinds[k], "\""), upstream_[k], &out);
  }
  Header("tokenservice_upstream_duration_seconds", "histogram",
         "Duration of requests to myPOS, retries included.", &out);
  for (int k = 0; k < kUpstreamKinds; ++k) {
    upstream_latency_[k].Render("tokenservice_upstream_duration_seconds",
                                absl::StrCat("kind=\"", kKinds[k], "\""), &out);
  }
  Header("tokenservice_token_remaining_seconds", "gauge",
         "Validity left of each cached token.", &out);
  for (const auto& token : tokens) {
    if (token.state() == mypos::token::v1::TOKEN_STATE_REVOKED) continue;
    const absl::Duration left =
        absl::FromUnixSeconds(token.expire_time().seconds()) +
        absl::Nanoseconds(token.expire_time().nanos()) - now;
    // An expired token is no longer served: no gauge, so that alerts on
    // little validity left fire for tokens in use only.
    if (left <= absl::ZeroDuration()) continue;
    absl::StrAppend(&out, "tokenservice_token_remaining_seconds{profile=",
                    JsonQuote(token.credential()),
                    ",scopes=", JsonQuote(absl::StrJoin(token.scopes(), " ")),
                    ",fingerprint=\"", token.fingerprint(), "\"} ",
                    absl::StrFormat("%.3f", absl::ToDoubleSeconds(left)), "\n");
  }
  return out;
}

}  // namespace tokenservice
