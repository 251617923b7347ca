#include "server/ops/metrics.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/version.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"

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

// The cumulative count of the `name` histogram's bucket with bound `le`
// (as a number: the text's spelling of it is the serializer's business).
double Bucket(const std::map<std::string, double>& s, const std::string& name,
              const std::string& labels, double le) {
  const std::string prefix = absl::StrCat(name, "_bucket{", labels, ",le=\"");
  for (const auto& [series, value] : s) {
    if (series.rfind(prefix, 0) != 0) continue;
    double bound = 0;
    std::string text = series.substr(prefix.size());
    text.resize(text.size() - 2);  // the closing "}
    if (absl::SimpleAtod(text, &bound) && bound == le) return value;
  }
  ADD_FAILURE() << "no bucket le=" << le << " for " << prefix;
  return -1;
}

TEST(Metrics, RendersCountersGaugesAndCumulativeHistograms) {
  Metrics metrics;
  metrics.RecordCacheHit();
  metrics.RecordCacheMiss();
  metrics.RecordCacheMiss();
  metrics.RecordUpstream(UpstreamKind::kToken, "default", absl::StatusCode::kOk,
                         absl::Microseconds(40));
  metrics.RecordUpstream(UpstreamKind::kToken, "default", absl::StatusCode::kOk,
                         absl::Milliseconds(20));
  metrics.RecordUpstream(UpstreamKind::kRevoke, "default",
                         absl::StatusCode::kUnavailable, absl::Seconds(20));
  metrics.AddWaiters(3);
  metrics.AddWaiters(-1);
  auto s = Parse(metrics.Render({}, absl::Now()));
  EXPECT_EQ(s["tokenservice_cache_hits_total"], 1);
  EXPECT_EQ(s["tokenservice_cache_misses_total"], 2);
  EXPECT_EQ(s["tokenservice_fetch_waiters"], 2);
  EXPECT_EQ(s["tokenservice_short_validity_served_total"], 0);
  EXPECT_EQ(s["tokenservice_upstream_requests_total{code=\"OK\",kind=\"token\","
              "profile=\"default\"}"],
            2);
  EXPECT_EQ(s["tokenservice_upstream_requests_total{code=\"UNAVAILABLE\","
              "kind=\"revoke\",profile=\"default\"}"],
            1);
  const std::string token = "kind=\"token\"";
  const std::string name = "tokenservice_upstream_duration_seconds";
  // Sub-millisecond resolution: 40 us is above 25 us and within 50 us.
  EXPECT_EQ(Bucket(s, name, token, 0.000025), 0);
  EXPECT_EQ(Bucket(s, name, token, 0.00005), 1);
  EXPECT_EQ(Bucket(s, name, token, 0.025), 2);
  EXPECT_EQ(Bucket(s, name, "kind=\"revoke\"", 10), 0);
  EXPECT_EQ(s[name + "_bucket{kind=\"revoke\",le=\"+Inf\"}"], 1);
  EXPECT_NEAR(s[name + "_sum{kind=\"token\"}"], 0.02004, 1e-9);
  EXPECT_EQ(s[name + "_count{kind=\"token\"}"], 2);
}

TEST(Metrics, ANamedProfileHasEveryUpstreamSeriesAtZero) {
  // rate() and alerts need a 0 before the first failure, not a gap.
  Metrics metrics;
  metrics.AddProfile("shop");
  auto s = Parse(metrics.Render({}, absl::Now()));
  for (const char* kind : {"token", "revoke", "grant"}) {
    for (const char* code : {"OK", "UNAVAILABLE", "FAILED_PRECONDITION"}) {
      const std::string series =
          absl::StrCat("tokenservice_upstream_requests_total{code=\"", code,
                       "\",kind=\"", kind, "\",profile=\"shop\"}");
      ASSERT_EQ(s.count(series), 1u) << series;
      EXPECT_EQ(s[series], 0);
    }
  }
}

