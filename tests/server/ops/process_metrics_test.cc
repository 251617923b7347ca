#include "server/ops/process_metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

// Each family's one value, by name; fails when a family has no series.
std::map<std::string, double> Values() {
  std::map<std::string, double> values;
  for (const auto& family : CollectProcessMetrics()) {
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    if (family.metric.empty()) continue;
    values[family.name] = family.type == prometheus::MetricType::Counter
                              ? family.metric[0].counter.value
                              : family.metric[0].gauge.value;
  }
  return values;
}

TEST(ProcessMetrics, ReportsThisProcess) {
  auto v = Values();
  EXPECT_EQ(v.size(), 6u);
  EXPECT_GT(v["process_resident_memory_bytes"], 1 << 20);
  EXPECT_GE(v["process_virtual_memory_bytes"],
            v["process_resident_memory_bytes"]);
  EXPECT_GE(v["process_cpu_seconds_total"], 0);
  EXPECT_GE(v["process_max_fds"], v["process_open_fds"]);
  // Started before now, and not before this machine's first year of Unix.
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_LE(v["process_start_time_seconds"], now + 1);
  EXPECT_GT(v["process_start_time_seconds"], now - 24 * 3600);
}

TEST(ProcessMetrics, CountsOpenFileDescriptors) {
  const double before = Values()["process_open_fds"];
  const int fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Values()["process_open_fds"], before + 1);
  close(fd);
  EXPECT_EQ(Values()["process_open_fds"], before);
}

}  // namespace
}  // namespace tokenservice
