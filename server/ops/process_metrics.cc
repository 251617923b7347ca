#include "server/ops/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace tokenservice {
namespace {

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fields of /proc/self/stat after the command name (which may hold
// spaces and parentheses, so it is skipped up to the last ')'): index 0 is
// field 3, the state.
std::vector<std::string> StatFields() {
  std::optional<std::string> stat = ReadFile("/proc/self/stat");
  if (!stat.has_value()) return {};
  const size_t end = stat->rfind(')');
  if (end == std::string::npos) return {};
  return absl::StrSplit(absl::string_view(*stat).substr(end + 1), ' ',
                        absl::SkipEmpty());
}

// Seconds since the epoch at which the system booted ("btime" in
// /proc/stat).
std::optional<double> BootTime() {
  std::optional<std::string> stat = ReadFile("/proc/stat");
  if (!stat.has_value()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    double seconds = 0;
    if (absl::SimpleAtod(line, &seconds)) return seconds;
  }
  return std::nullopt;
}

std::optional<double> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory's own descriptor
}

prometheus::MetricFamily Family(const char* name, const char* help,
                                prometheus::MetricType type,
                                std::optional<double> value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  if (value.has_value()) {
    prometheus::ClientMetric metric;
    if (type == prometheus::MetricType::Counter) {
      metric.counter.value = *value;
    } else {
      metric.gauge.value = *value;
    }
    family.metric.push_back(std::move(metric));
  }
  return family;
}

std::optional<double> Field(const std::vector<std::string>& fields,
                            size_t field_number) {
  // field_number as proc(5) counts them, from 1; fields[0] is field 3.
  if (field_number < 3 || fields.size() <= field_number - 3) {
    return std::nullopt;
  }
  double value = 0;
  if (!absl::SimpleAtod(fields[field_number - 3], &value)) return std::nullopt;
  return value;
}

}  // namespace

std::vector<prometheus::MetricFamily> CollectProcessMetrics() {
  const std::vector<std::string> fields = StatFields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::optional<double> cpu;
  if (auto utime = Field(fields, 14), stime = Field(fields, 15);
      utime.has_value() && stime.has_value() && ticks > 0) {
    cpu = (*utime + *stime) / ticks;
  }
  std::optional<double> start;
  if (auto started = Field(fields, 22), boot = BootTime();
      started.has_value() && boot.has_value() && ticks > 0) {
    start = *boot + *started / ticks;
  }
  std::optional<double> rss;
  if (auto pages = Field(fields, 24); pages.has_value()) rss = *pages * page;
  std::optional<double> max_fds;
  if (rlimit limit{}; getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
                      limit.rlim_cur != RLIM_INFINITY) {
    max_fds = static_cast<double>(limit.rlim_cur);
  }
  using prometheus::MetricType;
  return {
      Family("process_cpu_seconds_total",
             "Total user and system CPU time spent in seconds.",
             MetricType::Counter, cpu),
      Family("process_resident_memory_bytes", "Resident memory size in bytes.",
             MetricType::Gauge, rss),
      Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
             MetricType::Gauge, Field(fields, 23)),
      Family("process_open_fds", "Number of open file descriptors.",
             MetricType::Gauge, OpenFds()),
      Family("process_max_fds", "Maximum number of open file descriptors.",
             MetricType::Gauge, max_fds),
      Family("process_start_time_seconds",
             "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, start),
  };
}

}  // namespace tokenservice