TEST(Metrics, AProfileFirstNamedByARequestGetsItsWholeBlock) {
  Metrics metrics;
  metrics.RecordUpstream(UpstreamKind::kGrant, "late",
                         absl::StatusCode::kUnavailable, absl::Seconds(1));
  auto s = Parse(metrics.Render({}, absl::Now()));
  const std::string name = "tokenservice_upstream_requests_total";
  EXPECT_EQ(s[name + "{code=\"UNAVAILABLE\",kind=\"grant\",profile=\"late\"}"],
            1);
  ASSERT_EQ(s.count(name + "{code=\"OK\",kind=\"token\",profile=\"late\"}"),
            1u);
  // No profile was named for "default": none of its series exist.
  EXPECT_EQ(s.count(name + "{code=\"OK\",kind=\"token\",profile=\"default\"}"),
            0u);
}

TEST(Metrics, SuccessAndCommonFailuresOfEachEndpointExistFromTheStart) {
  // A failure ratio needs a denominator, and a first failure must be an
  // increase from 0 rather than a series that appears at 1.
  auto s = Parse(Metrics().Render({}, absl::Now()));
  const std::string name = "tokenservice_upstream_http_attempts_total";
  for (const char* endpoint : {"token", "revoke"}) {
    for (const char* labels :
         {"reason=\"OK\",status_class=\"2xx\"",
          "reason=\"UPSTREAM_RATE_LIMITED\",status_class=\"4xx\"",
          "reason=\"UPSTREAM_UNAVAILABLE\",status_class=\"5xx\"",
          "reason=\"UPSTREAM_UNAVAILABLE\",status_class=\"none\"",
          "reason=\"DEADLINE_EXCEEDED\",status_class=\"none\""}) {
      const std::string series = absl::StrCat(
          name, "{", labels, ",upstream_endpoint=\"", endpoint, "\"}");
      ASSERT_EQ(s.count(series), 1u) << series;
      EXPECT_EQ(s[series], 0);
    }
  }
}

TEST(Metrics, LatencyBucketsResolveTheCacheHitPath) {
  // Cache hits take tens to hundreds of microseconds: several bounds must
  // lie below a millisecond, the first well below a hit.
  const auto& bounds = LatencyBuckets();
  ASSERT_FALSE(bounds.empty());
  EXPECT_LE(bounds.front(), 0.000025);
  EXPECT_GE(std::count_if(bounds.begin(), bounds.end(),
                          [](double b) { return b < 0.001; }),
            5);
  EXPECT_GE(bounds.back(), 10);
  EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
}

TEST(Metrics, CountsHttpAttemptsByEndpointStatusClassAndReason) {
  Metrics metrics;
  const absl::Status limited =
      WithReason(absl::UnavailableError("429"), kReasonUpstreamRateLimited);
  metrics.RecordUpstreamAttempt(UpstreamEndpoint::kToken, 429, limited);
  metrics.RecordUpstreamAttempt(UpstreamEndpoint::kToken, 429, limited);
  metrics.RecordUpstreamAttempt(UpstreamEndpoint::kToken, 200,
                                absl::OkStatus());
  metrics.RecordUpstreamAttempt(
      UpstreamEndpoint::kRevoke, 0,
      WithReason(absl::DeadlineExceededError("slow"), kReasonDeadlineExceeded));
  metrics.RecordUpstreamAttempt(UpstreamEndpoint::kRevoke, 503,
                                WithReason(absl::UnavailableError("503"),
                                           "a reason \"of someone else's\""));
  // A failure with no reason at all is no success.
  metrics.RecordUpstreamAttempt(UpstreamEndpoint::kRevoke, 500,
                                absl::InternalError("no reason"));
  auto s = Parse(metrics.Render({}, absl::Now()));
  const std::string name = "tokenservice_upstream_http_attempts_total";
  EXPECT_EQ(s[name + "{reason=\"UPSTREAM_RATE_LIMITED\",status_class=\"4xx\","
                     "upstream_endpoint=\"token\"}"],
            2);
  EXPECT_EQ(s[name + "{reason=\"OK\",status_class=\"2xx\","
                     "upstream_endpoint=\"token\"}"],
            1);
  EXPECT_EQ(s[name + "{reason=\"DEADLINE_EXCEEDED\",status_class=\"none\","
                     "upstream_endpoint=\"revoke\"}"],
            1);
  // A reason not of ours does not become a label value.
  EXPECT_EQ(s[name + "{reason=\"OTHER\",status_class=\"5xx\","
                     "upstream_endpoint=\"revoke\"}"],
            1);
  EXPECT_EQ(s[name + "{reason=\"UNKNOWN\",status_class=\"5xx\","
                     "upstream_endpoint=\"revoke\"}"],
            1);
  EXPECT_EQ(s[name + "{reason=\"OK\",status_class=\"2xx\","
                     "upstream_endpoint=\"revoke\"}"],
            0);
}

