#include "server/ops/metrics.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

// Every sample line of `text` as series -> value; fails on a malformed one.
std::map<std::string, double> Parse(const std::string& text) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    EXPECT_NE(space, absl::string_view::npos) << line;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
    samples[std::string(line.substr(0, space))] = value;
  }
  return samples;
}

TEST(Metrics, RendersCountersByLabelAndCumulativeHistograms) {
  Metrics metrics;
  metrics.RecordRpc(RpcMethod::kIssue, absl::StatusCode::kOk,
                    absl::Microseconds(300));
  metrics.RecordRpc(RpcMethod::kIssue, absl::StatusCode::kOk,
                    absl::Milliseconds(20));
  metrics.RecordRpc(RpcMethod::kRevoke, absl::StatusCode::kUnavailable,
                    absl::Seconds(20));
  metrics.RecordCacheHit();
  metrics.RecordCacheMiss();
  metrics.RecordCacheMiss();
  metrics.RecordUpstream(UpstreamKind::kToken, absl::StatusCode::kOk,
                         absl::Milliseconds(40));
  metrics.AddWaiters(3);
  metrics.AddWaiters(-1);
  auto s = Parse(metrics.Render({}, absl::Now()));
  EXPECT_EQ(s["tokenservice_rpcs_total{method=\"Issue\",code=\"OK\"}"], 2);
  EXPECT_EQ(
      s["tokenservice_rpcs_total{method=\"Revoke\",code=\"UNAVAILABLE\"}"], 1);
  EXPECT_EQ(
      s.count("tokenservice_rpcs_total{method=\"Issue\",code=\"UNAVAILABLE\"}"),
      0u);
  EXPECT_EQ(s["tokenservice_rpc_duration_seconds_bucket{method=\"Issue\",le="
              "\"0.0005\"}"],
            1);
  EXPECT_EQ(s["tokenservice_rpc_duration_seconds_bucket{method=\"Issue\",le="
              "\"0.025\"}"],
            2);
  EXPECT_EQ(s["tokenservice_rpc_duration_seconds_bucket{method=\"Revoke\",le="
              "\"10\"}"],
            0);
  EXPECT_EQ(s["tokenservice_rpc_duration_seconds_bucket{method=\"Revoke\",le="
              "\"+Inf\"}"],
            1);
  EXPECT_NEAR(s["tokenservice_rpc_duration_seconds_sum{method=\"Issue\"}"],
              0.0203, 1e-9);
  EXPECT_EQ(s["tokenservice_rpc_duration_seconds_count{method=\"Issue\"}"], 2);
  EXPECT_EQ(s["tokenservice_cache_hits_total"], 1);
  EXPECT_EQ(s["tokenservice_cache_misses_total"], 2);
  EXPECT_EQ(
      s["tokenservice_upstream_requests_total{kind=\"token\",code=\"OK\"}"], 1);
  EXPECT_EQ(s["tokenservice_fetch_waiters"], 2);
  EXPECT_EQ(s["tokenservice_short_validity_served_total"], 0);
}

TEST(Metrics, RemainingLifetimeGaugeSkipsRevokedTokens) {
  Metrics metrics;
  const absl::Time now = absl::FromUnixSeconds(1000);
  std::vector<mypos::token::v1::TokenInfo> tokens(2);
  tokens[0].set_fingerprint("0123456789abcdef");
  tokens[0].set_credential("default");
  tokens[0].add_scopes("webhooks");
  tokens[0].mutable_expire_time()->set_seconds(1090);
  tokens[1] = tokens[0];
  tokens[1].set_fingerprint("fedcba9876543210");
  tokens[1].set_state(mypos::token::v1::TOKEN_STATE_REVOKED);
  auto s = Parse(metrics.Render(tokens, now));
  EXPECT_EQ(s["tokenservice_token_remaining_seconds{profile=\"default\","
              "scopes=\"webhooks\",fingerprint=\"0123456789abcdef\"}"],
            90);
  for (const auto& [series, value] : s) {
    EXPECT_EQ(series.find("fedcba9876543210"), std::string::npos);
  }
}

TEST(Metrics, RemainingLifetimeGaugeSkipsExpiredTokens) {
  // Listed with negative seconds before, which fires "little validity
  // left" alerts for keys nobody uses any more.
  Metrics metrics;
  std::vector<mypos::token::v1::TokenInfo> tokens(1);
  tokens[0].set_fingerprint("0123456789abcdef");
  tokens[0].set_credential("default");
  tokens[0].mutable_expire_time()->set_seconds(999);
  const std::string text = metrics.Render(tokens, absl::FromUnixSeconds(1000));
  EXPECT_EQ(text.find("0123456789abcdef"), std::string::npos) << text;
}

}  // namespace
}  // namespace tokenservice