TEST(Metrics, ExpiryTimestampPerProfileAndScopesWithNoFingerprint) {
  Metrics metrics;
  const absl::Time now = absl::FromUnixSeconds(1000);
  std::vector<mypos::token::v1::TokenInfo> tokens(4);
  tokens[0].set_fingerprint("0123456789abcdef");
  tokens[0].set_credential("default");
  tokens[0].add_scopes("webhooks");
  tokens[0].add_scopes("payments");
  tokens[0].mutable_expire_time()->set_seconds(1090);
  // The same key refreshed: its later expiry is the one that counts.
  tokens[1] = tokens[0];
  tokens[1].set_fingerprint("1123456789abcdef");
  tokens[1].mutable_expire_time()->set_seconds(4600);
  // Revoked and expired tokens are not in service: no series of theirs.
  tokens[2] = tokens[0];
  tokens[2].set_credential("revoked");
  tokens[2].set_state(mypos::token::v1::TOKEN_STATE_REVOKED);
  tokens[3] = tokens[0];
  tokens[3].set_credential("expired");
  tokens[3].mutable_expire_time()->set_seconds(999);
  const std::string text = metrics.Render(tokens, now);
  auto s = Parse(text);
  EXPECT_EQ(s["tokenservice_token_expiry_timestamp_seconds{profile=\"default\","
              "scopes=\"webhooks payments\"}"],
            4600);
  for (const auto& [series, value] : s) {
    EXPECT_EQ(series.find("revoked"), std::string::npos) << series;
    EXPECT_EQ(series.find("expired"), std::string::npos) << series;
  }
  EXPECT_EQ(text.find("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(text.find("fingerprint"), std::string::npos);
}

TEST(Metrics, BuildInfoAndProcessFamilies) {
  auto s = Parse(Metrics().Render({}, absl::Now()));
  EXPECT_EQ(s[absl::StrCat("tokenservice_build_info{commit=\"", BuildCommit(),
                           "\",version=\"", kVersion, "\"}")],
            1);
  EXPECT_GT(s["process_resident_memory_bytes"], 0);
  EXPECT_GT(s["process_open_fds"], 0);
  EXPECT_EQ(s.count("process_cpu_seconds_total"), 1u);
}

// Outside a fleet there are no fleet families; in one, each scrape shows
// the status the server set last.
TEST(Metrics, FleetFamiliesExistOnlyInAFleet) {
  Metrics metrics;
  EXPECT_EQ(metrics.Render({}, absl::Now()).find("tokenservice_fleet_"),
            std::string::npos);
  metrics.SetFleetStatus(/*connected=*/true, /*replicas=*/3, /*unshared=*/0);
  auto s = Parse(metrics.Render({}, absl::Now()));
  EXPECT_EQ(s["tokenservice_fleet_connected"], 1);
  EXPECT_EQ(s["tokenservice_fleet_replicas"], 3);
  EXPECT_EQ(s["tokenservice_fleet_unshared_revocations"], 0);
  metrics.SetFleetStatus(false, 3, 2);
  s = Parse(metrics.Render({}, absl::Now()));
  EXPECT_EQ(s["tokenservice_fleet_connected"], 0);
  EXPECT_EQ(s["tokenservice_fleet_unshared_revocations"], 2);
}

}  // namespace
}  // namespace tokenservice
